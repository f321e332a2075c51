// WritableStream, WritableStreamDefaultWriter and WritableStreamDefaultController: the public
// classes over writable-state.js.
import { load } from '../shared.js'
import { isObject, illegal, rejected } from '../util.js'
import {
  kState,
  streamAbort,
  streamClose,
  closeQueuedOrInFlight,
  acquireWriter,
  writerDesiredSize,
  writerWrite,
  writerRelease,
  controllerError,
  setUpWritable,
} from './writable-state.js'
import { callback, strategy, extractHighWaterMark } from './dictionaries.js'

const kWriter = Symbol('writer state')
const kController = Symbol('WritableStreamDefaultController state')

function stateOf(stream) {
  const s = isObject(stream) ? stream[kState] : undefined
  if (!s) throw illegal()
  return s
}

export function isWritable(value) {
  return isObject(value) && value[kState] !== undefined
}

/** The state of a WritableStream (for pipes and TransformStreams). */
export function writableState(stream) {
  return stream[kState]
}

/**
 * CreateWritableStream over algorithms (TransformStream's writable end): no underlying sink object
 * whose members could be read, `sink` is only the `this` of the algorithms.
 */
export function createWritable(sink, start, write, close, abort, hwm, size) {
  const stream = Object.create(WritableStream.prototype)
  const object = Object.create(WritableStreamDefaultController.prototype)
  stream[kState] = setUpWritable(sink, start, write, close, abort, hwm, size, object, (c) => {
    object[kController] = c
  })
  return stream
}

export class WritableStream {
  constructor(underlyingSink = undefined, queuingStrategy = undefined) {
    if (underlyingSink === null) throw new TypeError('underlyingSink must be an object')
    if (underlyingSink !== undefined && !isObject(underlyingSink))
      throw new TypeError('underlyingSink must be an object')
    // WebIDL converts the arguments first (the strategy dictionary), then the constructor converts
    // the sink to an UnderlyingSink dictionary: its members in alphabetical order, each checked
    // as it is read.
    const st = strategy(queuingStrategy)
    const sink = underlyingSink === undefined ? null : underlyingSink
    const abort = callback(sink, 'abort', 'underlyingSink')
    const close = callback(sink, 'close', 'underlyingSink')
    const start = callback(sink, 'start', 'underlyingSink')
    const type = sink === null ? undefined : sink.type
    const write = callback(sink, 'write', 'underlyingSink')
    if (type !== undefined) throw new RangeError('Invalid type is specified')
    const hwm = extractHighWaterMark(st, 1)
    const size = st.size
    const object = Object.create(WritableStreamDefaultController.prototype)
    this[kState] = setUpWritable(sink, start, write, close, abort, hwm, size, object, (c) => {
      object[kController] = c
    })
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

export class WritableStreamDefaultWriter {
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

export class WritableStreamDefaultController {
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
