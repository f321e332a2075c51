// A ReadableStream's async iterator (WebIDL "asynchronous iterator" with the streams standard's
// next-iteration and return steps): next() and return() queue behind the step under way, and
// settle in the same turns as the standard's promises do.
import { isObject, illegal, rejected } from '../util.js'
import { then, record } from './helpers.js'
import { read, release, streamCancel } from './readable-state.js'

const kIterator = Symbol('ReadableStream async iterator state')
const AsyncIteratorPrototype = Object.getPrototypeOf(Object.getPrototypeOf(async function* () {}).prototype)

class IteratorState {
  constructor(reader, preventCancel) {
    this.reader = reader
    this.preventCancel = preventCancel
    this.finished = false
    this.ongoing = null
  }
}
record(IteratorState)

/** An iterator over `reader` (the stream is already locked to it). */
export function makeIterator(reader, preventCancel) {
  const iterator = Object.create(ReadableStreamAsyncIteratorPrototype)
  iterator[kIterator] = new IteratorState(reader, preventCancel)
  return iterator
}

const iterResult = (value, done) => ({ value, done })

/** "Get the next iteration result": a promise of the chunk, or of `END` at the end. */
const END = Symbol('end of iteration')
function nextResult(it) {
  const reader = it.reader
  return new Promise((resolve, reject) => {
    read(reader, {
      chunk: resolve,
      close() {
        release(reader)
        resolve(END)
      },
      error(e) {
        release(reader)
        reject(e)
      },
    })
  })
}

function nextSteps(it) {
  if (it.finished) return Promise.resolve(iterResult(undefined, true))
  return then.call(
    nextResult(it),
    (next) => {
      it.ongoing = null
      if (next === END) {
        it.finished = true
        return iterResult(undefined, true)
      }
      return iterResult(next, false)
    },
    (reason) => {
      it.ongoing = null
      it.finished = true
      throw reason
    },
  )
}

function returnSteps(it, value) {
  if (it.finished) return Promise.resolve(iterResult(value, true))
  it.finished = true
  const reader = it.reader
  if (!it.preventCancel) {
    const result = streamCancel(reader.stream, value)
    release(reader)
    return result
  }
  release(reader)
  return Promise.resolve(undefined)
}

const ReadableStreamAsyncIteratorPrototype = Object.create(AsyncIteratorPrototype, {
  next: {
    value: function next() {
      const it = isObject(this) ? this[kIterator] : undefined
      if (!it) return rejected(illegal())
      const steps = () => nextSteps(it)
      it.ongoing = it.ongoing ? then.call(it.ongoing, steps, steps) : steps()
      return it.ongoing
    },
    writable: true,
    configurable: true,
  },
  return: {
    value: function return_(value = undefined) {
      const it = isObject(this) ? this[kIterator] : undefined
      if (!it) return rejected(illegal())
      const steps = () => returnSteps(it, value)
      it.ongoing = it.ongoing ? then.call(it.ongoing, steps, steps) : steps()
      return then.call(it.ongoing, () => iterResult(value, true))
    },
    writable: true,
    configurable: true,
  },
})
Object.defineProperty(ReadableStreamAsyncIteratorPrototype.return, 'name', { value: 'return' })
