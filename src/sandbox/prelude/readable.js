// ReadableStream for default (non-byte) sources, written for QuickJS: the standard's algorithms
// (queue, high-water mark, pull, cancel, readers, tee, async iteration, from) with no promise
// where the standard's observable behaviour does not need one. web-streams-polyfill, which follows
// the text literally, spends ~25 us of this interpreter on every chunk read (a read promise, the
// pull promise and two reactions to it), ~42 more per chunk for a tee.
//
// - Inside the prelude, reads are callbacks (`read(reader, request)`): a chunk enqueued while a
//   read waits goes straight to it, so fused TransformStream chains (transform.js), tee branches
//   and response bodies move chunks without a promise. Only public `reader.read()` makes one.
// - A pull that returns something other than a thenable is done at once (the standard waits a
//   microtask); one that returns a thenable is waited for, as the standard says. start always
//   completes in a microtask, so a pull never runs inside the constructor.
// - Byte sources (`type: 'bytes'`) get the polyfill's ReadableStream, which has BYOB readers
//   (chunk "bytestreams", loaded only then); `instanceof` accepts both, and both pipe into the
//   WritableStream of writable.js through pipe() below.
import { load, peek } from './shared.js'
import { isObject, illegal, dictionary, rejected, checkFunction, queuingStrategy, enumerableMembers } from './util.js'

const { then } = Promise.prototype
const resolvedUndefined = Promise.resolve()
const noop = () => {}
const AsyncIteratorPrototype = Object.getPrototypeOf(Object.getPrototypeOf(async function* () {}).prototype)

function microtask(fn) {
  then.call(resolvedUndefined, fn)
}

/**
 * Chunks cross pipes and fused chains in nested calls: a chunk written into a TransformStream can
 * come out and be written into the next one at once. Past MAX_DEPTH such deliveries on the stack,
 * the next waits for a microtask, so a long series of pipes cannot overflow QuickJS's stack.
 */
const MAX_DEPTH = 16
let depth = 0
function nested(fn) {
  if (depth >= MAX_DEPTH) {
    microtask(fn)
    return
  }
  depth++
  try {
    fn()
  } finally {
    depth--
  }
}

/** Whether `value` is an AbortSignal (the guest's class: loaded already if one exists). */
function isAbortSignal(value) {
  return isObject(value) && value instanceof load('events').AbortSignal
}

