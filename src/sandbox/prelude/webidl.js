// @fnbox-guest-shared
// WebIDL's conversions and iterable declarations, as the platform classes need them: ByteString
// and USVString, sequence<T> and record<K, V> (with the operations WebIDL performs, in its order,
// so a Proxy or a getter sees what it would see in a browser), and pair iterators. Stateless:
// chunks bundle their own copy.
import { shared } from './shared.js'
import { isObject, illegal } from './util.js'

const toWellFormed = shared.toWellFormed
const { getOwnPropertyDescriptor, defineProperty, getPrototypeOf } = Object
const IteratorPrototype = getPrototypeOf(getPrototypeOf([][Symbol.iterator]()))

/** ToString, as WebIDL's DOMString conversion (a Symbol throws TypeError). */
export function domString(value) {
  if (typeof value === 'symbol') throw new TypeError('Cannot convert a Symbol value to a string')
  return String(value)
}

/** USVString: lone surrogates become U+FFFD. */
export function usvString(value) {
  return toWellFormed.call(domString(value))
}

/** ByteString: a string whose code units are all below 256, else TypeError. */
export function byteString(value) {
  const s = domString(value)
  if (/[^\x00-\xff]/.test(s)) throw new TypeError(`Cannot convert "${s}" to a ByteString: it has a character above 255`)
  return s
}

/** sequence<T> from an iterable, `method` being its @@iterator (already read). */
export function sequence(iterable, method, convert, what) {
  if (typeof method !== 'function') throw new TypeError(`${what} is not iterable`)
  const iterator = method.call(iterable)
  if (!isObject(iterator)) throw new TypeError(`${what}: the iterator is not an object`)
  const next = iterator.next
  const out = []
  for (;;) {
    const step = next.call(iterator)
    if (!isObject(step)) throw new TypeError(`${what}: the iterator result is not an object`)
    if (step.done) return out
    out.push(convert(step.value))
  }
}

/** sequence<T> from any value (TypeError unless it is an iterable object). */
export function sequenceOf(value, convert, what) {
  if (!isObject(value)) throw new TypeError(`${what} is not iterable`)
  return sequence(value, value[Symbol.iterator], convert, what)
}

/**
 * record<K, V> as [key, value] pairs: [[OwnPropertyKeys]], then for each key its
 * [[GetOwnProperty]] and, when enumerable, the key's conversion, a [[Get]] and the value's.
 */
export function record(object, convertKey, convertValue) {
  const out = []
  for (const key of Reflect.ownKeys(object)) {
    const desc = getOwnPropertyDescriptor(object, key)
    if (desc === undefined || !desc.enumerable) continue
    const k = convertKey(key)
    out.push([k, convertValue(object[key])])
  }
  return out
}

/**
 * The `(sequence<sequence<T>> or record<T, T>)` union of HeadersInit and URLSearchParams' init:
 * an object with an @@iterator is a sequence of pairs (each a sequence of two), else a record.
 * `method` is the object's @@iterator, already read (overload resolution reads it once); `convert`
 * converts names and values alike. Returns [name, value] pairs.
 */
export function pairsOrRecord(init, method, convert, what) {
  if (method === undefined || method === null) return record(init, convert, convert)
  const pairs = sequence(init, method, (item) => sequenceOf(item, convert, `${what} item`), what)
  for (const pair of pairs) {
    if (pair.length !== 2) throw new TypeError(`${what}: each item must be a [name, value] pair`)
  }
  return pairs
}

/**
 * A WebIDL pair iterable (`iterable<K, V>`) on `cls`: entries, keys, values, forEach and
 * @@iterator, with a "<Name> Iterator" prototype whose next() re-reads the pairs at each step, as
 * the standard's iterators do (a pair added or removed while iterating shows). `pairsOf(object)`
 * brand-checks and returns the current [key, value] list.
 */
export function pairIterable(cls, name, pairsOf) {
  const kTarget = Symbol(`${name} Iterator target`)
  const iteratorPrototype = Object.create(IteratorPrototype)
  const methods = {
    next() {
      const state = isObject(this) ? this[kTarget] : undefined
      if (state === undefined) throw illegal()
      const pairs = pairsOf(state.target)
      if (state.index >= pairs.length) return { value: undefined, done: true }
      const pair = pairs[state.index++]
      const value = state.kind === 'key' ? pair[0] : state.kind === 'value' ? pair[1] : [pair[0], pair[1]]
      return { value, done: false }
    },
  }
  defineProperty(iteratorPrototype, 'next', {
    value: methods.next,
    writable: true,
    enumerable: true,
    configurable: true,
  })
  defineProperty(iteratorPrototype, Symbol.toStringTag, { value: `${name} Iterator`, configurable: true })
  const make = (kind) =>
    function () {
      pairsOf(this)
      const it = Object.create(iteratorPrototype)
      defineProperty(it, kTarget, { value: { target: this, kind, index: 0 } })
      return it
    }
  const members = {
    entries: make('key+value'),
    keys: make('key'),
    values: make('value'),
    forEach(callback, thisArg = undefined) {
      let pairs = pairsOf(this)
      if (typeof callback !== 'function') throw new TypeError('The "callback" argument must be a function')
      for (let i = 0; i < pairs.length; i++) {
        callback.call(thisArg, pairs[i][1], pairs[i][0], this)
        pairs = pairsOf(this)
      }
    },
  }
  for (const key of ['entries', 'keys', 'values', 'forEach']) {
    defineProperty(members[key], 'name', { value: key })
    defineProperty(cls.prototype, key, { value: members[key], writable: true, enumerable: true, configurable: true })
  }
  defineProperty(cls.prototype, Symbol.iterator, { value: members.entries, writable: true, configurable: true })
}
