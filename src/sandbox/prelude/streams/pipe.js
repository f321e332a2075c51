// ReadableStreamPipeTo, as the standard writes it (the reference implementation's order of
// checks), reading the source with callbacks and writing through the destination's writer state,
// never through methods a guest could replace. Per chunk it waits for nothing but the write's
// room: a read that completes at once loops rather than recurses, and a chunk's way into the next
// pipe is bounded by `nested`.
import { load } from '../shared.js'
import { then, noop, microtask, nested } from './helpers.js'
import { acquire, read, release, streamCancel } from './readable-state.js'
import {
  acquireWriter,
  writerWrite,
  writerRelease,
  writerDesiredSize,
  streamAbort,
  closeQueuedOrInFlight,
  writerCloseWithErrorPropagation,
} from './writable-state.js'

/** Whether `value` is an AbortSignal (the events chunk is loaded if one exists). */
export function isAbortSignal(value) {
  return load('events').isSignal(value)
}

/**
 * A reader of a stream for the prelude: reads with callbacks, hears of an error or close at once.
 * Used by pipes and fused TransformStream chains.
 */
export function internalReader(s) {
  const reader = acquire(s, null)
  s.disturbed = true
  return {
    state: () => s.state,
    storedError: () => s.storedError,
    read: (request) => (reader.stream ? read(reader, request) : request.error(new TypeError('Reader was released'))),
    cancel: (reason) => (reader.stream ? streamCancel(s, reason) : Promise.resolve(undefined)),
    release: () => release(reader),
    set onError(fn) {
      reader.onError = fn
    },
    set onClose(fn) {
      reader.onClose = fn
    },
  }
}

/** ReadableStreamPipeTo(source, dest, ...options): `source` and `dest` are stream states. */
export function pipe(source, dest, { preventAbort, preventCancel, preventClose, signal }) {
  const src = internalReader(source)
  const writer = acquireWriter(dest)
  let shuttingDown = false
  let reading = false
  let pumping = false
  let pumpAgain = false
  let currentWrite = Promise.resolve(undefined)
  let stopAbort = null
  let resolvePipe
  let rejectPipe
  const promise = new Promise((resolve, reject) => {
    resolvePipe = resolve
    rejectPipe = reject
  })

  const finalize = (isError, error) => {
    writerRelease(writer)
    src.release()
    if (stopAbort) stopAbort()
    if (isError) rejectPipe(error)
    else resolvePipe(undefined)
  }
  // Every chunk read is written (its write settled) before the pipe acts and ends; a write begun
  // while waiting is waited for too.
  const waitForWrites = (fn) => {
    const pending = currentWrite
    then.call(pending, () => (pending !== currentWrite ? waitForWrites(fn) : fn()))
  }
  const afterWrites = (fn) => {
    if (dest.state === 'writable' && !closeQueuedOrInFlight(dest)) waitForWrites(fn)
    else fn()
  }
  const shutdownWithAction = (action, originalIsError, originalError) => {
    if (shuttingDown) return
    shuttingDown = true
    afterWrites(() => {
      let p
      try {
        p = Promise.resolve(action())
      } catch (err) {
        p = Promise.reject(err)
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
    if (!preventAbort) shutdownWithAction(() => streamAbort(dest, err), true, err)
    else shutdown(true, err)
  }
  const destErrored = (err) => {
    if (!preventCancel) shutdownWithAction(() => streamCancel(source, err), true, err)
    else shutdown(true, err)
  }
  const sourceClosed = () => {
    if (!preventClose) shutdownWithAction(() => writerCloseWithErrorPropagation(writer))
    else shutdown()
  }
  const destClosed = () => {
    const err = new TypeError('the destination writable stream closed before all data could be piped to it')
    if (!preventCancel) shutdownWithAction(() => streamCancel(source, err), true, err)
    else shutdown(true, err)
  }

  if (signal !== undefined) {
    const abortAlgorithm = () => {
      const error = signal.reason
      shutdownWithAction(
        () =>
          Promise.all([
            !preventAbort && dest.state === 'writable' ? streamAbort(dest, error) : undefined,
            !preventCancel && source.state === 'readable' ? streamCancel(source, error) : undefined,
          ]),
        true,
        error,
      )
    }
    if (signal.aborted) {
      abortAlgorithm()
      return promise
    }
    stopAbort = load('events').onAbort(signal, abortAlgorithm)
  }

  const request = {
    // `reading` stays true until the chunk is written (a deferred write keeps later reads back).
    chunk(chunk) {
      nested(() => {
        reading = false
        if (shuttingDown) return
        currentWrite = writerWrite(writer, chunk)
        then.call(currentWrite, undefined, noop)
        pump()
      })
    },
    close() {
      reading = false
    },
    error() {
      reading = false
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
      if (shuttingDown || reading || writer.stream === null) break
      const room = writerDesiredSize(writer)
      if (room === null) break
      if (room <= 0) {
        then.call(writer.ready.promise, pump, noop)
        break
      }
      reading = true
      src.read(request)
    } while (pumpAgain)
    pumping = false
  }

  // The standard's four conditions, each checked now and watched after, in its order.
  src.onError = (err) => {
    // During a read (its pull failed), that read's chunk is written first, as the standard has it.
    if (reading) microtask(() => sourceErrored(err))
    else sourceErrored(err)
  }
  src.onClose = () => {
    if (reading) microtask(sourceClosed)
    else sourceClosed()
  }
  if (source.state === 'errored') sourceErrored(source.storedError)
  if (dest.state === 'errored') destErrored(dest.storedError)
  else then.call(writer.closed.promise, undefined, (err) => destErrored(err))
  if (source.state === 'closed') sourceClosed()
  if (closeQueuedOrInFlight(dest) || dest.state === 'closed') destClosed()
  // The first read waits for the destination to be ready (and started), as the standard's does.
  if (!shuttingDown) then.call(writer.ready.promise, pump, noop)
  return promise
}