export function makeReadableStream({ isWritable }) {
  /** The polyfill's classes once a byte stream made them load (instanceof must know them). */
  const bytes = () => peek('bytestreams')
  const kState = Symbol('ReadableStream state')
  const kReader = Symbol('reader state')
  const kController = Symbol('controller state')
  const kIterator = Symbol('iterator state')

  // --- state ---

  /** A stream's state. `reader` is the ReaderState holding the lock. */
  class StreamState {
    constructor() {
      this.state = 'readable'
      this.storedError = undefined
      this.disturbed = false
      this.reader = null
      this.controller = null
    }
  }

  class ControllerState {
    constructor(stream, hwm, size, pull, cancel, thisArg) {
      this.stream = stream
      this.hwm = hwm
      this.size = size
      this.pullFn = pull
      this.cancelFn = cancel
      this.thisArg = thisArg
      this.queue = []
      this.sizes = size ? [] : null
      this.queueTotalSize = 0
      this.closeRequested = false
      this.started = false
      this.pulling = false
      this.pullAgain = false
      this.object = null
    }
  }

  class ReaderState {
    constructor(stream, object) {
      this.stream = stream
      this.object = object
      this.requests = []
      this.closed = null
      this.resolveClosed = null
      this.rejectClosed = null
      /** 'resolved' or 'rejected' once closed or errored; the promise is made on first request. */
      this.settledClosed = null
      this.closedError = undefined
      /** Set by the prelude's own readers (tee, pipe) to hear of an error or close at once. */
      this.onError = null
      this.onClose = null
    }
  }

  // --- the standard's abstract operations ---

  function canCloseOrEnqueue(c) {
    return !c.closeRequested && c.stream.state === 'readable'
  }

  function desiredSize(c) {
    const state = c.stream.state
    if (state === 'errored') return null
    if (state === 'closed') return 0
    return c.hwm - c.queueTotalSize
  }

  function shouldCallPull(c) {
    if (!canCloseOrEnqueue(c) || !c.started) return false
    const reader = c.stream.reader
    if (reader && reader.requests.length > 0) return true
    return desiredSize(c) > 0
  }

  function callPullIfNeeded(c) {
    if (!shouldCallPull(c)) return
    if (c.pulling) {
      c.pullAgain = true
      return
    }
    do {
      c.pullAgain = false
      c.pulling = true
      let result
      try {
        result = c.pullFn ? c.pullFn.call(c.thisArg, c.object) : undefined
      } catch (err) {
        c.pulling = false
        controllerError(c, err)
        return
      }
      if (isObject(result)) {
        then.call(
          Promise.resolve(result),
          () => {
            c.pulling = false
            if (c.pullAgain) {
              c.pullAgain = false
              callPullIfNeeded(c)
            }
          },
          (err) => {
            c.pulling = false
            controllerError(c, err)
          },
        )
        return
      }
      c.pulling = false
    } while (c.pullAgain && shouldCallPull(c))
  }

  function clearAlgorithms(c) {
    c.pullFn = undefined
    c.cancelFn = undefined
    c.size = undefined
  }

  function resetQueue(c) {
    c.queue.length = 0
    if (c.sizes) c.sizes.length = 0
    c.queueTotalSize = 0
  }

  function controllerEnqueue(c, chunk) {
    if (!canCloseOrEnqueue(c)) throw new TypeError('The stream is not in a state that permits enqueue')
    const reader = c.stream.reader
    if (reader && reader.requests.length > 0) {
      reader.requests.shift().chunk(chunk)
    } else {
      let size = 1
      if (c.size) {
        try {
          size = c.size(chunk)
        } catch (err) {
          controllerError(c, err)
          throw err
        }
        size = Number(size)
        if (!(size >= 0) || size === Infinity) {
          const err = new RangeError(
            'The return value of a queuing strategy size function must be a finite, non-NaN, non-negative number',
          )
          controllerError(c, err)
          throw err
        }
        c.sizes.push(size)
      }
      c.queue.push(chunk)
      c.queueTotalSize += size
    }
    callPullIfNeeded(c)
  }

  function controllerClose(c) {
    if (!canCloseOrEnqueue(c)) throw new TypeError('The stream is not in a state that permits close')
    c.closeRequested = true
    if (c.queue.length === 0) {
      clearAlgorithms(c)
      streamClose(c.stream)
    }
  }

  function controllerError(c, err) {
    if (c.stream.state !== 'readable') return
    resetQueue(c)
    clearAlgorithms(c)
    streamError(c.stream, err)
  }

  function dequeue(c) {
    const chunk = c.queue.shift()
    if (c.sizes) {
      c.queueTotalSize -= c.sizes.shift()
      if (c.queueTotalSize < 0) c.queueTotalSize = 0
    } else {
      c.queueTotalSize -= 1
    }
    return chunk
  }

  function streamClose(s) {
    s.state = 'closed'
    const reader = s.reader
    if (!reader) return
    if (reader.resolveClosed) reader.resolveClosed()
    reader.settledClosed = 'resolved'
    const requests = reader.requests
    reader.requests = []
    for (const r of requests) r.close()
    if (reader.onClose) reader.onClose()
  }

  function streamError(s, err) {
    s.state = 'errored'
    s.storedError = err
    const reader = s.reader
    if (!reader) return
    if (reader.rejectClosed) reader.rejectClosed(err)
    reader.settledClosed = 'rejected'
    const requests = reader.requests
    reader.requests = []
    for (const r of requests) r.error(err)
    // Errors of a stream read by the prelude reach the reader's owner (tee, pipe) as they happen.
    if (reader.onError) reader.onError(err)
  }

  /** ReadableStreamCancel: a promise of undefined once the source's cancel is done. */
  function streamCancel(s, reason) {
    s.disturbed = true
    if (s.state === 'closed') return resolvedUndefined
    if (s.state === 'errored') return rejected(s.storedError)
    streamClose(s)
    const c = s.controller
    resetQueue(c)
    const cancel = c.cancelFn
    const thisArg = c.thisArg
    clearAlgorithms(c)
    let result
    try {
      result = cancel ? cancel.call(thisArg, reason) : undefined
    } catch (err) {
      return rejected(err)
    }
    return then.call(Promise.resolve(result), noop)
  }

  /** ReadableStreamDefaultReaderRead with a request of callbacks: chunk, close, error. */
  function read(reader, request) {
    const s = reader.stream
    s.disturbed = true
    if (s.state === 'closed') request.close()
    else if (s.state === 'errored') request.error(s.storedError)
    else {
      const c = s.controller
      if (c.queue.length > 0) {
        const chunk = dequeue(c)
        if (c.closeRequested && c.queue.length === 0) {
          clearAlgorithms(c)
          streamClose(s)
        } else {
          callPullIfNeeded(c)
        }
        request.chunk(chunk)
      } else {
        reader.requests.push(request)
        callPullIfNeeded(c)
      }
    }
  }

  function acquire(s, object) {
    if (s.reader) throw new TypeError('ReadableStream is locked')
    const reader = new ReaderState(s, object)
    s.reader = reader
    reader.settledClosed = s.state === 'readable' ? null : s.state === 'closed' ? 'resolved' : 'rejected'
    return reader
  }

  /** The reader's `closed` promise, made on first request. */
  function closedPromise(reader) {
    if (!reader.closed) {
      if (reader.settledClosed === 'resolved') reader.closed = resolvedUndefined
      else if (reader.settledClosed === 'rejected')
        reader.closed = rejected(reader.closedError ?? reader.stream.storedError)
      else {
        reader.closed = new Promise((resolve, reject) => {
          reader.resolveClosed = resolve
          reader.rejectClosed = reject
        })
        then.call(reader.closed, undefined, noop)
      }
    }
    return reader.closed
  }

  function release(reader) {
    const s = reader.stream
    if (!s) return
    const err = new TypeError('Reader was released')
    if (reader.rejectClosed && reader.settledClosed === null) reader.rejectClosed(err)
    else reader.closed = null
    reader.settledClosed = 'rejected'
    reader.closedError = err
    s.reader = null
    reader.stream = null
    const requests = reader.requests
    reader.requests = []
    for (const r of requests) r.error(err)
  }

  // --- the public classes ---

  function tryState(stream) {
    return isObject(stream) ? stream[kState] : undefined
  }

  function stateOf(stream) {
    const s = tryState(stream)
    if (!s) throw illegal()
    return s
  }

  /** Makes a stream over algorithms (no underlying source object): tee branches, from(). */
  function create(pull, cancel, hwm = 1) {
    const stream = Object.create(ReadableStream.prototype)
    setUp(stream, undefined, undefined, pull, cancel, hwm, undefined)
    return stream
  }

  function setUp(stream, thisArg, start, pull, cancel, hwm, size) {
    const s = new StreamState()
    stream[kState] = s
    const c = new ControllerState(s, hwm, size, pull, cancel, thisArg)
    s.controller = c
    const object = Object.create(ReadableStreamDefaultController.prototype)
    object[kController] = c
    c.object = object
    const started = start ? start.call(thisArg, object) : undefined
    then.call(
      Promise.resolve(started),
      () => {
        c.started = true
        callPullIfNeeded(c)
      },
      (err) => controllerError(c, err),
    )
  }

  class ReadableStream {
    constructor(underlyingSource = undefined, strategy = undefined) {
      if (underlyingSource === null) throw new TypeError('underlyingSource must be an object')
      const source = underlyingSource === undefined ? {} : underlyingSource
      if (!isObject(source)) throw new TypeError('underlyingSource must be an object')
      const st = dictionary(strategy, 'strategy')
      // The standard reads the source's members in this (alphabetical) order, then the strategy's.
      void source.autoAllocateChunkSize
      const cancel = source.cancel
      const pull = source.pull
      const start = source.start
      const type = source.type
      if (type !== undefined) {
        if (String(type) === 'bytes') return new (load('bytestreams').ReadableStream)(underlyingSource, strategy)
        throw new TypeError(`${type} is not a valid enumeration value for ReadableStreamType`)
      }
      checkFunction(cancel, 'underlyingSource.cancel')
      checkFunction(pull, 'underlyingSource.pull')
      checkFunction(start, 'underlyingSource.start')
      const { hwm, size } = queuingStrategy(st, 1)
      setUp(this, source, start, pull, cancel, hwm, size)
    }

    static [Symbol.hasInstance](value) {
      if (!isObject(value)) return false
      if (kState in value) return true
      const b = bytes()
      return b !== undefined && value instanceof b.ReadableStream
    }

    get locked() {
      return stateOf(this).reader !== null
    }

    /** What the response and request bodies check (the polyfill's field of the same name). */
    get _disturbed() {
      return stateOf(this).disturbed
    }

    cancel(reason = undefined) {
      const s = tryState(this)
      if (!s) return rejected(illegal())
      if (s.reader) return rejected(new TypeError('Cannot cancel a stream that is locked'))
      return streamCancel(s, reason)
    }

    getReader(options = undefined) {
      stateOf(this)
      const mode = options === undefined || options === null ? undefined : options.mode
      if (mode === undefined) return new ReadableStreamDefaultReader(this)
      if (String(mode) === 'byob')
        throw new TypeError('Cannot get a BYOB reader for a stream that is not a byte stream')
      throw new TypeError(`${mode} is not a valid enumeration value for ReadableStreamReaderMode`)
    }

    pipeThrough(transform, options = undefined) {
      const s = stateOf(this)
      return pipeThroughAny(this, s.reader !== null, transform, options)
    }

    pipeTo(destination, options = undefined) {
      const s = tryState(this)
      if (!s) return rejected(illegal())
      return pipeChecked(ownSource(this), s.reader !== null, destination, options)
    }

    tee() {
      return tee(stateOf(this))
    }

    values(options = undefined) {
      const s = stateOf(this)
      const preventCancel = options === undefined || options === null ? false : Boolean(options.preventCancel)
      const reader = acquire(s, null)
      const iterator = Object.create(ReadableStreamAsyncIteratorPrototype)
      iterator[kIterator] = { reader, preventCancel, finished: false, ongoing: undefined, reading: false }
      return iterator
    }

    static from(asyncIterable) {
      return from(asyncIterable)
    }
  }
  ReadableStream.prototype[Symbol.asyncIterator] = ReadableStream.prototype.values

  const pipeThroughAny = (source, locked, transform, options) => {
    if (!isObject(transform)) throw new TypeError('transform must be a ReadableWritablePair')
    const readable = transform.readable
    const writable = transform.writable
    if (!(readable instanceof ReadableStream)) throw new TypeError('transform.readable must be a ReadableStream')
    if (!isWritable(writable)) throw new TypeError('transform.writable must be a WritableStream')
    if (locked) throw new TypeError('ReadableStream.prototype.pipeThrough cannot be used on a locked stream')
    if (writable.locked)
      throw new TypeError('ReadableStream.prototype.pipeThrough cannot be used on a locked WritableStream')
    const fused = options === undefined ? hooks.fuse?.(source, readable, writable) : undefined
    if (fused) return fused
    const piped = source.pipeTo(writable, options)
    then.call(piped, undefined, noop)
    return readable
  }
  const hooks = { fuse: undefined }

  /**
   * ReadableStreamPipeTo, as the standard writes it, reading `source` (ownSource or
   * foreignSource) with callbacks and writing through the destination's public writer.
   */
  function pipe(source, destination, options) {
    const opts = options === undefined || options === null ? {} : options
    if (!isObject(opts)) return rejected(new TypeError('options must be an object'))
    // The standard reads these in this (alphabetical) order.
    const preventAbort = Boolean(opts.preventAbort)
    const preventCancel = Boolean(opts.preventCancel)
    const preventClose = Boolean(opts.preventClose)
    const signal = opts.signal
    if (signal !== undefined && !isAbortSignal(signal))
      return rejected(new TypeError('options.signal must be an AbortSignal'))
    const writer = destination.getWriter()
    const src = source.open()
    let shuttingDown = false
    let reading = false
    let pumping = false
    let pumpAgain = false
    let currentWrite = resolvedUndefined
    let destState = 'writable'
    let destError
    let resolvePipe
    let rejectPipe
    const promise = new Promise((resolve, reject) => {
      resolvePipe = resolve
      rejectPipe = reject
    })

    const finalize = (isError, error) => {
      writer.releaseLock()
      src.release()
      if (signal !== undefined) signal.removeEventListener('abort', abortAlgorithm)
      if (isError) rejectPipe(error)
      else resolvePipe(undefined)
    }
    // Every chunk read is written (its write settled) before the pipe acts and ends.
    const afterWrites = (fn) => {
      if (destState !== 'writable') fn()
      else then.call(currentWrite, fn, fn)
    }
    const shutdownWithAction = (action, originalIsError, originalError) => {
      if (shuttingDown) return
      shuttingDown = true
      afterWrites(() => {
        let p
        try {
          p = Promise.resolve(action())
        } catch (err) {
          p = rejected(err)
        }
        then.call(
          p,
          () => finalize(originalIsError, originalError),
          (err) => finalize(true, err),
        )
      })
    }
    const shutdown = (isError, error) => {
      if (shuttingDown) return
      shuttingDown = true
      afterWrites(() => finalize(isError, error))
    }

    const sourceErrored = (err) => {
      if (!preventAbort) shutdownWithAction(() => writer.abort(err), true, err)
      else shutdown(true, err)
    }
    const sourceClosed = () => {
      if (preventClose) shutdown()
      else
        shutdownWithAction(() => {
          if (destState === 'closed') return undefined
          if (destState === 'errored') return rejected(destError)
          return writer.close()
        })
    }
    const destErrored = (err) => {
      destState = 'errored'
      destError = err
      if (!preventCancel) shutdownWithAction(() => src.cancel(err), true, err)
      else shutdown(true, err)
    }
    const destClosed = () => {
      destState = 'closed'
      const err = new TypeError('the destination writable stream closed before all data could be piped to it')
      if (!preventCancel) shutdownWithAction(() => src.cancel(err), true, err)
      else shutdown(true, err)
    }
    function abortAlgorithm() {
      const error = signal.reason
      shutdownWithAction(
        () =>
          Promise.all([
            !preventAbort && destState === 'writable' ? writer.abort(error) : undefined,
            !preventCancel && src.state() === 'readable' ? src.cancel(error) : undefined,
          ]),
        true,
        error,
      )
    }

    const request = {
      // `reading` stays true until the chunk is written (a deferred write keeps later reads back).
      chunk(chunk) {
        nested(() => {
          reading = false
          if (shuttingDown) return
          try {
            currentWrite = writer.write(chunk)
            then.call(currentWrite, undefined, noop)
            pump()
          } catch (err) {
            sourceErrored(err)
          }
        })
      },
      close() {
        reading = false
        sourceClosed()
      },
      error(err) {
        reading = false
        sourceErrored(err)
      },
    }
    // Reads while the destination has room; a read that completes at once loops, not recurses.
    const pump = () => {
      if (pumping) {
        pumpAgain = true
        return
      }
      pumping = true
      do {
        pumpAgain = false
        if (shuttingDown || reading) break
        const room = writer.desiredSize
        if (room === null) break
        if (room <= 0) {
          then.call(writer.ready, pump, noop)
          break
        }
        reading = true
        src.read(request)
      } while (pumpAgain)
      pumping = false
    }

    src.onError = (err) => {
      // During a read (its pull failed), that read's chunk is written first, as the standard has it.
      if (reading) microtask(() => sourceErrored(err))
      else sourceErrored(err)
    }
    src.onClose = () => {
      if (!reading) sourceClosed()
    }
    then.call(writer.closed, destClosed, destErrored)

    if (signal !== undefined) {
      if (signal.aborted) {
        abortAlgorithm()
        return promise
      }
      signal.addEventListener('abort', abortAlgorithm)
    }
    const state = src.state()
    if (state === 'errored') sourceErrored(src.storedError())
    else if (state === 'closed') sourceClosed()
    // The first read waits for the destination to be ready (and started), as the standard's does.
    else then.call(writer.ready, pump, noop)
    return promise
  }

  function tee(s) {
    const reader = acquire(s, null)
    let reading = false
    let readAgain = false
    let canceled1 = false
    let canceled2 = false
    let reason1
    let reason2
    let branch1
    let branch2
    let resolveCancel
    const cancelPromise = new Promise((resolve) => {
      resolveCancel = resolve
    })
    const request = {
      chunk(chunk) {
        // As the standard: the branches get the chunk in a microtask, after any error of the read.
        microtask(() => {
          readAgain = false
          if (!canceled1) enqueueIfOpen(branch1, chunk)
          if (!canceled2) enqueueIfOpen(branch2, chunk)
          reading = false
          if (readAgain) pull()
        })
      },
      close() {
        reading = false
        if (!canceled1) closeIfOpen(branch1)
        if (!canceled2) closeIfOpen(branch2)
        if (!canceled1 || !canceled2) resolveCancel(undefined)
      },
      error() {
        reading = false
      },
    }
    const pull = () => {
      if (reading) {
        readAgain = true
        return
      }
      reading = true
      read(reader, request)
    }
    const cancelBoth = () => resolveCancel(streamCancel(s, [reason1, reason2]))
    branch1 = create(pull, (reason) => {
      canceled1 = true
      reason1 = reason
      if (canceled2) cancelBoth()
      return cancelPromise
    })
    branch2 = create(pull, (reason) => {
      canceled2 = true
      reason2 = reason
      if (canceled1) cancelBoth()
      return cancelPromise
    })
    reader.onError = (err) => {
      controllerError(branch1[kState].controller, err)
      controllerError(branch2[kState].controller, err)
      if (!canceled1 || !canceled2) resolveCancel(undefined)
    }
    return [branch1, branch2]
  }

  function enqueueIfOpen(stream, chunk) {
    const c = stream[kState].controller
    if (canCloseOrEnqueue(c)) controllerEnqueue(c, chunk)
  }

  function closeIfOpen(stream) {
    const c = stream[kState].controller
    if (canCloseOrEnqueue(c)) controllerClose(c)
  }

  function from(asyncIterable) {
    let iterator
    let next
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
    next = iterator.next
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
    stream = create(pull, cancel, 0)
    return stream
  }

  // --- readers, controller, iterator ---

  /** The reader state of `object`, or undefined when it is not one of our readers. */
  function tryReader(object) {
    return isObject(object) ? object[kReader] : undefined
  }

  function readerOf(object) {
    const r = tryReader(object)
    if (!r) throw illegal()
    return r
  }

  class ReadableStreamDefaultReader {
    constructor(stream) {
      if (!(stream instanceof ReadableStream))
        throw new TypeError('ReadableStreamDefaultReader: the argument is not a ReadableStream')
      if (!(kState in stream)) return new (load('bytestreams').ReadableStreamDefaultReader)(stream)
      this[kReader] = acquire(stream[kState], this)
    }

    static [Symbol.hasInstance](value) {
      if (!isObject(value)) return false
      if (kReader in value) return true
      const b = bytes()
      return b !== undefined && value instanceof b.ReadableStreamDefaultReader
    }

    get closed() {
      const r = tryReader(this)
      return r ? closedPromise(r) : rejected(illegal())
    }

    read() {
      const r = tryReader(this)
      if (!r) return rejected(illegal())
      if (!r.stream) return rejected(new TypeError('Cannot read from a released reader'))
      return new Promise((resolve, reject) => read(r, new PromiseRequest(resolve, reject)))
    }

    releaseLock() {
      release(readerOf(this))
    }

    cancel(reason = undefined) {
      const r = tryReader(this)
      if (!r) return rejected(illegal())
      if (!r.stream) return rejected(new TypeError('Cannot cancel a stream through a released reader'))
      return streamCancel(r.stream, reason)
    }
  }

  /** A public read's request: settles its promise. */
  class PromiseRequest {
    constructor(resolve, reject) {
      this.resolve = resolve
      this.error = reject
    }
    chunk(value) {
      this.resolve({ value, done: false })
    }
    close() {
      this.resolve({ value: undefined, done: true })
    }
  }

  function controllerOf(object) {
    const c = isObject(object) ? object[kController] : undefined
    if (!c) throw illegal()
    return c
  }

  class ReadableStreamDefaultController {
    constructor() {
      throw new TypeError('Illegal constructor')
    }
    static [Symbol.hasInstance](value) {
      if (!isObject(value)) return false
      if (kController in value) return true
      const b = bytes()
      return b !== undefined && value instanceof b.ReadableStreamDefaultController
    }
    get desiredSize() {
      return desiredSize(controllerOf(this))
    }
    close() {
      controllerClose(controllerOf(this))
    }
    enqueue(chunk = undefined) {
      controllerEnqueue(controllerOf(this), chunk)
    }
    error(e = undefined) {
      controllerError(controllerOf(this), e)
    }
  }

  const ReadableStreamAsyncIteratorPrototype = Object.create(AsyncIteratorPrototype, {
    next: {
      value: function next() {
        const it = this[kIterator]
        if (!it) return rejected(illegal())
        return queueStep(it, () => nextSteps(it))
      },
      writable: true,
      configurable: true,
    },
    return: {
      value: function return_(value = undefined) {
        const it = this[kIterator]
        if (!it) return rejected(illegal())
        return queueStep(it, () => returnSteps(it, value))
      },
      writable: true,
      configurable: true,
    },
  })

  /**
   * Runs an iterator step after the one under way, if any. A step that completes at once (a chunk
   * was queued) leaves nothing under way, so the next one, or a return() when a loop breaks, runs
   * at once too.
   */
  function queueStep(it, steps) {
    if (it.ongoing) {
      it.ongoing = then.call(it.ongoing, steps, steps)
      return it.ongoing
    }
    it.reading = true
    const p = steps()
    if (it.reading) it.ongoing = p
    return p
  }

  function nextSteps(it) {
    if (it.finished) {
      it.reading = false
      return Promise.resolve({ value: undefined, done: true })
    }
    const reader = it.reader
    if (!reader.stream) {
      it.reading = false
      return rejected(new TypeError('Cannot iterate a stream through a released reader'))
    }
    return new Promise((resolve, reject) => {
      read(reader, {
        chunk(value) {
          it.ongoing = undefined
          it.reading = false
          resolve({ value, done: false })
        },
        close() {
          it.ongoing = undefined
          it.reading = false
          it.finished = true
          release(reader)
          resolve({ value: undefined, done: true })
        },
        error(err) {
          it.ongoing = undefined
          it.reading = false
          it.finished = true
          release(reader)
          reject(err)
        },
      })
    })
  }

  function returnSteps(it, value) {
    it.reading = false
    if (it.finished) return Promise.resolve({ value, done: true })
    it.finished = true
    const reader = it.reader
    if (!reader.stream) return rejected(new TypeError('Cannot finish iterating through a released reader'))
    if (!it.preventCancel) {
      const result = streamCancel(reader.stream, value)
      release(reader)
      return then.call(result, () => ({ value, done: true }))
    }
    release(reader)
    return Promise.resolve({ value, done: true })
  }

  enumerableMembers(ReadableStream, ReadableStreamDefaultReader, ReadableStreamDefaultController)
  Object.defineProperty(ReadableStream.prototype, '_disturbed', { enumerable: false })
  for (const name of ['pipeThrough', 'pipeTo'])
    Object.defineProperty(ReadableStream.prototype[name], 'length', { value: 1 })

  /**
   * For the prelude: a reader of any ReadableStream with callback reads. Ours read without
   * promises; the polyfill's (byte streams) through their reader's promises.
   */
  function internalReader(stream) {
    return (kState in stream ? ownSource(stream) : foreignSource(stream)).open()
  }

  /** pipe()'s view of one of our streams: `open()` locks it and reads with callbacks. */
  function ownSource(stream) {
    return {
      open() {
        const s = stream[kState]
        const reader = acquire(s, null)
        s.disturbed = true
        return {
          state: () => s.state,
          storedError: () => s.storedError,
          read: (request) =>
            reader.stream ? read(reader, request) : request.error(new TypeError('Reader was released')),
          cancel: (reason) => (reader.stream ? streamCancel(s, reason) : resolvedUndefined),
          release: () => release(reader),
          set onError(fn) {
            reader.onError = fn
          },
          set onClose(fn) {
            reader.onClose = fn
          },
        }
      },
    }
  }

  /** pipe()'s view of another ReadableStream (the polyfill's byte streams): its public reader. */
  function foreignSource(stream) {
    return {
      open() {
        const reader = stream.getReader()
        let state = 'readable'
        let storedError
        const hooks = { onError: null, onClose: null }
        then.call(
          reader.closed,
          () => {
            if (state !== 'readable') return
            state = 'closed'
            hooks.onClose?.()
          },
          (err) => {
            if (state !== 'readable') return
            state = 'errored'
            storedError = err
            hooks.onError?.(err)
          },
        )
        return {
          state: () => state,
          storedError: () => storedError,
          read: (request) =>
            then.call(
              reader.read(),
              (r) => (r.done ? request.close() : request.chunk(r.value)),
              (err) => request.error(err),
            ),
          cancel: (reason) => reader.cancel(reason),
          release: () => reader.releaseLock(),
          set onError(fn) {
            hooks.onError = fn
          },
          set onClose(fn) {
            hooks.onClose = fn
          },
        }
      },
    }
  }

  /** ReadableStream.prototype.pipeTo for another stream class (the polyfill's byte streams). */
  function pipeForeign(stream, destination, options) {
    return pipeChecked(foreignSource(stream), stream.locked, destination, options)
  }

  /** pipeTo's checks of both ends, then the pipe. */
  function pipeChecked(source, locked, destination, options) {
    if (!isWritable(destination)) {
      return rejected(new TypeError('ReadableStream.prototype.pipeTo: destination is not a WritableStream'))
    }
    if (locked) return rejected(new TypeError('Cannot pipe a locked stream'))
    if (destination.locked) return rejected(new TypeError('Cannot pipe to a locked stream'))
    return pipe(source, destination, options)
  }

  return {
    pipeForeign,
    nested,
    ReadableStream,
    ReadableStreamDefaultReader,
    ReadableStreamDefaultController,
    internalReader,
    pipeThroughAny,
    hooks,
  }
}
