// A WritableStream's state machine (the standard's WritableStream abstract operations): writable,
// erroring, errored, closed; one write or close in flight; a pending abort; with the standard's
// algorithm names and no promise beyond the ones it hands out. writable.js puts the public
// classes on it; pipes (pipe.js) and TransformStreams use these operations directly, as the
// standard's algorithms do, so a guest's patches to the public classes do not reach them.
import { rejected } from '../util.js'
import { then, record, Deferred, settledDeferred, isThenable } from './helpers.js'

const CLOSE = Symbol('close sentinel')

/** The key of a WritableStream's state on the stream object. */
export const kState = Symbol('WritableStream state')

export class StreamState {
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
record(StreamState)

export class ControllerState {
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
record(ControllerState)

export class WriterState {
  constructor(stream) {
    this.stream = stream
    this.ready = null
    this.closed = null
  }
}
record(WriterState)

// --- WritableStream abstract operations ---

export function closeQueuedOrInFlight(s) {
  return s.closeRequest !== null || s.inFlightCloseRequest !== null
}

function hasOperationMarkedInFlight(s) {
  return s.inFlightWriteRequest !== null || s.inFlightCloseRequest !== null
}

export function streamAbort(s, reason) {
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

export function streamClose(s) {
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

export function dealWithRejection(s, error) {
  if (s.state === 'writable') startErroring(s, error)
  else finishErroring(s)
}

export function startErroring(s, reason) {
  s.state = 'erroring'
  s.storedError = reason
  const writer = s.writer
  if (writer !== null) ensureReadyRejected(writer, reason)
  if (!hasOperationMarkedInFlight(s) && s.controller.started) finishErroring(s)
}

export function finishErroring(s) {
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

export function updateBackpressure(s, backpressure) {
  const writer = s.writer
  if (writer !== null && backpressure !== s.backpressure) {
    if (backpressure) writer.ready = new Deferred()
    else writer.ready.resolve(undefined)
  }
  s.backpressure = backpressure
}

// --- the controller ---

export function signalAbort(c, reason) {
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

export function desiredSize(c) {
  return c.hwm - c.queueTotalSize
}

export function chunkSize(c, chunk) {
  if (!c.size) return 1
  try {
    return c.size.call(undefined, chunk)
  } catch (err) {
    errorIfNeeded(c, err)
    return 1
  }
}

export function controllerWrite(c, chunk, size) {
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

export function advanceQueueIfNeeded(c) {
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
  if (!isThenable(result)) {
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
  if (!isThenable(result)) {
    then.call(Promise.resolve(), done)
    return
  }
  then.call(Promise.resolve(result), done, (err) => writeFailed(c, err))
}

function writeFailed(c, err) {
  if (c.stream.state === 'writable') clearAlgorithms(c)
  finishInFlightWriteWithError(c.stream, err)
}

export function errorIfNeeded(c, err) {
  if (c.stream.state === 'writable') controllerError(c, err)
}

export function controllerError(c, err) {
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

export function writerDesiredSize(writer) {
  const s = writer.stream
  if (s.state === 'errored' || s.state === 'erroring') return null
  if (s.state === 'closed') return 0
  return desiredSize(s.controller)
}

export function writerWrite(writer, chunk) {
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

export function writerRelease(writer) {
  const s = writer.stream
  const err = new TypeError('Writer was released')
  ensureReadyRejected(writer, err)
  ensureClosedRejected(writer, err)
  s.writer = null
  writer.stream = null
}

export function acquireWriter(s) {
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

/** WritableStreamDefaultWriterCloseWithErrorPropagation (a pipe closing its destination). */
export function writerCloseWithErrorPropagation(writer) {
  const s = writer.stream
  const state = s.state
  if (closeQueuedOrInFlight(s) || state === 'closed') return Promise.resolve(undefined)
  if (state === 'errored') return rejected(s.storedError)
  return streamClose(s)
}

/**
 * SetUpWritableStreamDefaultController over `sink`'s algorithms (`write`, `close`, `abort`, called
 * with `sink` as this) on a new stream state. `attach(c)` links the public controller object to
 * the controller state before start runs (start may use it).
 */
export function setUpWritable(sink, start, write, close, abort, hwm, size, controllerObject, attach) {
  const s = new StreamState()
  const c = new ControllerState(s, sink, write, close, abort, hwm, size)
  s.controller = c
  c.object = controllerObject
  attach(c)
  updateBackpressure(s, desiredSize(c) <= 0)
  const started = start ? start.call(sink, controllerObject) : undefined
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
  return s
}
