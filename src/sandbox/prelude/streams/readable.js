// ReadableStream: the class over readable-state.js, a default controller (default-controller.js)
// or a byte controller (byte-controller.js), with its readers, tee, async iteration, from() and
// pipes. Inside the prelude streams are read with callbacks (see readable-state.js); only public
// reads make promises.
import { isObject, illegal, rejected } from '../util.js'
import { then, noop, resolvedUndefined } from './helpers.js'
import { kState, StreamState, tryState, stateOf, isReadable, acquire, streamCancel } from './readable-state.js'
import { setUpDefaultController, controllerEnqueue, controllerClose } from './default-controller.js'
import { setUpByteController } from './byte-controller.js'
import { ReadableStreamDefaultReader, ReadableStreamBYOBReader } from './readers.js'
import { makeIterator } from './iterator.js'
import { defaultTee, byteTee } from './tee.js'
import { pipe, isAbortSignal } from './pipe.js'
import {
  callback,
  enforceRange,
  strategy,
  extractHighWaterMark,
  readerMode,
  iteratorPreventCancel,
  pipeOptions,
  readableWritablePair,
} from './dictionaries.js'
import { isWritable, writableState } from './writable.js'

/** pipeThrough asks this first whether it can fuse the pair into a chain (see transform-chain.js). */
export const hooks = { fuse: undefined }

/** CreateReadableStream over algorithms (no underlying source object): tee branches, from(), bodies. */
export function createReadable(pull, cancel, hwm = 1, start = undefined, size = undefined) {
  const stream = Object.create(ReadableStream.prototype)
  const s = new StreamState()
  stream[kState] = s
  setUpDefaultController(s, undefined, start, pull, cancel, hwm, size)
  return stream
}

/** CreateReadableByteStream / "set up with byte reading support": a byte stream over algorithms. */
export function createByteStream(pull, cancel, hwm = 0, start = undefined) {
  const stream = Object.create(ReadableStream.prototype)
  const s = new StreamState()
  stream[kState] = s
  setUpByteController(s, undefined, start, pull, cancel, hwm, undefined)
  return stream
}

const createBranch = (pull, cancel) => createReadable(pull, cancel, 1)
const createByteBranch = (pull, cancel) => createByteStream(pull, cancel, 0)

export class ReadableStream {
  constructor(underlyingSource = undefined, queuingStrategy = undefined) {
    if (underlyingSource !== undefined && !isObject(underlyingSource)) {
      throw new TypeError('underlyingSource must be an object')
    }
    // WebIDL converts the arguments first (the strategy dictionary), then the constructor converts
    // the source to an UnderlyingSource dictionary: its members in alphabetical order, each
    // converted as it is read.
    const st = strategy(queuingStrategy)
    const source = underlyingSource === undefined ? null : underlyingSource
    const rawSize = source === null ? undefined : source.autoAllocateChunkSize
    const autoAllocateChunkSize = rawSize === undefined ? undefined : enforceRange(rawSize, 'autoAllocateChunkSize')
    const cancel = callback(source, 'cancel', 'underlyingSource')
    const pull = callback(source, 'pull', 'underlyingSource')
    const start = callback(source, 'start', 'underlyingSource')
    const rawType = source === null ? undefined : source.type
    const type = rawType === undefined ? undefined : String(rawType)
    if (type !== undefined && type !== 'bytes') {
      throw new TypeError(`${type} is not a valid enumeration value for ReadableStreamType`)
    }
    const s = new StreamState()
    this[kState] = s
    if (type === 'bytes') {
      if (st.size !== undefined) throw new RangeError('The strategy for a byte stream cannot have a size function')
      const hwm = extractHighWaterMark(st, 0)
      if (autoAllocateChunkSize === 0) throw new TypeError('autoAllocateChunkSize must be greater than 0')
      setUpByteController(s, source, start, pull, cancel, hwm, autoAllocateChunkSize)
    } else {
      const hwm = extractHighWaterMark(st, 1)
      setUpDefaultController(s, source, start, pull, cancel, hwm, st.size)
    }
  }

  get locked() {
    return stateOf(this).reader !== null
  }

  cancel(reason = undefined) {
    const s = tryState(this)
    if (!s) return rejected(illegal())
    if (s.reader) return rejected(new TypeError('Cannot cancel a stream that is locked'))
    return streamCancel(s, reason)
  }

