// A ReadableStream's state and its readers' (the standard's ReadableStream abstract operations
// that do not depend on the controller kind). A controller record implements the controller's
// internal methods: pullSteps(request), cancelSteps(reason), releaseSteps(), and, for byte
// streams, pullInto(view, min, request).
//
// Inside the prelude, reads are callbacks: a read request is a record of chunk(chunk), close(chunk)
// and error(e), so tee branches, pipes, fused TransformStream chains and response bodies move
// chunks without a promise. Only the public readers' read() makes one.
import { isObject, illegal, rejected } from '../util.js'
import { then, noop, resolvedUndefined, record } from './helpers.js'

/** The key of a ReadableStream's state on the stream object. */
export const kState = Symbol('ReadableStream state')

/** A stream's state. `reader` is the ReaderState holding the lock. */
export class StreamState {
  constructor() {
    this.state = 'readable'
    this.storedError = undefined
    this.disturbed = false
    this.reader = null
    this.controller = null
  }
}
record(StreamState)

/** A reader's state (default or BYOB): its read (or read-into) requests and closed promise. */
export class ReaderState {
  constructor(stream, object, byob) {
    this.stream = stream
    this.object = object
    this.byob = byob
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
record(ReaderState)

/** The state of a ReadableStream object, or undefined when it is not one. */
export function tryState(stream) {
  return isObject(stream) ? stream[kState] : undefined
}

export function stateOf(stream) {
  const s = tryState(stream)
  if (!s) throw illegal()
  return s
}

export function isReadable(value) {
  return tryState(value) !== undefined
}

/** ReadableStreamClose. Read-into requests are not closed here: the byte controller does it. */
export function streamClose(s) {
  s.state = 'closed'
  const reader = s.reader
  if (!reader) return
  if (reader.resolveClosed) reader.resolveClosed()
  reader.settledClosed = 'resolved'
  if (!reader.byob) {
    const requests = reader.requests
    reader.requests = []
    for (const r of requests) r.close(undefined)
  }
  if (reader.onClose) reader.onClose()
}

/** ReadableStreamError. */
export function streamError(s, err) {
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
export function streamCancel(s, reason) {
  s.disturbed = true
  if (s.state === 'closed') return resolvedUndefined
  if (s.state === 'errored') return rejected(s.storedError)
  streamClose(s)
  const reader = s.reader
  if (reader && reader.byob) {
    const requests = reader.requests
    reader.requests = []
    for (const r of requests) r.close(undefined)
  }
  let result
  try {
    result = s.controller.cancelSteps(reason)
  } catch (err) {
    return rejected(err)
  }
  return then.call(Promise.resolve(result), noop)
}

/** ReadableStreamDefaultReaderRead with a request of callbacks: chunk, close, error. */
export function read(reader, request) {
  const s = reader.stream
  s.disturbed = true
  if (s.state === 'closed') request.close(undefined)
  else if (s.state === 'errored') request.error(s.storedError)
  else s.controller.pullSteps(request)
}

/** ReadableStreamBYOBReaderRead: `view` filled with at least `min` elements. */
export function readInto(reader, view, min, request) {
  const s = reader.stream
  s.disturbed = true
  if (s.state === 'errored') request.error(s.storedError)
  else s.controller.pullInto(view, min, request)
}

/** ReadableStreamFulfillReadRequest / ReadIntoRequest: the first waiting request gets the chunk. */
export function fulfillRequest(s, chunk, done) {
  const request = s.reader.requests.shift()
  if (done) request.close(chunk)
  else request.chunk(chunk)
}

export function waitingRequests(s, byob) {
  const reader = s.reader
  return reader && reader.byob === byob ? reader.requests.length : 0
}

/** ReadableStreamReaderGenericInitialize, for a reader of either kind. */
export function acquire(s, object, byob = false) {
  if (s.reader) throw new TypeError('ReadableStream is locked')
  const reader = new ReaderState(s, object, byob)
  s.reader = reader
  reader.settledClosed = s.state === 'readable' ? null : s.state === 'closed' ? 'resolved' : 'rejected'
  return reader
}

/** The reader's `closed` promise, made on first request. */
export function closedPromise(reader) {
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

/** ReadableStreamDefaultReaderRelease / BYOBReaderRelease: pending requests fail with TypeError. */
export function release(reader) {
  const s = reader.stream
  if (!s) return
  const err = new TypeError('Reader was released')
  if (reader.rejectClosed && reader.settledClosed === null) reader.rejectClosed(err)
  else reader.closed = null
  reader.settledClosed = 'rejected'
  reader.closedError = err
  s.controller.releaseSteps()
  s.reader = null
  reader.stream = null
  const requests = reader.requests
  reader.requests = []
  for (const r of requests) r.error(err)
}
