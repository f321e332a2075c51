// Intl.Segmenter: the host splits the whole string once; Segments and its iterator live here. Part of the guest's Intl (see ../intl.js).
import { host, toString, toNumber } from './options.js'
import { state, describe, service } from './services.js'
const { defineProperty } = Object

// ---- Segmenter: the host splits the whole string once; Segments and its iterator live here -----

export const segmentsStates = new WeakMap()

// %Segments.prototype%: containing and @@iterator, no constructor.
export const SegmentsProto = {}
export const segmentsMethods = {
  containing(index) {
    const s = segmentsState(this, 'containing')
    const n = Math.trunc(toNumber(index)) || 0
    if (n < 0 || n >= s.input.length) return undefined
    const list = segmentList(s)
    let lo = 0
    let hi = list.length - 1
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1
      if (list[mid][1] <= n) lo = mid
      else hi = mid - 1
    }
    return segmentData(s, list[lo])
  },
  [Symbol.iterator]() {
    return makeSegmentIterator(segmentsState(this, '[Symbol.iterator]'))
  },
}
for (const key of [...Object.keys(segmentsMethods), Symbol.iterator]) {
  defineProperty(SegmentsProto, key, { value: segmentsMethods[key], writable: true, configurable: true })
}

export function segmentsState(obj, method) {
  const s = segmentsStates.get(obj)
  if (!s) throw new TypeError(`Method %Segments.prototype%.${method} called on incompatible receiver ${describe(obj)}`)
  return s
}

export function segmentList(s) {
  return (s.list ??= JSON.parse(host('Segmenter', s.spec, 'segment', [s.input])))
}

export function segmentData(s, [segment, index, isWordLike]) {
  const data = { segment, index, input: s.input }
  if (s.word) data.isWordLike = isWordLike
  return data
}

export const SegmentIterator = {
  next() {
    const it = segmentsStates.get(this)
    if (!it) throw new TypeError('Method %SegmentIterator.prototype%.next called on incompatible receiver')
    const list = segmentList(it.s)
    if (it.i >= list.length) return { value: undefined, done: true }
    return { value: segmentData(it.s, list[it.i++]), done: false }
  },
}
export const SegmentIteratorProto = Object.create(Object.getPrototypeOf(Object.getPrototypeOf([][Symbol.iterator]())))
defineProperty(SegmentIteratorProto, 'next', { value: SegmentIterator.next, writable: true, configurable: true })
defineProperty(SegmentIteratorProto, Symbol.toStringTag, { value: 'Segmenter String Iterator', configurable: true })

export function makeSegmentIterator(s) {
  const it = Object.create(SegmentIteratorProto)
  segmentsStates.set(it, { s, i: 0 })
  return it
}

export const Segmenter = service('Segmenter', {
  segment(string) {
    const st = state(this, 'Segmenter', 'segment')
    const segments = Object.create(SegmentsProto)
    const word = JSON.parse(st.resolved).granularity === 'word'
    segmentsStates.set(segments, { spec: st.spec, input: toString(string), word, list: undefined })
    return segments
  },
})
