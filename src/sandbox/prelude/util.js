// @fnbox-guest-shared
// Small helpers shared by the prelude chunks. Stateless (the sets behind `internal` and
// `markPlatform` live in the core), so each chunk may bundle its own copy.
import { shared } from './shared.js'

/** A symbol for internal state; console's inspector skips these keys. */
export const internal = shared.internal
export const isInternalSymbol = shared.isInternalSymbol
/** Marks a prototype as a platform class's: structuredClone refuses its instances. */
export const markPlatform = shared.markPlatform
export const isPlatformObject = shared.isPlatformObject

/** The key Node's util.inspect (and our console) calls for a custom representation. */
export const inspectSymbol = Symbol.for('nodejs.util.inspect.custom')

/** Gives a platform class its name (lost to minification) and `[object Name]` tag. */
export function tag(cls, name) {
  Object.defineProperty(cls, 'name', { value: name, configurable: true })
  Object.defineProperty(cls.prototype, Symbol.toStringTag, { value: name, configurable: true })
  markPlatform(cls.prototype)
}

export function illegal() {
  return new TypeError('Illegal invocation')
}

const { then } = Promise.prototype
const noop = () => {}

/** A rejected promise already marked handled (a platform method's failure, not the guest's). */
export function rejected(err) {
  const p = Promise.reject(err)
  then.call(p, undefined, noop)
  return p
}

/** WebIDL callback members: absent, or a function (`what` names it in the TypeError). */
export function checkFunction(fn, what) {
  if (fn !== undefined && typeof fn !== 'function') throw new TypeError(`${what} must be a function`)
}

/** WebIDL members are enumerable: makes every prototype member of `classes` so. */
export function enumerableMembers(...classes) {
  for (const cls of classes) {
    for (const key of Object.getOwnPropertyNames(cls.prototype)) {
      if (key !== 'constructor') Object.defineProperty(cls.prototype, key, { enumerable: true })
    }
  }
}

/**
 * The GenericTransformStream mixin (TextEncoderStream, CompressionStream, ...): `readable` and
 * `writable` getters on `cls.prototype`, reading the TransformStream each instance holds under
 * `key` (enumerable, as WebIDL attributes are).
 */
export function genericTransformStream(cls, key) {
  const transform = (obj) => {
    const t = obj[key]
    if (!t) throw illegal()
    return t
  }
  const getters = {
    get readable() {
      return transform(this).readable
    },
    get writable() {
      return transform(this).writable
    },
  }
  for (const name of ['readable', 'writable']) {
    const { get } = Object.getOwnPropertyDescriptor(getters, name)
    Object.defineProperty(cls.prototype, name, { get, enumerable: true, configurable: true })
  }
}

export function isObject(v) {
  return (typeof v === 'object' && v !== null) || typeof v === 'function'
}

/** A Uint8Array view of a BufferSource (no copy), or undefined when it is not one. */
export function viewOf(source) {
  if (source instanceof Uint8Array) return source
  if (source instanceof ArrayBuffer) return new Uint8Array(source)
  if (ArrayBuffer.isView(source)) return new Uint8Array(source.buffer, source.byteOffset, source.byteLength)
  return undefined
}

/** An ArrayBuffer holding exactly these bytes (the view's own buffer when it spans all of it). */
export function exactBuffer(bytes) {
  const buf = bytes.buffer
  if (bytes.byteOffset === 0 && bytes.byteLength === buf.byteLength) return buf
  return buf.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength)
}

export function concatBytes(chunks, total) {
  if (chunks.length === 1) return chunks[0]
  const out = new Uint8Array(total)
  let offset = 0
  for (const c of chunks) {
    out.set(c, offset)
    offset += c.byteLength
  }
  return out
}

/** What a missing dictionary converts to: no members, and nothing inherited to read. */
const NO_MEMBERS = Object.freeze(Object.create(null))

/**
 * WebIDL dictionary conversion: undefined and null give a dictionary with no members (reading one
 * finds nothing, even what guest code put on Object.prototype), other non-objects throw.
 */
export function dictionary(value, what) {
  if (value === undefined || value === null) return NO_MEMBERS
  if (!isObject(value)) throw new TypeError(`${what} must be an object`)
  return value
}
