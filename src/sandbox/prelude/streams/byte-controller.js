// ReadableByteStreamController and ReadableStreamBYOBRequest: the standard's byte stream
// algorithms (pull-into descriptors, BYOB requests, transfers of the buffers handed over), read by
// default readers with callbacks like default streams, and by BYOB readers.
import { isObject, illegal } from '../util.js'
import { then, record } from './helpers.js'
import { enforceRange } from './dictionaries.js'
import { streamClose, streamError, fulfillRequest, waitingRequests } from './readable-state.js'
import {
  transfer,
  viewConstructorOf,
  PullIntoDescriptor,
  enqueueChunkToQueue,
  fillHeadPullInto,
  fillPullIntoFromQueue,
  processPullIntosUsingQueue,
  convertPullInto,
  commitPullInto,
} from './byte-queue.js'

const kController = Symbol('ReadableByteStreamController state')
const kRequest = Symbol('ReadableStreamBYOBRequest state')

export class ByteControllerState {
  constructor(stream, hwm, pull, cancel, thisArg, autoAllocateChunkSize) {
    this.stream = stream
    this.hwm = hwm
    this.pullFn = pull
    this.cancelFn = cancel
    this.thisArg = thisArg
    this.autoAllocateChunkSize = autoAllocateChunkSize
    /** Entries of { buffer, byteOffset, byteLength }. */
    this.queue = []
    this.queueTotalSize = 0
    this.pendingPullIntos = []
    this.byobRequest = null
    this.closeRequested = false
    this.started = false
    this.pulling = false
    this.pullAgain = false
    this.object = null
    this.isByte = true
  }

  /** [[PullSteps]] for a default reader's read. */
  pullSteps(request) {
    if (this.queueTotalSize > 0) {
      fillReadRequestFromQueue(this, request)
      return
    }
    const size = this.autoAllocateChunkSize
    if (size !== undefined) {
      let buffer
      try {
        buffer = new ArrayBuffer(size)
      } catch (err) {
        request.error(err)
        return
      }
      this.pendingPullIntos.push(new PullIntoDescriptor(buffer, 0, size, 1, 1, Uint8Array, 'default'))
    }
    this.stream.reader.requests.push(request)
    callPullIfNeeded(this)
  }

  cancelSteps(reason) {
    clearPendingPullIntos(this)
    resetQueue(this)
    const cancel = this.cancelFn
    const thisArg = this.thisArg
    clearAlgorithms(this)
    return cancel ? cancel.call(thisArg, reason) : undefined
  }

  releaseSteps() {
    if (this.pendingPullIntos.length > 0) {
      const first = this.pendingPullIntos[0]
      first.readerType = 'none'
      this.pendingPullIntos = [first]
    }
  }

  /** ReadableByteStreamControllerPullInto, for a BYOB reader's read. */
  pullInto(view, min, request) {
    const s = this.stream
    const ctor = viewConstructorOf(view)
    const elementSize = ctor === DataView ? 1 : ctor.BYTES_PER_ELEMENT
    const byteOffset = view.byteOffset
    const byteLength = view.byteLength
    let buffer
    try {
      buffer = transfer(view.buffer)
    } catch (err) {
      request.error(err)
      return
    }
    const d = new PullIntoDescriptor(buffer, byteOffset, byteLength, min * elementSize, elementSize, ctor, 'byob')
    if (this.pendingPullIntos.length > 0) {
      this.pendingPullIntos.push(d)
      s.reader.requests.push(request)
      return
    }
    if (s.state === 'closed') {
      request.close(new ctor(d.buffer, d.byteOffset, 0))
      return
    }
    if (this.queueTotalSize > 0) {
      if (fillPullIntoFromQueue(this, d)) {
        const filled = convertPullInto(d)
        handleQueueDrain(this)
        request.chunk(filled)
        return
      }
      if (this.closeRequested) {
        const e = new TypeError('Insufficient bytes to fill elements in the given buffer')
        controllerError(this, e)
        request.error(e)
        return
      }
    }
    this.pendingPullIntos.push(d)
    s.reader.requests.push(request)
    callPullIfNeeded(this)
  }
}
record(ByteControllerState)

// --- the standard's abstract operations ---

