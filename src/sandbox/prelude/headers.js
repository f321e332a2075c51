// Headers (Fetch standard): names are case-insensitive, iteration is sorted by lower-cased name,
// values of one name combine with ", " except set-cookie, which iterates one entry per value.
import { internal, tag, illegal, isObject, inspectSymbol } from './util.js'

const kMap = internal('headers')
const kGuard = internal('headers guard')
const kPending = internal('headers from the host')
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/
const EDGE_WHITESPACE = /^[\t\n\r ]+|[\t\n\r ]+$/g
const INVALID_VALUE = /[\0\r\n]|[^\0-\xff]/

function headerName(name) {
  const n = String(name)
  if (!TOKEN.test(n)) throw new TypeError(`Invalid header name: "${n}"`)
  return n.toLowerCase()
}

function headerValue(value) {
  const v = String(value).replace(EDGE_WHITESPACE, '')
  if (INVALID_VALUE.test(v)) throw new TypeError(`Invalid header value: "${v}"`)
  return v
}

function map(headers) {
  const m = headers[kMap]
  if (!m) throw illegal()
  const pending = headers[kPending]
  if (pending !== undefined) {
    // Pairs from the host, entered on first use: many handlers never read the request headers.
    headers[kPending] = undefined
    for (const [name, value] of pending) {
      try {
        append(m, name, value)
      } catch {}
    }
  }
  return m
}

function mutable(headers) {
  const m = map(headers)
  if (headers[kGuard] === 'immutable') throw new TypeError('Headers are immutable')
  return m
}

function append(m, name, value) {
  const n = headerName(name)
  const v = headerValue(value)
  const values = m.get(n)
  if (values) values.push(v)
  else m.set(n, [v])
}

/** The sorted-and-combined list of the Fetch standard, as [name, value] pairs. */
export function headerPairs(headers) {
  const m = map(headers)
  const out = []
  for (const name of Array.from(m.keys()).sort()) {
    const values = m.get(name)
    if (name === 'set-cookie') for (const v of values) out.push([name, v])
    else out.push([name, values.join(', ')])
  }
  return out
}

/** Headers from the host (already parsed by an HTTP stack): invalid entries are skipped. */
export function headersFromHost(pairs, guard) {
  const h = new Headers()
  h[kPending] = pairs
  h[kGuard] = guard
  return h
}

/** A copy keeping the guard (clone() of an immutable response stays immutable). */
export function copyHeaders(headers) {
  const h = new Headers(headers)
  h[kGuard] = headers[kGuard]
  return h
}

export function setGuard(headers, guard) {
  headers[kGuard] = guard
}

export class Headers {
  constructor(init) {
    const m = new Map()
    this[kMap] = m
    this[kGuard] = 'none'
    if (init === undefined) return
    if (init instanceof Headers) {
      for (const [name, values] of map(init)) m.set(name, values.slice())
    } else if (isObject(init)) {
      if (typeof init[Symbol.iterator] === 'function') {
        for (const pair of init) {
          if (!isObject(pair) || typeof pair[Symbol.iterator] !== 'function') {
            throw new TypeError('Header pairs must be iterable [name, value] tuples')
          }
          const p = Array.from(pair)
          if (p.length !== 2) throw new TypeError('Header pairs must contain exactly two items')
          append(m, p[0], p[1])
        }
      } else {
        for (const key of Reflect.ownKeys(init)) {
          if (typeof key !== 'string') continue
          const d = Object.getOwnPropertyDescriptor(init, key)
          if (d && d.enumerable) append(m, key, init[key])
        }
      }
    } else {
      throw new TypeError('Headers init must be an object, an iterable of pairs or Headers')
    }
  }

  append(name, value) {
    append(mutable(this), name, value)
  }

  delete(name) {
    mutable(this).delete(headerName(name))
  }

  get(name) {
    const values = map(this).get(headerName(name))
    return values ? values.join(', ') : null
  }

  getSetCookie() {
    const values = map(this).get('set-cookie')
    return values ? values.slice() : []
  }

  has(name) {
    return map(this).has(headerName(name))
  }

  set(name, value) {
    const m = mutable(this)
    m.set(headerName(name), [headerValue(value)])
  }

  forEach(callback, thisArg) {
    if (typeof callback !== 'function') throw new TypeError('The "callback" argument must be a function')
    for (const [name, value] of headerPairs(this)) callback.call(thisArg, value, name, this)
  }

  *entries() {
    yield* headerPairs(this)
  }

  *keys() {
    for (const [name] of headerPairs(this)) yield name
  }

  *values() {
    for (const [, value] of headerPairs(this)) yield value
  }

  [inspectSymbol](depth, options, inspect) {
    const obj = {}
    for (const [name, value] of map(this)) obj[name] = name === 'set-cookie' ? value.slice() : value.join(', ')
    return `Headers ${inspect(obj)}`
  }
}
Object.defineProperty(Headers.prototype, Symbol.iterator, {
  value: Headers.prototype.entries,
  writable: true,
  configurable: true,
})
tag(Headers, 'Headers')