  getReader(options = undefined) {
    stateOf(this)
    const mode = readerMode(options)
    if (mode === undefined) return new ReadableStreamDefaultReader(this)
    return new ReadableStreamBYOBReader(this)
  }

  pipeThrough(transform, options = undefined) {
    const s = stateOf(this)
    const { readable, writable } = readableWritablePair(transform, isReadable, isWritable)
    const opts = pipeOptions(options, isAbortSignal)
    if (s.reader !== null) throw new TypeError('ReadableStream.prototype.pipeThrough cannot be used on a locked stream')
    const ws = writableState(writable)
    if (ws.writer !== null) {
      throw new TypeError('ReadableStream.prototype.pipeThrough cannot be used on a locked WritableStream')
    }
    const plain = options === undefined || options === null
    const fused = plain ? hooks.fuse?.(this, readable, writable) : undefined
    if (fused) return fused
    then.call(pipe(s, ws, opts), undefined, noop)
    return readable
  }

  pipeTo(destination, options = undefined) {
    const s = tryState(this)
    if (!s) return rejected(illegal())
    if (!isWritable(destination)) {
      return rejected(new TypeError('ReadableStream.prototype.pipeTo: destination is not a WritableStream'))
    }
    let opts
    try {
      opts = pipeOptions(options, isAbortSignal)
    } catch (err) {
      return rejected(err)
    }
    if (s.reader !== null) return rejected(new TypeError('Cannot pipe a locked stream'))
    const ws = writableState(destination)
    if (ws.writer !== null) return rejected(new TypeError('Cannot pipe to a locked stream'))
    return pipe(s, ws, opts)
  }

  tee() {
    const s = stateOf(this)
    return s.controller.isByte ? byteTee(s, createByteBranch) : defaultTee(s, createBranch)
  }

  values(options = undefined) {
    const s = stateOf(this)
    const preventCancel = iteratorPreventCancel(options)
    return makeIterator(acquire(s, null), preventCancel)
  }

  static from(asyncIterable) {
    return from(asyncIterable)
  }
}
Object.defineProperty(ReadableStream.prototype, Symbol.asyncIterator, {
  value: ReadableStream.prototype.values,
  writable: true,
  configurable: true,
})

/** ReadableStreamFromIterable: a stream over an async (or sync) iterable's iterator. */
function from(asyncIterable) {
  let iterator
  const method =
    isObject(asyncIterable) || typeof asyncIterable === 'string' ? asyncIterable[Symbol.asyncIterator] : undefined
  let sync = false
  if (method !== undefined && method !== null) {
    iterator = method.call(asyncIterable)
  } else {
    const syncMethod =
      asyncIterable === null || asyncIterable === undefined ? undefined : asyncIterable[Symbol.iterator]
    if (typeof syncMethod !== 'function') throw new TypeError('ReadableStream.from: the argument is not iterable')
    iterator = syncMethod.call(asyncIterable)
    sync = true
  }
  if (!isObject(iterator)) throw new TypeError('ReadableStream.from: the iterator is not an object')
  const next = iterator.next
  let stream
  const pull = () => {
    let result
    try {
      result = next.call(iterator)
    } catch (err) {
      return rejected(err)
    }
    const settled = (r) => {
      if (!isObject(r)) throw new TypeError('The iterator result is not an object')
      const c = stream[kState].controller
      if (r.done) controllerClose(c)
      else if (sync) return then.call(Promise.resolve(r.value), (value) => controllerEnqueue(c, value))
      else controllerEnqueue(c, r.value)
      return undefined
    }
    return then.call(Promise.resolve(result), settled)
  }
  const cancel = (reason) => {
    let ret
    try {
      ret = iterator.return
    } catch (err) {
      return rejected(err)
    }
    if (ret === undefined || ret === null) return resolvedUndefined
    let result
    try {
      result = ret.call(iterator, reason)
    } catch (err) {
      return rejected(err)
    }
    return then.call(Promise.resolve(result), (r) => {
      if (!isObject(r)) throw new TypeError('The iterator return() result is not an object')
    })
  }
  stream = createReadable(pull, cancel, 0)
  return stream
}