function shouldCallPull(c) {
  const s = c.stream
  if (s.state !== 'readable' || c.closeRequested || !c.started) return false
  if (waitingRequests(s, false) > 0 || waitingRequests(s, true) > 0) return true
  return desiredSize(c) > 0
}

export function callPullIfNeeded(c) {
  if (!shouldCallPull(c)) return
  if (c.pulling) {
    c.pullAgain = true
    return
  }
  c.pulling = true
  let result
  try {
    result = c.pullFn ? c.pullFn.call(c.thisArg, c.object) : undefined
  } catch (err) {
    c.pulling = false
    controllerError(c, err)
    return
  }
  then.call(
    Promise.resolve(result),
    () => {
      c.pulling = false
      if (c.pullAgain) {
        c.pullAgain = false
        callPullIfNeeded(c)
      }
    },
    (err) => controllerError(c, err),
  )
}

function clearAlgorithms(c) {
  c.pullFn = undefined
  c.cancelFn = undefined
}

function resetQueue(c) {
  c.queue = []
  c.queueTotalSize = 0
}

function clearPendingPullIntos(c) {
  invalidateByobRequest(c)
  c.pendingPullIntos = []
}

function invalidateByobRequest(c) {
  const request = c.byobRequest
  if (request === null) return
  request[kRequest].controller = null
  request[kRequest].view = null
  c.byobRequest = null
}

export function desiredSize(c) {
  const state = c.stream.state
  if (state === 'errored') return null
  if (state === 'closed') return 0
  return c.hwm - c.queueTotalSize
}

export function controllerError(c, e) {
  if (c.stream.state !== 'readable') return
  clearPendingPullIntos(c)
  resetQueue(c)
  clearAlgorithms(c)
  streamError(c.stream, e)
}

export function controllerClose(c) {
  const s = c.stream
  if (c.closeRequested || s.state !== 'readable') return
  if (c.queueTotalSize > 0) {
    c.closeRequested = true
    return
  }
  if (c.pendingPullIntos.length > 0) {
    const first = c.pendingPullIntos[0]
    if (first.bytesFilled % first.elementSize !== 0) {
      const e = new TypeError('Insufficient bytes to fill elements in the given buffer')
      controllerError(c, e)
      throw e
    }
  }
  clearAlgorithms(c)
  streamClose(s)
}

/** ReadableByteStreamControllerEnqueue: `chunk` is an ArrayBufferView; its buffer is transferred. */
export function controllerEnqueue(c, chunk) {
  const s = c.stream
  if (c.closeRequested || s.state !== 'readable') return
  const byteOffset = chunk.byteOffset
  const byteLength = chunk.byteLength
  const buffer = transfer(chunk.buffer)
  if (c.pendingPullIntos.length > 0) {
    const first = c.pendingPullIntos[0]
    if (first.buffer.detached) throw new TypeError('The BYOB request buffer is detached')
    invalidateByobRequest(c)
    first.buffer = transfer(first.buffer)
    if (first.readerType === 'none') enqueueDetachedPullIntoToQueue(c, first)
  }
  if (s.reader && !s.reader.byob) {
    processReadRequestsUsingQueue(c)
    if (waitingRequests(s, false) === 0) {
      enqueueChunkToQueue(c, buffer, byteOffset, byteLength)
    } else {
      if (c.pendingPullIntos.length > 0) c.pendingPullIntos.shift()
      fulfillRequest(s, new Uint8Array(buffer, byteOffset, byteLength), false)
    }
  } else if (s.reader && s.reader.byob) {
    enqueueChunkToQueue(c, buffer, byteOffset, byteLength)
    for (const d of processPullIntosUsingQueue(c)) commitPullInto(s, d)
  } else {
    enqueueChunkToQueue(c, buffer, byteOffset, byteLength)
  }
  callPullIfNeeded(c)
}

function enqueueClonedChunkToQueue(c, buffer, byteOffset, byteLength) {
  let clone
  try {
    clone = buffer.slice(byteOffset, byteOffset + byteLength)
  } catch (err) {
    controllerError(c, err)
    throw err
  }
  enqueueChunkToQueue(c, clone, 0, byteLength)
}

