// Request and Response (Fetch standard) with their shared body.
//
// A body is kept in the cheapest form until someone asks for a stream: `source` (a string or bytes
// from the constructor), `remote` (a fetched body read through native.bodyRead) or `stream` (a
// ReadableStream). text()/json()/arrayBuffer() read source and remote directly, so most code never
// loads the streams polyfill.
import { native, load, peek } from './shared.js'
import { internal, tag, illegal, isObject, dictionary, viewOf, concatBytes, inspectSymbol } from './util.js'
import { Headers, headersFromHost, setGuard, copyHeaders } from './headers.js'
import { utf8Encode, utf8Decode } from './utf8.js'

const kResponse = internal('response')
const kRequest = internal('request')

const EMPTY = new Uint8Array(0)

// Classes of other chunks, tested without loading them: no instance exists before its chunk loads.
function isInstance(chunk, cls, value) {
  const exports = peek(chunk)
  return exports !== undefined && value instanceof exports[cls]
}

function isReadableStream(value) {
  return isInstance('streams', 'ReadableStream', value)
}

function newBody() {
  return { present: false, source: null, remote: null, stream: null, used: false }
}

/** "Extract a body": the body state plus the Content-Type the init implies (or null). */
function extractBody(init) {
  const body = newBody()
  body.present = true
  let type = null
  const view = viewOf(init)
  if (typeof init === 'string') {
    body.source = init
    type = 'text/plain;charset=UTF-8'
  } else if (view) {
    body.source = view.slice()
  } else if (isInstance('url', 'URLSearchParams', init)) {
    body.source = init.toString()
    type = 'application/x-www-form-urlencoded;charset=UTF-8'
  } else if (isReadableStream(init)) {
    if (init.locked || init._disturbed) throw new TypeError('Body stream is locked or disturbed')
    body.stream = init
  } else if (isInstance('blob', 'Blob', init)) {
    body.stream = init.stream()
    if (init.type) type = init.type
  } else if (isInstance('blob', 'FormData', init)) {
    const encoded = load('blob').encodeFormData(init)
    body.stream = encoded.stream
    type = encoded.type
  } else if (isObject(init) && typeof init[Symbol.asyncIterator] === 'function') {
    // Async iterables of bytes, as undici accepts them.
    body.stream = load('streams').ReadableStream.from(init)
  } else {
    body.source = String(init)
    type = 'text/plain;charset=UTF-8'
  }
  return { body, type }
}

/** A body fetched by the host: chunks come from native.bodyRead; abort cancels it. */
class RemoteBody {
  constructor(id, signal) {
    this.id = id
    this.signal = signal
    this.done = false
  }

  /** The next chunk, or undefined at the end. */
  read() {
    if (this.done) return Promise.resolve(undefined)
    if (this.signal.aborted) {
      this.cancel()
      return Promise.reject(this.signal.reason)
    }
    return new Promise((resolve, reject) => {
      const stop = load('events').onAbort(this.signal, () => {
        this.cancel()
        reject(this.signal.reason)
      })
      native.bodyRead(this.id).then(
        (chunk) => {
          stop()
          if (chunk === undefined) this.done = true
          resolve(chunk === undefined ? undefined : new Uint8Array(chunk))
        },
        (err) => {
          stop()
          this.done = true
          reject(err)
        },
      )
    })
  }

  cancel() {
    if (this.done) return
    this.done = true
    native.bodyCancel(this.id)
  }
}

function unusable(body) {
  return body.used || (body.stream !== null && (body.stream._disturbed || body.stream.locked))
}

export function bodyUsed(body) {
  return body.used || (body.stream !== null && body.stream._disturbed === true)
}

