// ReadableStreamDefaultReader and ReadableStreamBYOBReader: the public readers, whose read()
// returns a promise (the prelude's own reads are callbacks, see readable-state.js).
import { isObject, illegal, rejected, dictionary } from '../util.js'
import { record } from './helpers.js'
import { tryState, acquire, read, readInto, release, streamCancel, closedPromise } from './readable-state.js'
import { enforceRange } from './dictionaries.js'

const kReader = Symbol('reader state')

/** A public read's request: settles its promise with { value, done }. */
class PromiseRequest {
  constructor(resolve, reject) {
    this.resolve = resolve
    this.error = reject
  }
  chunk(value) {
    this.resolve({ value, done: false })
  }
  close(value) {
    this.resolve({ value, done: true })
  }
}
record(PromiseRequest)

/** The reader state of `object`, or undefined when it is not one of our readers. */
function tryReader(object) {
  return isObject(object) ? object[kReader] : undefined
}

function readerOf(object) {
  const r = tryReader(object)
  if (!r) throw illegal()
  return r
}

/** The members both readers have (ReadableStreamGenericReader). */
class GenericReader {
  get closed() {
    const r = tryReader(this)
    return r ? closedPromise(r) : rejected(illegal())
  }

  cancel(reason = undefined) {
    const r = tryReader(this)
    if (!r) return rejected(illegal())
    if (!r.stream) return rejected(new TypeError('Cannot cancel a stream through a released reader'))
    return streamCancel(r.stream, reason)
  }

  releaseLock() {
    release(readerOf(this))
  }
}

export class ReadableStreamDefaultReader {
  constructor(stream) {
    const s = tryState(stream)
    if (!s) throw new TypeError('ReadableStreamDefaultReader: the argument is not a ReadableStream')
    this[kReader] = acquire(s, this, false)
  }

  read() {
    const r = tryReader(this)
    if (!r || r.byob) return rejected(illegal())
    if (!r.stream) return rejected(new TypeError('Cannot read from a released reader'))
    return new Promise((resolve, reject) => read(r, new PromiseRequest(resolve, reject)))
  }
}

export class ReadableStreamBYOBReader {
  constructor(stream) {
    const s = tryState(stream)
    if (!s) throw new TypeError('ReadableStreamBYOBReader: the argument is not a ReadableStream')
    if (!s.controller.isByte) throw new TypeError('Cannot get a BYOB reader for a stream that is not a byte stream')
    this[kReader] = acquire(s, this, true)
  }

  read(view, options = undefined) {
    const r = tryReader(this)
    if (!r || !r.byob) return rejected(illegal())
    if (!ArrayBuffer.isView(view)) return rejected(new TypeError('read() needs an ArrayBufferView'))
    let min
    try {
      const o = dictionary(options, 'options')
      min = o.min === undefined ? 1 : enforceRange(o.min, 'options.min')
    } catch (err) {
      return rejected(err)
    }
    if (view.byteLength === 0) return rejected(new TypeError('view must have a non-zero byteLength'))
    if (view.buffer.byteLength === 0) return rejected(new TypeError("view's buffer must have a non-zero byteLength"))
    if (view.buffer.detached) return rejected(new TypeError("view's buffer has been detached"))
    if (min === 0) return rejected(new TypeError('options.min must be greater than 0'))
    if (view instanceof DataView) {
      if (min > view.byteLength) return rejected(new RangeError('options.min must be at most view.byteLength'))
    } else if (min > view.length) {
      return rejected(new RangeError('options.min must be at most view.length'))
    }
    if (!r.stream) return rejected(new TypeError('Cannot read from a released reader'))
    return new Promise((resolve, reject) => readInto(r, view, min, new PromiseRequest(resolve, reject)))
  }
}

for (const cls of [ReadableStreamDefaultReader, ReadableStreamBYOBReader]) {
  for (const key of ['closed', 'cancel', 'releaseLock']) {
    Object.defineProperty(cls.prototype, key, Object.getOwnPropertyDescriptor(GenericReader.prototype, key))
  }
}

/** Whether `value` is one of our readers (ReadableStreamDefaultReader or BYOB). */
export function isReader(value) {
  return tryReader(value) !== undefined
}