function enqueueDetachedPullIntoToQueue(c, d) {
  if (d.bytesFilled > 0) enqueueClonedChunkToQueue(c, d.buffer, d.byteOffset, d.bytesFilled)
  c.pendingPullIntos.shift()
}

function fillReadRequestFromQueue(c, request) {
  const entry = c.queue.shift()
  c.queueTotalSize -= entry.byteLength
  handleQueueDrain(c)
  request.chunk(new Uint8Array(entry.buffer, entry.byteOffset, entry.byteLength))
}

function processReadRequestsUsingQueue(c) {
  const reader = c.stream.reader
  while (reader.requests.length > 0) {
    if (c.queueTotalSize === 0) return
    fillReadRequestFromQueue(c, reader.requests.shift())
  }
}

function handleQueueDrain(c) {
  if (c.queueTotalSize === 0 && c.closeRequested) {
    clearAlgorithms(c)
    streamClose(c.stream)
  } else {
    callPullIfNeeded(c)
  }
}

function respondInClosedState(c, first) {
  if (first.readerType === 'none') c.pendingPullIntos.shift()
  const s = c.stream
  if (s.reader && s.reader.byob) {
    const filled = []
    while (filled.length < waitingRequests(s, true)) filled.push(c.pendingPullIntos.shift())
    for (const d of filled) commitPullInto(s, d)
  }
}

function respondInReadableState(c, bytesWritten, d) {
  fillHeadPullInto(c, bytesWritten, d)
  if (d.readerType === 'none') {
    enqueueDetachedPullIntoToQueue(c, d)
    for (const filled of processPullIntosUsingQueue(c)) commitPullInto(c.stream, filled)
    return
  }
  if (d.bytesFilled < d.minimumFill) return
  c.pendingPullIntos.shift()
  const remainder = d.bytesFilled % d.elementSize
  if (remainder > 0) {
    const end = d.byteOffset + d.bytesFilled
    enqueueClonedChunkToQueue(c, d.buffer, end - remainder, remainder)
  }
  d.bytesFilled -= remainder
  const filled = processPullIntosUsingQueue(c)
  commitPullInto(c.stream, d)
  for (const other of filled) commitPullInto(c.stream, other)
}

function respondInternal(c, bytesWritten) {
  const first = c.pendingPullIntos[0]
  invalidateByobRequest(c)
  if (c.stream.state === 'closed') respondInClosedState(c, first)
  else respondInReadableState(c, bytesWritten, first)
  callPullIfNeeded(c)
}

/** ReadableByteStreamControllerRespond: `bytesWritten` bytes of the BYOB request's view are filled. */
export function respond(c, bytesWritten) {
  const first = c.pendingPullIntos[0]
  if (c.stream.state === 'closed') {
    if (bytesWritten !== 0) throw new TypeError('bytesWritten must be 0 when calling respond() on a closed stream')
  } else {
    if (bytesWritten === 0)
      throw new TypeError('bytesWritten must be greater than 0 when calling respond() on a readable stream')
    if (first.bytesFilled + bytesWritten > first.byteLength) throw new RangeError('bytesWritten out of range')
  }
  first.buffer = transfer(first.buffer)
  respondInternal(c, bytesWritten)
}

function respondWithNewView(c, view) {
  const first = c.pendingPullIntos[0]
  if (c.stream.state === 'closed') {
    if (view.byteLength !== 0)
      throw new TypeError("The view's length must be 0 when calling respondWithNewView() on a closed stream")
  } else if (view.byteLength === 0) {
    throw new TypeError(
      "The view's length must be greater than 0 when calling respondWithNewView() on a readable stream",
    )
  }
  if (first.byteOffset + first.bytesFilled !== view.byteOffset)
    throw new RangeError('The region specified by view does not match byobRequest')
  if (first.bufferByteLength !== view.buffer.byteLength)
    throw new RangeError('The buffer of view has different capacity than byobRequest')
  if (first.bytesFilled + view.byteLength > first.byteLength)
    throw new RangeError('The region specified by view is larger than byobRequest')
  const length = view.byteLength
  first.buffer = transfer(view.buffer)
  respondInternal(c, length)
}

