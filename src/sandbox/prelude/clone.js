// structuredClone (HTML "StructuredSerialize" + deserialize in one pass): keeps cycles and shared
// references; refuses functions, symbols, platform objects and other non-serializable values.
import { peek, domException } from './shared.js'
import { isPlatformObject, isObject, dictionary } from './util.js'
import { sequenceOf } from './webidl.js'

const TYPED_ARRAYS = [
  Int8Array,
  Uint8Array,
  Uint8ClampedArray,
  Int16Array,
  Uint16Array,
  Int32Array,
  Uint32Array,
  Float32Array,
  Float64Array,
  BigInt64Array,
  BigUint64Array,
]
const ERRORS = { Error, EvalError, RangeError, ReferenceError, SyntaxError, TypeError, URIError }

function cannotClone(what) {
  return domException(`${what} could not be cloned.`, 'DataCloneError')
}

export function structuredClone(value, options = undefined) {
  if (arguments.length === 0) throw new TypeError("Failed to execute 'structuredClone': 1 argument required")
  const transfer = transferList(options)
  const memo = new Map()
  // StructuredSerializeWithTransfer: the copy gets the listed buffers' bytes, and only once the
  // whole value has serialized are the originals detached (their views read before that).
  for (const buffer of transfer) memo.set(buffer, buffer.slice(0))
  const out = clone(value, memo)
  for (const buffer of transfer) buffer.transfer()
  return out
}

/** StructuredSerializeOptions' transfer: ArrayBuffers, each once, none detached. */
function transferList(options) {
  const o = dictionary(options, 'options')
  if (o.transfer === undefined) return []
  const list = sequenceOf(
    o.transfer,
    (item) => {
      if (!isObject(item)) throw new TypeError('options.transfer must hold objects')
      return item
    },
    'options.transfer',
  )
  const seen = new Set()
  for (const item of list) {
    if (!(item instanceof ArrayBuffer)) throw cannotClone(`${Object.prototype.toString.call(item)} (not transferable)`)
    if (seen.has(item)) throw cannotClone('an ArrayBuffer listed twice for transfer')
    if (item.detached) throw cannotClone('a detached ArrayBuffer')
    seen.add(item)
  }
  return list
}

/** Without loading the class: no instance exists before it is loaded. */
function isDOMException(v) {
  const chunk = peek('domexception')
  return chunk !== undefined && v instanceof chunk.DOMException
}

function isBlob(v) {
  const chunk = peek('blob')
  return chunk !== undefined && chunk.isBlob(v)
}

function clone(v, memo) {
  if (typeof v === 'function') throw cannotClone(v.name ? `function ${v.name}` : 'function')
  if (typeof v === 'symbol') throw cannotClone(v.toString())
  if (typeof v !== 'object' || v === null) return v
  if (memo.has(v)) return memo.get(v)
  let out
  if (Array.isArray(v)) {
    out = new Array(v.length)
    memo.set(v, out)
    for (const key of Object.keys(v)) out[key] = clone(v[key], memo)
    return out
  }
  if (v instanceof Date) out = new Date(v.getTime())
  else if (v instanceof RegExp) out = new RegExp(v.source, v.flags)
  else if (v instanceof ArrayBuffer) out = v.slice(0)
  else if (v instanceof DataView) out = new DataView(clone(v.buffer, memo), v.byteOffset, v.byteLength)
  else if (ArrayBuffer.isView(v)) {
    const Ctor = TYPED_ARRAYS.find((C) => v instanceof C)
    out = new Ctor(clone(v.buffer, memo), v.byteOffset, v.length)
  } else if (v instanceof Boolean || v instanceof Number || v instanceof String || v instanceof BigInt) {
    out = Object(v.valueOf())
  } else if (v instanceof Map) {
    out = new Map()
    memo.set(v, out)
    for (const [k, val] of v) out.set(clone(k, memo), clone(val, memo))
    return out
  } else if (v instanceof Set) {
    out = new Set()
    memo.set(v, out)
    for (const val of v) out.add(clone(val, memo))
    return out
  } else if (isBlob(v)) {
    // Blobs are immutable: a copy may share the bytes.
    const { Blob, File } = peek('blob')
    out =
      v instanceof File
        ? new File([v], v.name, { type: v.type, lastModified: v.lastModified })
        : new Blob([v], { type: v.type })
  } else if (isDOMException(v)) {
    out = domException(v.message, v.name)
  } else if (v instanceof Error) {
    const name = String(v.name)
    out = new (Object.prototype.hasOwnProperty.call(ERRORS, name) ? ERRORS[name] : Error)()
    memo.set(v, out)
    const message = v.message
    if (message !== undefined)
      Object.defineProperty(out, 'message', { value: String(message), writable: true, configurable: true })
    if (typeof v.stack === 'string')
      Object.defineProperty(out, 'stack', { value: v.stack, writable: true, configurable: true })
    if (Object.prototype.hasOwnProperty.call(v, 'cause')) {
      Object.defineProperty(out, 'cause', { value: clone(v.cause, memo), writable: true, configurable: true })
    }
    return out
  } else if (
    v instanceof Promise ||
    v instanceof WeakMap ||
    v instanceof WeakSet ||
    (typeof WeakRef === 'function' && v instanceof WeakRef) ||
    isPlatformObject(v)
  ) {
    const tag = Object.prototype.toString.call(v).slice(8, -1)
    throw cannotClone(`#<${tag}>`)
  } else {
    // Ordinary objects (class instances included) become plain objects of their own enumerable props.
    out = {}
    memo.set(v, out)
    for (const key of Object.keys(v)) out[key] = clone(v[key], memo)
    return out
  }
  memo.set(v, out)
  return out
}