/** The body as a ReadableStream (made on first request; the same object afterwards). */
export function bodyStream(body) {
  if (!body.present) return null
  if (body.stream) return body.stream
  const { ReadableStream } = load('streams')
  if (body.remote) {
    const remote = body.remote
    body.remote = null
    body.stream = new ReadableStream(
      {
        pull(controller) {
          return remote.read().then((chunk) => {
            if (chunk === undefined) controller.close()
            else controller.enqueue(chunk)
          })
        },
        cancel() {
          remote.cancel()
        },
      },
      { highWaterMark: 0 },
    )
  } else {
    const source = body.source
    body.source = null
    body.stream = new ReadableStream({
      start(controller) {
        if (source !== null) {
          const bytes = typeof source === 'string' ? utf8Encode(source) : source.slice()
          if (bytes.length) controller.enqueue(bytes)
        }
        controller.close()
      },
    })
    if (body.used) body.stream.cancel() // already consumed: a disturbed, empty stream
  }
  return body.stream
}

/** Reads a whole body once ("consume body"); rejects if it was used or is locked. */
export async function consumeBody(body, signal = undefined) {
  if (unusable(body)) throw new TypeError('Body is unusable: Body has already been read')
  body.used = true
  if (!body.present) return EMPTY
  if (body.source !== null) {
    const s = body.source
    body.source = null
    return typeof s === 'string' ? utf8Encode(s) : s.slice()
  }
  const chunks = []
  let total = 0
  if (body.remote) {
    const remote = body.remote
    body.remote = null
    for (let chunk; (chunk = await remote.read()) !== undefined;) {
      chunks.push(chunk)
      total += chunk.length
    }
  } else {
    const reader = body.stream.getReader()
    // fetch(): aborting its signal cancels a request body still being read (Fetch, "abort fetch").
    const stop = signal && load('events').onAbort(signal, () => reader.cancel(signal.reason).catch(() => {}))
    try {
      for (;;) {
        const { done, value } = await reader.read()
        if (signal?.aborted) throw signal.reason
        if (done) break
        if (!(value instanceof Uint8Array)) {
          const err = new TypeError('Received non-Uint8Array chunk')
          reader.cancel(err).catch(() => {})
          throw err
        }
        chunks.push(value)
        total += value.length
      }
    } finally {
      stop?.()
    }
    // The caller still holds the chunks it enqueued: never hand one back as the result.
    if (chunks.length === 1) return chunks[0].slice()
  }
  return chunks.length ? concatBytes(chunks, total) : EMPTY
}

/** Duplicates a body for clone(): bytes are shared (never mutated), streams are teed. */
function cloneBody(body) {
  if (unusable(body)) throw new TypeError('Body has already been used or is locked')
  const copy = { ...body }
  if (body.remote || body.stream) {
    const [a, b] = bodyStream(body).tee()
    body.stream = a
    copy.stream = b
    copy.remote = null
  }
  return copy
}

function textOf(bytes) {
  const text = utf8Decode(bytes)
  return text.charCodeAt(0) === 0xfeff ? text.slice(1) : text // "UTF-8 decode" drops a BOM
}

/** The body methods Request and Response share. */
function mixinBody(cls, kState) {
  const body = (obj) => {
    const s = obj[kState]
    if (!s) throw illegal()
    return s.body
  }
  Object.defineProperties(cls.prototype, {
    body: {
      get() {
        return bodyStream(body(this))
      },
      configurable: true,
      enumerable: true,
    },
    bodyUsed: {
      get() {
        return bodyUsed(body(this))
      },
      configurable: true,
      enumerable: true,
    },
  })
  Object.assign(cls.prototype, {
    async arrayBuffer() {
      const bytes = await consumeBody(body(this))
      return bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength
        ? bytes.buffer
        : bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength)
    },
    async bytes() {
      return consumeBody(body(this))
    },
    async text() {
      const b = body(this)
      // Fast path: a string body is already text.
      if (typeof b.source === 'string' && !unusable(b)) {
        b.used = true
        const s = b.source
        b.source = null
        return s.charCodeAt(0) === 0xfeff ? s.slice(1) : s
      }
      return textOf(await consumeBody(b))
    },
    async json() {
      return JSON.parse(await this.text())
    },
    async blob() {
      const bytes = await consumeBody(body(this))
      return new (load('blob').Blob)([bytes], { type: this.headers.get('content-type') || '' })
    },
    async formData() {
      const bytes = await consumeBody(body(this))
      return load('blob').parseFormData(bytes, this.headers.get('content-type'))
    },
  })
  for (const m of ['arrayBuffer', 'bytes', 'text', 'json', 'blob', 'formData']) {
    Object.defineProperty(cls.prototype, m, { enumerable: false })
  }
}

