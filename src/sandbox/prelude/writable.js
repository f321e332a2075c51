// WritableStream, its writer and controller, written for QuickJS like readable.js: the standard's
// state machine (writable, erroring, errored, closed; one write or close in flight; a pending
// abort) with the standard's algorithm names, and no promise beyond the ones it hands out.
// Together with readable.js and transform.js it lets the streams chunk run without
// web-streams-polyfill, which now loads only for byte streams.
import { load } from './shared.js'
import { isObject, illegal, dictionary, rejected, checkFunction, queuingStrategy, enumerableMembers } from './util.js'

const { then } = Promise.prototype
const noop = () => {}
const CLOSE = Symbol('close sentinel')

/** A promise with its settle functions, and whether it has settled (for "if pending"). */
class Deferred {
  constructor() {
    this.settled = false
    this.promise = new Promise((resolve, reject) => {
      this.res = resolve
      this.rej = reject
    })
  }
  resolve(value) {
    this.settled = true
    this.res(value)
  }
  reject(err) {
    this.settled = true
    then.call(this.promise, undefined, noop)
    this.rej(err)
  }
}

function settledDeferred(err, isError) {
  const d = new Deferred()
  if (isError) d.reject(err)
  else d.resolve(undefined)
  return d
}

export function makeWritableStream() {
  const kState = Symbol('WritableStream state')
  const kWriter = Symbol('writer state')
  const kController = Symbol('controller state')

  class StreamState {
    constructor() {
      this.state = 'writable'
      this.storedError = undefined
      this.writer = null
      this.controller = null
      this.writeRequests = []
      this.inFlightWriteRequest = null
      this.closeRequest = null
      this.inFlightCloseRequest = null
      this.pendingAbortRequest = null
      this.backpressure = false
    }
  }

  class ControllerState {
    constructor(stream, sink, write, close, abort, hwm, size) {
      this.stream = stream
      this.sink = sink
      this.writeFn = write
      this.closeFn = close
      this.abortFn = abort
      this.hwm = hwm
      this.size = size
      this.queue = []
      this.sizes = []
      this.queueTotalSize = 0
      this.started = false
      this.abortController = null
      this.aborted = false
      this.abortReason = undefined
      this.object = null
    }
  }

  class WriterState {
    constructor(stream) {
      this.stream = stream
      this.ready = null
      this.closed = null
    }
  }

  // --- WritableStream abstract operations ---

  function closeQueuedOrInFlight(s) {
    return s.closeRequest !== null || s.inFlightCloseRequest !== null
  }

  function hasOperationMarkedInFlight(s) {
    return s.inFlightWriteRequest !== null || s.inFlightCloseRequest !== null
  }

  function streamAbort(s, reason) {
    if (s.state === 'closed' || s.state === 'errored') return Promise.resolve(undefined)
    signalAbort(s.controller, reason)
    const state = s.state
    if (state === 'closed' || state === 'errored') return Promise.resolve(undefined)
    if (s.pendingAbortRequest !== null) return s.pendingAbortRequest.deferred.promise
    const wasAlreadyErroring = state === 'erroring'
    const request = { deferred: new Deferred(), reason: wasAlreadyErroring ? undefined : reason, wasAlreadyErroring }
    s.pendingAbortRequest = request
    if (!wasAlreadyErroring) startErroring(s, reason)
    return request.deferred.promise
  }

  function streamClose(s) {
    const state = s.state
    if (state === 'closed' || state === 'errored') {
      return rejected(new TypeError('The stream is closed or errored and cannot be closed'))
    }
    const deferred = new Deferred()
    s.closeRequest = deferred
    const writer = s.writer
    if (writer !== null && s.backpressure && state === 'writable') writer.ready.resolve(undefined)
    controllerEnqueue(s.controller, CLOSE, 0)
    advanceQueueIfNeeded(s.controller)
    return deferred.promise
  }

  function dealWithRejection(s, error) {
    if (s.state === 'writable') startErroring(s, error)
    else finishErroring(s)
  }

  function startErroring(s, reason) {
    s.state = 'erroring'
    s.storedError = reason
    const writer = s.writer
    if (writer !== null) ensureReadyRejected(writer, reason)
    if (!hasOperationMarkedInFlight(s) && s.controller.started) finishErroring(s)
  }

  function finishErroring(s) {
    s.state = 'errored'
    const c = s.controller
    c.queue.length = 0
    c.sizes.length = 0
    c.queueTotalSize = 0
    const storedError = s.storedError
    const requests = s.writeRequests
    s.writeRequests = []
    for (const r of requests) r.reject(storedError)
    const abortRequest = s.pendingAbortRequest
    if (abortRequest === null) {
      rejectCloseAndClosedIfNeeded(s)
      return
    }
    s.pendingAbortRequest = null
    if (abortRequest.wasAlreadyErroring) {
      abortRequest.deferred.reject(storedError)
      rejectCloseAndClosedIfNeeded(s)
      return
    }
    const abort = c.abortFn
    const sink = c.sink
    clearAlgorithms(c)
    let result
    try {
      result = Promise.resolve(abort ? abort.call(sink, abortRequest.reason) : undefined)
    } catch (err) {
      result = rejected(err)
    }
    then.call(
      result,
      () => {
        abortRequest.deferred.resolve(undefined)
        rejectCloseAndClosedIfNeeded(s)
      },
      (err) => {
        abortRequest.deferred.reject(err)
        rejectCloseAndClosedIfNeeded(s)
      },
    )
  }

  function finishInFlightWrite(s) {
    s.inFlightWriteRequest.resolve(undefined)
    s.inFlightWriteRequest = null
  }

  function finishInFlightWriteWithError(s, error) {
    s.inFlightWriteRequest.reject(error)
    s.inFlightWriteRequest = null
    dealWithRejection(s, error)
  }

  function finishInFlightClose(s) {
    s.inFlightCloseRequest.resolve(undefined)
    s.inFlightCloseRequest = null
    if (s.state === 'erroring') {
      s.storedError = undefined
      if (s.pendingAbortRequest !== null) {
        s.pendingAbortRequest.deferred.resolve(undefined)
        s.pendingAbortRequest = null
      }
    }
    s.state = 'closed'
    const writer = s.writer
    if (writer !== null) writer.closed.resolve(undefined)
  }

  function finishInFlightCloseWithError(s, error) {
    s.inFlightCloseRequest.reject(error)
    s.inFlightCloseRequest = null
    if (s.pendingAbortRequest !== null) {
      s.pendingAbortRequest.deferred.reject(error)
      s.pendingAbortRequest = null
    }
    dealWithRejection(s, error)
  }

  function rejectCloseAndClosedIfNeeded(s) {
    if (s.closeRequest !== null) {
      s.closeRequest.reject(s.storedError)
      s.closeRequest = null
    }
    const writer = s.writer
    if (writer !== null) {
      writer.closed.reject(s.storedError)
    }
  }

  function updateBackpressure(s, backpressure) {
    const writer = s.writer
    if (writer !== null && backpressure !== s.backpressure) {
      if (backpressure) writer.ready = new Deferred()
      else writer.ready.resolve(undefined)
    }
    s.backpressure = backpressure
  }

  // --- the controller ---

  function signalAbort(c, reason) {
    if (c.aborted) return
    c.aborted = true
    c.abortReason = reason
    if (c.abortController) c.abortController.abort(reason)
  }

  function clearAlgorithms(c) {
    c.writeFn = undefined
    c.closeFn = undefined
    c.abortFn = undefined
    c.size = undefined
  }

  function controllerEnqueue(c, value, size) {
    c.queue.push(value)
    c.sizes.push(size)
    c.queueTotalSize += size
  }

  function dequeue(c) {
    c.queue.shift()
    c.queueTotalSize -= c.sizes.shift()
    if (c.queueTotalSize < 0) c.queueTotalSize = 0
  }

  function desiredSize(c) {
    return c.hwm - c.queueTotalSize
  }

  function chunkSize(c, chunk) {
    if (!c.size) return 1
    try {
      return c.size(chunk)
    } catch (err) {
      errorIfNeeded(c, err)
      return 1
    }
  }

  function controllerWrite(c, chunk, size) {
    const s = c.stream
    const n = Number(size)
    if (!(n >= 0) || n === Infinity) {
      errorIfNeeded(
        c,
        new RangeError(
          'The return value of a queuing strategy size function must be a finite, non-NaN, non-negative number',
        ),
      )
      return
    }
    controllerEnqueue(c, chunk, n)
    if (!closeQueuedOrInFlight(s) && s.state === 'writable') updateBackpressure(s, desiredSize(c) <= 0)
    advanceQueueIfNeeded(c)
  }

  function advanceQueueIfNeeded(c) {
    const s = c.stream
    if (!c.started || s.inFlightWriteRequest !== null) return
    if (s.state === 'erroring') {
      finishErroring(s)
      return
    }
    if (c.queue.length === 0) return
    const value = c.queue[0]
    if (value === CLOSE) processClose(c)
    else processWrite(c, value)
  }

  function processClose(c) {
    const s = c.stream
    s.inFlightCloseRequest = s.closeRequest
    s.closeRequest = null
    dequeue(c)
    const close = c.closeFn
    const sink = c.sink
    clearAlgorithms(c)
    let result
    try {
      result = close ? close.call(sink) : undefined
    } catch (err) {
      finishInFlightCloseWithError(s, err)
      return
    }
    if (!isObject(result)) {
      // A sink whose close returns no promise is done; the standard still settles a tick later.
      then.call(Promise.resolve(), () => finishInFlightClose(s))
      return
    }
    then.call(
      Promise.resolve(result),
      () => finishInFlightClose(s),
      (err) => finishInFlightCloseWithError(s, err),
    )
  }

  function processWrite(c, chunk) {
    const s = c.stream
    s.inFlightWriteRequest = s.writeRequests.shift()
    let result
    try {
      result = c.writeFn ? c.writeFn.call(c.sink, chunk, c.object) : undefined
    } catch (err) {
      writeFailed(c, err)
      return
    }
    const done = () => {
      finishInFlightWrite(s)
      dequeue(c)
      if (!closeQueuedOrInFlight(s) && s.state === 'writable') updateBackpressure(s, desiredSize(c) <= 0)
      advanceQueueIfNeeded(c)
    }
    if (!isObject(result)) {
      then.call(Promise.resolve(), done)
      return
    }
    then.call(Promise.resolve(result), done, (err) => writeFailed(c, err))
  }

  function writeFailed(c, err) {
    if (c.stream.state === 'writable') clearAlgorithms(c)
    finishInFlightWriteWithError(c.stream, err)
  }

  function errorIfNeeded(c, err) {
    if (c.stream.state === 'writable') controllerError(c, err)
  }

  function controllerError(c, err) {
    clearAlgorithms(c)
    startErroring(c.stream, err)
  }

  // --- the writer ---

  function ensureReadyRejected(writer, err) {
    if (writer.ready.settled) writer.ready = settledDeferred(err, true)
    else writer.ready.reject(err)
  }

  function ensureClosedRejected(writer, err) {
    if (writer.closed.settled) writer.closed = settledDeferred(err, true)
    else writer.closed.reject(err)
  }

  function writerDesiredSize(writer) {
    const s = writer.stream
    if (s.state === 'errored' || s.state === 'erroring') return null
    if (s.state === 'closed') return 0
    return desiredSize(s.controller)
  }

  function writerWrite(writer, chunk) {
    const s = writer.stream
    const c = s.controller
    const size = chunkSize(c, chunk)
    if (s !== writer.stream) return rejected(new TypeError('The writer was released'))
    const state = s.state
    if (state === 'errored') return rejected(s.storedError)
    if (closeQueuedOrInFlight(s) || state === 'closed') {
      return rejected(new TypeError('The stream is closing or closed and cannot be written to'))
    }
    if (state === 'erroring') return rejected(s.storedError)
    const request = new Deferred()
    s.writeRequests.push(request)
    controllerWrite(c, chunk, size)
    return request.promise
  }

  function writerRelease(writer) {
    const s = writer.stream
    const err = new TypeError('Writer was released')
    ensureReadyRejected(writer, err)
    ensureClosedRejected(writer, err)
    s.writer = null
    writer.stream = null
  }

  function acquireWriter(s) {
    if (s.writer !== null) throw new TypeError('WritableStream is locked')
    const writer = new WriterState(s)
    s.writer = writer
    const state = s.state
    if (state === 'writable') {
      writer.ready = !closeQueuedOrInFlight(s) && s.backpressure ? new Deferred() : settledDeferred(undefined, false)
      writer.closed = new Deferred()
    } else if (state === 'erroring') {
      writer.ready = settledDeferred(s.storedError, true)
      writer.closed = new Deferred()
    } else if (state === 'closed') {
      writer.ready = settledDeferred(undefined, false)
      writer.closed = settledDeferred(undefined, false)
    } else {
      writer.ready = settledDeferred(s.storedError, true)
      writer.closed = settledDeferred(s.storedError, true)
    }
    return writer
  }

  // --- the public classes ---

  function stateOf(stream) {
    const s = isObject(stream) ? stream[kState] : undefined
    if (!s) throw illegal()
    return s
  }

  class WritableStream {
    constructor(underlyingSink = undefined, strategy = undefined) {
      if (underlyingSink === null) throw new TypeError('underlyingSink must be an object')
      const sink = underlyingSink === undefined ? {} : underlyingSink
      if (!isObject(sink)) throw new TypeError('underlyingSink must be an object')
      const st = dictionary(strategy, 'strategy')
      // The standard reads the sink's members in this (alphabetical) order, then the strategy's.
      const abort = sink.abort
      const close = sink.close
      const start = sink.start
      const type = sink.type
      const write = sink.write
      checkFunction(abort, 'underlyingSink.abort')
      checkFunction(close, 'underlyingSink.close')
      checkFunction(start, 'underlyingSink.start')
      checkFunction(write, 'underlyingSink.write')
      if (type !== undefined) throw new RangeError('Invalid type is specified')
      const { hwm, size } = queuingStrategy(st, 1)
      const s = new StreamState()
      this[kState] = s
      const c = new ControllerState(s, sink, write, close, abort, hwm, size)
      s.controller = c
      const object = Object.create(WritableStreamDefaultController.prototype)
      object[kController] = c
      c.object = object
      updateBackpressure(s, desiredSize(c) <= 0)
      const started = start ? start.call(sink, object) : undefined
      then.call(
        Promise.resolve(started),
        () => {
          c.started = true
          advanceQueueIfNeeded(c)
        },
        (err) => {
          c.started = true
          dealWithRejection(s, err)
        },
      )
    }

    get locked() {
      return stateOf(this).writer !== null
    }

    abort(reason = undefined) {
      const s = isObject(this) ? this[kState] : undefined
      if (!s) return rejected(illegal())
      if (s.writer !== null) return rejected(new TypeError('Cannot abort a stream that already has a writer'))
      return streamAbort(s, reason)
    }

    close() {
      const s = isObject(this) ? this[kState] : undefined
      if (!s) return rejected(illegal())
      if (s.writer !== null) return rejected(new TypeError('Cannot close a stream that already has a writer'))
      if (closeQueuedOrInFlight(s)) return rejected(new TypeError('Cannot close an already-closing stream'))
      return streamClose(s)
    }

    getWriter() {
      return new WritableStreamDefaultWriter(this)
    }
  }

  function writerOf(object) {
    return isObject(object) ? object[kWriter] : undefined
  }

  class WritableStreamDefaultWriter {
    constructor(stream) {
      this[kWriter] = acquireWriter(stateOf(stream))
    }

    get closed() {
      const w = writerOf(this)
      return w ? w.closed.promise : rejected(illegal())
    }

    get ready() {
      const w = writerOf(this)
      return w ? w.ready.promise : rejected(illegal())
    }

    get desiredSize() {
      const w = writerOf(this)
      if (!w) throw illegal()
      if (!w.stream) throw new TypeError('Cannot get the desired size of a released writer')
      return writerDesiredSize(w)
    }

    abort(reason = undefined) {
      const w = writerOf(this)
      if (!w) return rejected(illegal())
      if (!w.stream) return rejected(new TypeError('Cannot abort a stream through a released writer'))
      return streamAbort(w.stream, reason)
    }

    close() {
      const w = writerOf(this)
      if (!w) return rejected(illegal())
      const s = w.stream
      if (!s) return rejected(new TypeError('Cannot close a stream through a released writer'))
      if (closeQueuedOrInFlight(s)) return rejected(new TypeError('Cannot close an already-closing stream'))
      return streamClose(s)
    }

    releaseLock() {
      const w = writerOf(this)
      if (!w) throw illegal()
      if (w.stream) writerRelease(w)
    }

    write(chunk = undefined) {
      const w = writerOf(this)
      if (!w) return rejected(illegal())
      if (!w.stream) return rejected(new TypeError('Cannot write to a stream through a released writer'))
      return writerWrite(w, chunk)
    }
  }

  function controllerOf(object) {
    const c = isObject(object) ? object[kController] : undefined
    if (!c) throw illegal()
    return c
  }

  class WritableStreamDefaultController {
    constructor() {
      throw new TypeError('Illegal constructor')
    }
    get signal() {
      const c = controllerOf(this)
      if (!c.abortController) {
        c.abortController = new (load('events').AbortController)()
        if (c.aborted) c.abortController.abort(c.abortReason)
      }
      return c.abortController.signal
    }
    error(e = undefined) {
      const c = controllerOf(this)
      if (c.stream.state !== 'writable') return
      controllerError(c, e)
    }
  }

  enumerableMembers(WritableStream, WritableStreamDefaultWriter, WritableStreamDefaultController)

  return {
    WritableStream,
    WritableStreamDefaultWriter,
    WritableStreamDefaultController,
    isWritable: (value) => isObject(value) && kState in value,
  }
}
