// Response (Fetch standard): made by guest code, by fetch() from the host's answer, or for a
// data: URL; the body is body.js's.
import { load } from './shared.js'
import { internal, tag, illegal, dictionary, inspectSymbol } from './util.js'
import { Headers, headersFromHost, setGuard, copyHeaders, defaultHeader } from './headers.js'
import { newBody, extractBody, cloneBody, bodyUsed, mixinBody, RemoteBody } from './body.js'

const kResponse = internal('response')

const NULL_BODY_STATUS = [101, 103, 204, 205, 304]
const REDIRECT_STATUS = [301, 302, 303, 307, 308]
const REASON_PHRASE = /^[\t\x20-\x7e\x80-\xff]*$/

function responseState(r) {
  const s = r[kResponse]
  if (!s) throw illegal()
  return s
}

/** "Initialize a response" with an extracted body and its content type. */
function initResponse(response, init, extracted) {
  const i = dictionary(init, 'init')
  const status = i.status === undefined ? 200 : Math.trunc(Number(i.status))
  if (!(status >= 200 && status <= 599)) {
    throw new RangeError(`init["status"] must be in the range of 200 to 599, inclusive.`)
  }
  const statusText = i.statusText === undefined ? '' : String(i.statusText)
  if (statusText !== '' && !REASON_PHRASE.test(statusText)) throw new TypeError('Invalid statusText')
  const headers = new Headers(i.headers)
  setGuard(headers, 'response')
  const state = { type: 'default', status, statusText, headers, url: '', redirected: false, body: newBody() }
  if (extracted) {
    if (NULL_BODY_STATUS.includes(status))
      throw new TypeError(`Response with null body status ${status} cannot have body`)
    state.body = extracted.body
    if (extracted.type) defaultHeader(headers, 'content-type', extracted.type)
  }
  response[kResponse] = state
}

export class Response {
  constructor(body = null, init = undefined) {
    initResponse(this, init, body === null || body === undefined ? null : extractBody(body))
  }

  static error() {
    const r = Object.create(Response.prototype)
    r[kResponse] = {
      type: 'error',
      status: 0,
      statusText: '',
      headers: headersFromHost([], 'immutable'),
      url: '',
      redirected: false,
      body: newBody(),
    }
    return r
  }

  static redirect(url, status = 302) {
    const target = new (load('url').URL)(String(url))
    status = Math.trunc(Number(status))
    if (!REDIRECT_STATUS.includes(status)) throw new RangeError(`Invalid redirect status ${status}`)
    const r = new Response(null, { status: 200 })
    const s = r[kResponse]
    s.status = status
    s.headers.set('location', target.href)
    setGuard(s.headers, 'immutable')
    return r
  }

  static json(data, init = undefined) {
    const text = JSON.stringify(data)
    if (text === undefined) throw new TypeError('Value is not JSON serializable')
    const r = Object.create(Response.prototype)
    const extracted = extractBody(text)
    extracted.type = 'application/json'
    initResponse(r, init, extracted)
    return r
  }

  get type() {
    return responseState(this).type
  }
  get url() {
    return responseState(this).url
  }
  get redirected() {
    return responseState(this).redirected
  }
  get status() {
    return responseState(this).status
  }
  get ok() {
    const s = responseState(this).status
    return s >= 200 && s <= 299
  }
  get statusText() {
    return responseState(this).statusText
  }
  get headers() {
    return responseState(this).headers
  }

  clone() {
    const s = responseState(this)
    const body = cloneBody(s.body)
    const r = Object.create(Response.prototype)
    r[kResponse] = { ...s, headers: copyHeaders(s.headers), body }
    return r
  }

  [inspectSymbol](depth, options, inspect) {
    const s = responseState(this)
    return `Response ${inspect({ status: s.status, statusText: s.statusText, headers: s.headers, body: s.body.present ? '<body>' : null, bodyUsed: bodyUsed(s.body), ok: this.ok, redirected: s.redirected, type: s.type, url: s.url })}`
  }
}
tag(Response, 'Response')
mixinBody(Response, kResponse)

/** The Response of a guest fetch, from the host's answer. */
export function fetchedResponse(meta, signal) {
  const body = newBody()
  if (meta.bodyId !== null) {
    body.present = true
    body.remote = new RemoteBody(meta.bodyId, signal)
  }
  const r = Object.create(Response.prototype)
  r[kResponse] = {
    type: 'basic',
    status: meta.status,
    statusText: meta.statusText,
    headers: headersFromHost(meta.headers, 'immutable'),
    url: meta.url,
    redirected: meta.redirected,
    body,
  }
  return r
}

/** The Response of a data: URL fetch: its bytes under the URL's MIME type (see data-url.js). */
export function localResponse(url, type, bytes) {
  const body = newBody()
  body.present = true
  body.source = bytes
  const r = Object.create(Response.prototype)
  r[kResponse] = {
    type: 'basic',
    status: 200,
    statusText: 'OK',
    headers: headersFromHost([['content-type', type]], 'immutable'),
    url,
    redirected: false,
    body,
  }
  return r
}

export function responseParts(response) {
  return responseState(response)
}