// ---- Response ----------------------------------------------------------------------------

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
  if (!REASON_PHRASE.test(statusText)) throw new TypeError('Invalid statusText')
  const headers = new Headers(i.headers)
  setGuard(headers, 'response')
  const state = { type: 'default', status, statusText, headers, url: '', redirected: false, body: newBody() }
  if (extracted) {
    if (NULL_BODY_STATUS.includes(status))
      throw new TypeError(`Response with null body status ${status} cannot have body`)
    state.body = extracted.body
    if (extracted.type && !headers.has('content-type')) headers.append('content-type', extracted.type)
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

export function responseParts(response) {
  return responseState(response)
}

// ---- Request -----------------------------------------------------------------------------

const METHOD_TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/
const NORMALIZED_METHODS = ['DELETE', 'GET', 'HEAD', 'OPTIONS', 'POST', 'PUT']
const FORBIDDEN_METHODS = ['CONNECT', 'TRACE', 'TRACK']
const REDIRECTS = ['follow', 'error', 'manual']

function normalizeMethod(method) {
  const m = String(method)
  if (!METHOD_TOKEN.test(m)) throw new TypeError(`'${m}' is not a valid HTTP method.`)
  const upper = m.toUpperCase()
  if (FORBIDDEN_METHODS.includes(upper)) throw new TypeError(`'${m}' HTTP method is unsupported.`)
  return NORMALIZED_METHODS.includes(upper) ? upper : m
}

function requestState(r) {
  const s = r[kRequest]
  if (!s) throw illegal()
  return s
}

function option(init, key, base, fallback) {
  return init[key] !== undefined ? init[key] : base ? base[key] : fallback
}

export class Request {
  constructor(input, init = undefined) {
    if (arguments.length === 0) throw new TypeError("Failed to construct 'Request': 1 argument required")
    const i = dictionary(init, 'init')
    const base = input instanceof Request ? requestState(input) : null
    let url
    if (base) {
      url = base.url
    } else {
      const parsed = load('url').URL.parse(String(input))
      if (!parsed) throw new TypeError(`Invalid URL: ${String(input)}`)
      if (parsed.username || parsed.password)
        throw new TypeError('Request cannot be constructed from a URL that includes credentials')
      url = parsed.href
    }
    const method = i.method !== undefined ? normalizeMethod(i.method) : base ? base.method : 'GET'
    const redirect = String(option(i, 'redirect', base, 'follow'))
    if (!REDIRECTS.includes(redirect)) throw new TypeError(`'${redirect}' is not a valid redirect mode`)
    let parent = base ? signalToFollow(base) : null
    if ('signal' in i) parent = i.signal === undefined ? parent : i.signal
    if (parent !== null && parent !== undefined && !isInstance('events', 'AbortSignal', parent)) {
      throw new TypeError('Failed to construct Request: member signal is not of type AbortSignal.')
    }
    const headers = new Headers(i.headers !== undefined ? i.headers : base ? base.headers : undefined)
    setGuard(headers, 'request')

    const initBody = i.body
    const hasInitBody = initBody !== undefined && initBody !== null
    const inputBody = base ? base.body : null
    if ((hasInitBody || (inputBody && inputBody.present)) && (method === 'GET' || method === 'HEAD')) {
      throw new TypeError('Request with GET/HEAD method cannot have body.')
    }
    let body = newBody()
    if (hasInitBody) {
      const extracted = extractBody(initBody)
      body = extracted.body
      if (extracted.type && !headers.has('content-type')) headers.append('content-type', extracted.type)
    } else if (inputBody && inputBody.present) {
      if (unusable(inputBody))
        throw new TypeError('Cannot construct a Request with a Request object that has already been used.')
      // The new request takes the body over; the input counts as used.
      body = { ...inputBody }
      inputBody.used = true
      inputBody.source = inputBody.remote = inputBody.stream = null
    }

    this[kRequest] = {
      method,
      url,
      headers,
      body,
      redirect,
      // Made on first use (most requests never touch it): following `parent` then is equivalent.
      signal: null,
      parentSignal: parent || null,
      makeSignal: null,
      mode: String(option(i, 'mode', base, 'cors')),
      credentials: String(option(i, 'credentials', base, 'same-origin')),
      cache: String(option(i, 'cache', base, 'default')),
      referrer: String(option(i, 'referrer', base, 'about:client')),
      referrerPolicy: String(option(i, 'referrerPolicy', base, '')),
      integrity: String(option(i, 'integrity', base, '')),
      keepalive: !!option(i, 'keepalive', base, false),
      duplex: 'half',
    }
  }

  get method() {
    return requestState(this).method
  }
  get url() {
    return requestState(this).url
  }
  get headers() {
    return requestState(this).headers
  }
  get redirect() {
    return requestState(this).redirect
  }
  get signal() {
    return requestSignal(requestState(this))
  }
  get mode() {
    return requestState(this).mode
  }
  get credentials() {
    return requestState(this).credentials
  }
  get cache() {
    return requestState(this).cache
  }
  get referrer() {
    return requestState(this).referrer
  }
  get referrerPolicy() {
    return requestState(this).referrerPolicy
  }
  get integrity() {
    return requestState(this).integrity
  }
  get keepalive() {
    return requestState(this).keepalive
  }
  get duplex() {
    return requestState(this).duplex
  }
  get destination() {
    return ''
  }
  get isReloadNavigation() {
    return false
  }
  get isHistoryNavigation() {
    return false
  }

  clone() {
    const s = requestState(this)
    const body = cloneBody(s.body)
    const r = Object.create(Request.prototype)
    r[kRequest] = {
      ...s,
      headers: copyHeaders(s.headers),
      body,
      signal: null,
      parentSignal: signalToFollow(s),
      makeSignal: null,
    }
    return r
  }

  [inspectSymbol](depth, options, inspect) {
    const s = requestState(this)
    return `Request ${inspect({ method: s.method, url: s.url, headers: s.headers, body: s.body.present ? '<body>' : null, bodyUsed: bodyUsed(s.body), redirect: s.redirect })}`
  }
}
tag(Request, 'Request')
mixinBody(Request, kRequest)

export function requestParts(request) {
  return requestState(request)
}

export function requestSignal(state) {
  if (!state.signal) {
    state.signal = state.makeSignal ? state.makeSignal() : load('events').followSignal(state.parentSignal)
  }
  return state.signal
}

/** What a copy of the request follows: its signal (made now if it has a maker), else its parent. */
function signalToFollow(state) {
  return state.signal || state.parentSignal || (state.makeSignal ? requestSignal(state) : null)
}

/**
 * The Request an invocation hands the handler: host headers, host body bytes, and a signal made
 * by `makeSignal` on first use.
 */
export function incomingRequest(meta, bytes, makeSignal) {
  const r = Object.create(Request.prototype)
  const body = newBody()
  if (bytes !== undefined && meta.method !== 'GET' && meta.method !== 'HEAD') {
    body.present = true
    body.source = new Uint8Array(bytes)
  }
  r[kRequest] = {
    method: normalizeMethod(meta.method),
    url: meta.url,
    headers: headersFromHost(meta.headers, 'request'),
    body,
    redirect: 'follow',
    signal: null,
    parentSignal: null,
    makeSignal,
    mode: 'cors',
    credentials: 'same-origin',
    cache: 'default',
    referrer: 'about:client',
    referrerPolicy: '',
    integrity: '',
    keepalive: false,
    duplex: 'half',
  }
  return r
}
