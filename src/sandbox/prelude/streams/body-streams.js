// What the Fetch standard's bodies (body.js, blob.js) need of streams: byte streams ("set up with
// byte reading support", so a BYOB reader works on any body), and "fully read" with the prelude's
// callback reads, which keeps the stream locked as the standard's reader does.
import { kState, tryState, acquire, read, release, streamCancel } from './readable-state.js'
import { enqueueBytes, controllerClose, controllerError } from './byte-controller.js'
import { createByteStream, createReadable } from './readable.js'
import { defaultTee, byteTee } from './tee.js'
import { load } from '../shared.js'

export const bodyStreams = {
  /** A closed byte stream holding `bytes` (a fresh Uint8Array the stream may take). */
  fromBytes(bytes) {
    const stream = createByteStream(undefined, undefined, 0)
    const c = stream[kState].controller
    if (bytes.byteLength > 0) enqueueBytes(c, bytes)
    controllerClose(c)
    return stream
  },

  /**
   * A byte stream pulling from `next()` (a promise of a Uint8Array, or undefined at the end);
   * `cancel()` runs when the stream is cancelled.
   */
  fromPull(next, cancel) {
    let stream
    const pull = () =>
      next().then(
        (chunk) => {
          const c = stream[kState].controller
          if (chunk === undefined) controllerClose(c)
          else if (chunk.byteLength > 0) enqueueBytes(c, chunk)
        },
        (err) => controllerError(stream[kState].controller, err),
      )
    stream = createByteStream(pull, () => cancel(), 0)
    return stream
  },

  /** A body stream that was read to its end without a stream: closed, disturbed and locked. */
  consumed() {
    const stream = createByteStream(undefined, undefined, 0)
    const s = stream[kState]
    controllerClose(s.controller)
    s.disturbed = true
    acquire(s, null)
    return stream
  },

  /** ReadableStreamCancel, for a body no one will read (not through the public method). */
  cancel: (stream, reason) => streamCancel(stream[kState], reason),

  /** ReadableStreamTee, for clone(). */
  tee(stream) {
    const s = stream[kState]
    return s.controller.isByte
      ? byteTee(s, (pull, cancel) => createByteStream(pull, cancel, 0))
      : defaultTee(s, (pull, cancel) => createReadable(pull, cancel, 1))
  },

  /** A reader for sending a body chunk by chunk: read() gives { done, value }. */
  reader(stream) {
    const s = stream[kState]
    const reader = acquire(s, null)
    return {
      read: () =>
        new Promise((resolve, reject) => {
          read(reader, {
            chunk: (value) => resolve({ done: false, value }),
            close: () => resolve({ done: true, value: undefined }),
            error: reject,
          })
        }),
      cancel: (reason) => streamCancel(s, reason),
      release: () => release(reader),
    }
  },

  isDisturbed: (stream) => tryState(stream).disturbed,
  isLocked: (stream) => tryState(stream).reader !== null,

  /**
   * Fully reads `stream`: resolves with its chunks (each must be a Uint8Array) or rejects. The
   * stream stays locked, as the standard's "fully read" leaves it. Aborting `signal` cancels the
   * stream and rejects with its reason.
   */
  readAll(stream, signal = undefined) {
    const s = stream[kState]
    const reader = acquire(s, null)
    const chunks = []
    let stop
    const all = new Promise((resolve, reject) => {
      if (signal) {
        stop = load('events').onAbort(signal, () => {
          streamCancel(s, signal.reason).then(undefined, () => {})
          reject(signal.reason)
        })
      }
      // Reads answered at once loop here rather than nest.
      let inRead = false
      let again = false
      const pump = () => {
        do {
          again = false
          inRead = true
          read(reader, request)
          inRead = false
        } while (again)
      }
      const request = {
        chunk(chunk) {
          if (!(chunk instanceof Uint8Array)) {
            const err = new TypeError('Received non-Uint8Array chunk')
            streamCancel(s, err).then(undefined, () => {})
            reject(err)
            return
          }
          chunks.push(chunk)
          if (inRead) again = true
          else pump()
        },
        close() {
          resolve(chunks)
        },
        error: reject,
      }
      pump()
    })
    return stop ? all.finally(stop) : all
  },
}
