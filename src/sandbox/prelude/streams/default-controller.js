// ReadableStreamDefaultController: the queue, high-water mark and pull of a default (non-byte)
// ReadableStream, with no promise where the standard's observable behaviour does not need one.
// web-streams-polyfill, which follows the text literally, spends ~25 us of this interpreter on every
// chunk read (a read promise, the pull promise and two reactions to it).
//
// A pull is waited for as the standard says (a microtask when it returns nothing), and start
// always completes in a microtask, so a pull never runs inside the constructor.
import { isObject, illegal } from '../util.js'
import { then, record, resolvedUndefined } from './helpers.js'
import { streamClose, streamError } from './readable-state.js'

const kController = Symbol('ReadableStreamDefaultController state')

export class DefaultControllerState {
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
    /** What runs once a pull's promise fulfils. */
    this.pulled = () => {
      this.pulling = false
      if (this.pullAgain) {
        this.pullAgain = false
        callPullIfNeeded(this)
      }
    }
  }

  /** [[PullSteps]]: a queued chunk at once, else the request waits for an enqueue. */
  pullSteps(request) {
    if (this.queue.length > 0) {
      const chunk = dequeue(this)
      if (this.closeRequested && this.queue.length === 0) {
        clearAlgorithms(this)
        streamClose(this.stream)
      } else {
        callPullIfNeeded(this)
      }
      request.chunk(chunk)
    } else {
      this.stream.reader.requests.push(request)
      callPullIfNeeded(this)
    }
  }

  /** [[CancelSteps]]: the queue goes, then the source's cancel runs (its result is returned). */
  cancelSteps(reason) {
    resetQueue(this)
    const cancel = this.cancelFn
    const thisArg = this.thisArg
    clearAlgorithms(this)
    return cancel ? cancel.call(thisArg, reason) : undefined
  }

  releaseSteps() {}
}
record(DefaultControllerState)

function canCloseOrEnqueue(c) {
  return !c.closeRequested && c.stream.state === 'readable'
}

export function desiredSize(c) {
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
  // The standard waits for the pull's promise: a microtask even when pull returned nothing, so a
  // read made meanwhile sets pullAgain rather than pulling at once. (That case, the usual one,
  // reuses one function per controller rather than making two closures per pull.)
  if (!isObject(result)) {
    then.call(resolvedUndefined, c.pulled)
    return
  }
  then.call(Promise.resolve(result), c.pulled, (err) => {
    c.pulling = false
    controllerError(c, err)
  })
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

export function controllerEnqueue(c, chunk) {
  if (!canCloseOrEnqueue(c)) throw new TypeError('The stream is not in a state that permits enqueue')
  const reader = c.stream.reader
  if (reader && reader.requests.length > 0) {
    reader.requests.shift().chunk(chunk)
  } else {
    let size = 1
    if (c.size) {
      try {
        size = c.size.call(undefined, chunk)
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

export function controllerClose(c) {
  if (!canCloseOrEnqueue(c)) throw new TypeError('The stream is not in a state that permits close')
  c.closeRequested = true
  if (c.queue.length === 0) {
    clearAlgorithms(c)
    streamClose(c.stream)
  }
}

export function controllerError(c, err) {
  if (c.stream.state !== 'readable') return
  resetQueue(c)
  clearAlgorithms(c)
  streamError(c.stream, err)
}

/** Enqueues unless the stream is closing or closed (tee branches, from()). */
export function enqueueIfOpen(c, chunk) {
  if (canCloseOrEnqueue(c)) controllerEnqueue(c, chunk)
}

export function closeIfOpen(c) {
  if (canCloseOrEnqueue(c)) controllerClose(c)
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

/**
 * SetUpReadableStreamDefaultController: `stream` is the ReadableStream object, `s` its state. start
 * runs now; pulls begin once it settles.
 */
export function setUpDefaultController(s, thisArg, start, pull, cancel, hwm, size) {
  const c = new DefaultControllerState(s, hwm, size, pull, cancel, thisArg)
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
  return c
}

function controllerOf(object) {
  const c = isObject(object) ? object[kController] : undefined
  if (!c) throw illegal()
  return c
}

export class ReadableStreamDefaultController {
  constructor() {
    throw new TypeError('Illegal constructor')
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
