// Headers (Fetch standard): names are case-insensitive, iteration is the "sort and combine" of
// the header list (names sorted, lower-cased; values of one name joined with ", ", except
// set-cookie, which gives one entry per value), re-read at every step of an iterator.
import { internal, tag, illegal, isObject, inspectSymbol } from './util.js'
import { byteString, pairsOrRecord, pairIterable } from './webidl.js'

const kState = internal('headers')
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/
const EDGE_WHITESPACE = /^[\t\n\r ]+|[\t\n\r ]+$/g
const INVALID_VALUE = /[\0\r\n]/

/** A Headers object's state: its list (lower-cased name -> values), guard, and sorted view. */
class HeadersState {
  constructor(guard) {
    this.map = new Map()
    this.guard = guard
    /** Pairs from the host, entered on first use: many handlers never read the request headers. */
    this.pending = undefined
    /** The sort-and-combine result, until the list changes. */
    this.sorted = null
  }
}

/** Names checked before, as given -> lower-cased: a handful of names make up most traffic. */
const checkedNames = new Map()
const CHECKED_NAMES_MAX = 256

function headerName(name) {
  if (typeof name === 'string') {
    const known = checkedNames.get(name)
    if (known !== undefined) return known
  }
  const n = byteString(name)
  if (!TOKEN.test(n)) throw new TypeError(`Invalid header name: "${n}"`)
  const lower = n.toLowerCase()
  if (checkedNames.size < CHECKED_NAMES_MAX) checkedNames.set(n, lower)
  return lower
}

/** A value that needs no normalizing: bytes, no edge whitespace, no NUL, CR or LF. */
const PLAIN_VALUE = /^(?:[\x21-\x7e\x80-\xff](?:[\t\x20-\x7e\x80-\xff]*[\x21-\x7e\x80-\xff])?)?$/

/** A header value, normalized (edge whitespace stripped) and checked. */
function headerValue(value) {
  if (typeof value === 'string' && PLAIN_VALUE.test(value)) return value
  const v = byteString(value).replace(EDGE_WHITESPACE, '')
  if (INVALID_VALUE.test(v)) throw new TypeError(`Invalid header value: "${v}"`)
  return v
}

function stateOf(headers) {
  const s = isObject(headers) ? headers[kState] : undefined
  if (!s) throw illegal()
  const pending = s.pending
  if (pending !== undefined) {
    s.pending = undefined
    for (const [name, value] of pending) {
      try {
        append(s, name, value)
      } catch {}
    }
  }
  return s
}

function mutable(headers) {
  const s = stateOf(headers)
  if (s.guard === 'immutable') throw new TypeError('Headers are immutable')
  return s
}

function append(s, name, value) {
  const n = headerName(name)
  const v = headerValue(value)
  const values = s.map.get(n)
  if (values) values.push(v)
  else s.map.set(n, [v])
  s.sorted = null
}

/** The sort-and-combine list of the Fetch standard, as [name, value] pairs (do not modify). */
function sortAndCombine(s) {
  if (s.sorted) return s.sorted
  const out = []
  for (const name of Array.from(s.map.keys()).sort()) {
    const values = s.map.get(name)
    if (name === 'set-cookie') for (const v of values) out.push([name, v])
    else out.push([name, values.join(', ')])
  }
  s.sorted = out
  return out
}

/** The [name, value] pairs to send (a copy). */
export function headerPairs(headers) {
  return sortAndCombine(stateOf(headers)).map((p) => [p[0], p[1]])
}

/** The pairs to send as JSON, without a copy: what the host is told of a response's head. */
export function headerPairsJson(headers) {
  return JSON.stringify(sortAndCombine(stateOf(headers)))
}

/**
 * Sets a header the prelude itself derived (a body's Content-Type) unless the list has one:
 * the name is lower-case and the value valid already, so nothing is checked again.
 */
export function defaultHeader(headers, name, value) {
  const s = stateOf(headers)
  if (s.map.has(name)) return
  s.map.set(name, [value])
  s.sorted = null
}

/** A header's combined value, or null: what the prelude reads (a guest may replace `get`). */
export function getHeader(headers, name) {
  const values = stateOf(headers).map.get(name)
  return values ? values.join(', ') : null
}

/** Headers from the host (already parsed by an HTTP stack): invalid entries are skipped. */
export function headersFromHost(pairs, guard) {
  const h = Object.create(Headers.prototype)
  const s = new HeadersState(guard)
  s.pending = pairs
  h[kState] = s
  return h
}

/** A copy keeping the guard (clone() of an immutable response stays immutable). */
export function copyHeaders(headers) {
  const from = stateOf(headers)
  const h = Object.create(Headers.prototype)
  const s = new HeadersState(from.guard)
  for (const [name, values] of from.map) s.map.set(name, values.slice())
  h[kState] = s
  return h
}

export function setGuard(headers, guard) {
  stateOf(headers).guard = guard
}

const entries = () => Headers.prototype.entries

export class Headers {
  constructor(init = undefined) {
    const s = new HeadersState('none')
    this[kState] = s
    if (init === undefined) return
    if (!isObject(init))
      throw new TypeError("Failed to construct 'Headers': init must be a sequence of pairs or a record")
    // A Headers whose iterator is ours gives what iterating it would: copy its list directly.
    const method = init[Symbol.iterator]
    if (method === entries() && Object.prototype.hasOwnProperty.call(init, kState)) {
      for (const [name, values] of stateOf(init).map) s.map.set(name, values.slice())
      return
    }
    for (const [name, value] of pairsOrRecord(init, method, byteString, 'Headers init')) append(s, name, value)
  }

  append(name, value) {
    const n = byteString(name)
    const v = byteString(value)
    append(mutable(this), n, v)
  }

  delete(name) {
    const n = headerName(name)
    const s = mutable(this)
    if (s.map.delete(n)) s.sorted = null
  }

  get(name) {
    const values = stateOf(this).map.get(headerName(name))
    return values ? values.join(', ') : null
  }

  getSetCookie() {
    const values = stateOf(this).map.get('set-cookie')
    return values ? values.slice() : []
  }

  has(name) {
    return stateOf(this).map.has(headerName(name))
  }

  set(name, value) {
    const n = headerName(name)
    const v = headerValue(value)
    const s = mutable(this)
    s.map.set(n, [v])
    s.sorted = null
  }

  [inspectSymbol](depth, options, inspect) {
    const obj = {}
    for (const [name, value] of stateOf(this).map) obj[name] = name === 'set-cookie' ? value.slice() : value.join(', ')
    return `Headers ${inspect(obj)}`
  }
}
tag(Headers, 'Headers')
pairIterable(Headers, 'Headers', (h) => sortAndCombine(stateOf(h)))
for (const key of ['append', 'delete', 'get', 'getSetCookie', 'has', 'set']) {
  Object.defineProperty(Headers.prototype, key, { enumerable: true })
}
