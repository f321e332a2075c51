// The WebIDL dictionaries of the streams standard, converted as WebIDL converts them: members
// read in alphabetical order, each converted (and checked) as it is read, and a missing
// dictionary read as one with no members.
import { dictionary, isObject } from '../util.js'

/** A callback member (UnderlyingSource.pull, Transformer.flush, ...): absent, or a function. */
export function callback(dict, key, what) {
  const value = dict === null ? undefined : dict[key]
  if (value !== undefined && typeof value !== 'function') throw new TypeError(`${what}.${key} must be a function`)
  return value
}

/** [EnforceRange] unsigned long long. */
export function enforceRange(value, what) {
  const n = Number(value)
  if (!Number.isFinite(n)) throw new TypeError(`${what} must be a finite number`)
  const t = Math.trunc(n)
  if (t < 0 || t > Number.MAX_SAFE_INTEGER) throw new TypeError(`${what} is out of range`)
  return t
}

/** QueuingStrategy: { highWaterMark (a number, converted when read), size }. */
export function strategy(value) {
  const st = dictionary(value, 'strategy')
  const raw = st.highWaterMark
  const highWaterMark = raw === undefined ? undefined : Number(raw)
  const size = callback(st, 'size', 'strategy')
  return { highWaterMark, size }
}

/** ExtractHighWaterMark: the strategy's mark, or `defaultHwm`; NaN and negatives are RangeErrors. */
export function extractHighWaterMark(st, defaultHwm) {
  if (st.highWaterMark === undefined) return defaultHwm
  const hwm = st.highWaterMark
  if (Number.isNaN(hwm) || hwm < 0) throw new RangeError('Invalid highWaterMark')
  return hwm
}

/** ReadableStreamGetReaderOptions: mode, undefined or 'byob'. */
export function readerMode(options) {
  const mode = dictionary(options, 'options').mode
  if (mode === undefined) return undefined
  const m = String(mode)
  if (m !== 'byob') throw new TypeError(`${m} is not a valid enumeration value for ReadableStreamReaderMode`)
  return m
}

/** ReadableStreamIteratorOptions: preventCancel. */
export function iteratorPreventCancel(options) {
  return Boolean(dictionary(options, 'options').preventCancel)
}

/**
 * StreamPipeOptions: preventAbort, preventCancel, preventClose, signal. `isSignal` brand-checks an
 * AbortSignal.
 */
export function pipeOptions(options, isSignal) {
  const o = dictionary(options, 'options')
  const preventAbort = Boolean(o.preventAbort)
  const preventCancel = Boolean(o.preventCancel)
  const preventClose = Boolean(o.preventClose)
  const signal = o.signal
  if (signal !== undefined && !isSignal(signal)) throw new TypeError('options.signal must be an AbortSignal')
  return { preventAbort, preventCancel, preventClose, signal }
}

/** ReadableWritablePair: readable and writable, both required and brand-checked. */
export function readableWritablePair(value, isReadable, isWritable) {
  if (!isObject(value)) throw new TypeError('transform must be a ReadableWritablePair')
  const readable = value.readable
  if (readable === undefined) throw new TypeError('transform.readable is required')
  if (!isReadable(readable)) throw new TypeError('transform.readable must be a ReadableStream')
  const writable = value.writable
  if (writable === undefined) throw new TypeError('transform.writable is required')
  if (!isWritable(writable)) throw new TypeError('transform.writable must be a WritableStream')
  return { readable, writable }
}