function getByobRequest(c) {
  if (c.byobRequest === null && c.pendingPullIntos.length > 0) {
    const first = c.pendingPullIntos[0]
    const view = new Uint8Array(
      first.buffer,
      first.byteOffset + first.bytesFilled,
      first.byteLength - first.bytesFilled,
    )
    const request = Object.create(ReadableStreamBYOBRequest.prototype)
    request[kRequest] = { controller: c, view }
    c.byobRequest = request
  }
  return c.byobRequest
}

/** The view a pending BYOB read waits to have filled, or null ("the current BYOB request view"). */
export function currentByobView(c) {
  const request = getByobRequest(c)
  return request === null ? null : request[kRequest].view
}

/** Whether a branch's controller waits for a BYOB read (tee). */
export function hasPendingPullIntos(c) {
  return c.pendingPullIntos.length > 0
}

/** The BYOB request's view and respond for the byte tee. */
export { respondWithNewView }

/**
 * "Enqueue" for a stream set up with byte reading support (Fetch bodies, Blob streams): bytes go
 * into a waiting BYOB read's view first, the rest is enqueued.
 */
export function enqueueBytes(c, bytes) {
  const view = currentByobView(c)
  if (view !== null) {
    const n = Math.min(view.byteLength, bytes.byteLength)
    view.set(bytes.subarray(0, n))
    respond(c, n)
    if (n < bytes.byteLength) controllerEnqueue(c, bytes.slice(n))
    return
  }
  controllerEnqueue(c, bytes)
}

// --- set-up and the public classes ---

/** SetUpReadableByteStreamController. */
export function setUpByteController(s, thisArg, start, pull, cancel, hwm, autoAllocateChunkSize) {
  const c = new ByteControllerState(s, hwm, pull, cancel, thisArg, autoAllocateChunkSize)
  s.controller = c
  const object = Object.create(ReadableByteStreamController.prototype)
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
  return c
}

function controllerOf(object) {
  const c = isObject(object) ? object[kController] : undefined
  if (!c) throw illegal()
  return c
}

/** An ArrayBufferView argument (WebIDL), else TypeError. */
function bufferView(value, what) {
  if (!ArrayBuffer.isView(value)) throw new TypeError(`${what} must be an ArrayBufferView`)
  return value
}

export class ReadableByteStreamController {
  constructor() {
    throw new TypeError('Illegal constructor')
  }
  get byobRequest() {
    return getByobRequest(controllerOf(this))
  }
  get desiredSize() {
    return desiredSize(controllerOf(this))
  }
  close() {
    const c = controllerOf(this)
    if (c.closeRequested) throw new TypeError('The stream has already been closed')
    if (c.stream.state !== 'readable') throw new TypeError('The stream is not in a state that permits close')
    controllerClose(c)
  }
  enqueue(chunk) {
    const c = controllerOf(this)
    const view = bufferView(chunk, 'chunk')
    if (view.byteLength === 0) throw new TypeError('chunk must have a non-zero byteLength')
    if (view.buffer.byteLength === 0) throw new TypeError("chunk's buffer must have a non-zero byteLength")
    if (c.closeRequested) throw new TypeError('The stream has already been closed')
    if (c.stream.state !== 'readable') throw new TypeError('The stream is not in a state that permits enqueue')
    controllerEnqueue(c, view)
  }
  error(e = undefined) {
    controllerError(controllerOf(this), e)
  }
}

function requestOf(object) {
  const r = isObject(object) ? object[kRequest] : undefined
  if (!r) throw illegal()
  return r
}

export class ReadableStreamBYOBRequest {
  constructor() {
    throw new TypeError('Illegal constructor')
  }
  get view() {
    return requestOf(this).view
  }
  respond(bytesWritten) {
    const r = requestOf(this)
    const n = enforceRange(bytesWritten, 'bytesWritten')
    if (r.controller === null) throw new TypeError('This BYOB request has been invalidated')
    if (r.view.buffer.detached) throw new TypeError("The BYOB request's buffer has been detached")
    respond(r.controller, n)
  }
  respondWithNewView(view) {
    const r = requestOf(this)
    bufferView(view, 'view')
    if (r.controller === null) throw new TypeError('This BYOB request has been invalidated')
    if (view.buffer.detached) throw new TypeError("The given view's buffer has been detached")
    respondWithNewView(r.controller, view)
  }
}
