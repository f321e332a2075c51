// Request (Fetch standard): made by guest code, or by the GuestEntry for an invocation; the body
// is body.js's, the signal made on first use.
import { load } from './shared.js'
import { internal, tag, illegal, dictionary, inspectSymbol } from './util.js'
import { Headers, headersFromHost, setGuard, copyHeaders, defaultHeader } from './headers.js'
import { newBody, extractBody, cloneBody, bodyUsed, unusable, mixinBody, isSignal } from './body.js'

const kRequest = internal('request')

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
    if (parent !== null && parent !== undefined && !isSignal(parent)) {
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
      if (extracted.type) defaultHeader(headers, 'content-type', extracted.type)
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
    // The host sends the standard methods upper-cased already.
    method: NORMALIZED_METHODS.includes(meta.method) ? meta.method : normalizeMethod(meta.method),
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
