// TransformStream, its controller, and the state of one (a Stage), on the ReadableStream and
// WritableStream of this folder, with a fused pipeThrough (transform-chain.js).
//
// Why not web-streams-polyfill's: it follows the standard's algorithms literally, and every step of a
// chunk through a TransformStream is promise plumbing (the pipe's read, the writer's ready and
// write promises, the sink's write promise, the backpressure promise, the pull promise: about a
// dozen promises and jobs). V8 makes that cheap; QuickJS interprets it, at ~48 us per chunk per
// stage, and the AI SDK's streamText passes every token through ten such stages.
//
// Standalone (written through its writable, read through its readable), a TransformStream here
// behaves as the standard's: the same transformer calls, backpressure, flush, cancel and errors,
// with fewer promises per chunk. Its ends are made over algorithms (CreateReadableStream,
// CreateWritableStream), and it drives them through their internal operations, never through
// methods a guest could replace.
import { isObject, illegal } from '../util.js'
import { then, noop, isThenable, record } from './helpers.js'
import { callback, strategy, extractHighWaterMark } from './dictionaries.js'
import { kState } from './readable-state.js'
import {
  controllerEnqueue,
  controllerClose,
  controllerError as readableError,
  desiredSize as readableDesiredSize,
} from './default-controller.js'
import { createReadable } from './readable.js'
import { createWritable, writableState } from './writable.js'
import { errorIfNeeded } from './writable-state.js'

/** A promise settled with `value` as a transformer's returned value is (a thenable is adopted). */
function adopt(value) {
  return Promise.resolve(value)
}

export function terminated() {
  return new TypeError('TransformStream terminated')
}

/** Stage of each TransformStream, of its writable and of its readable. */
export const byStream = new WeakMap()
export const byWritable = new WeakMap()
export const byReadable = new WeakMap()
export class TransformStreamDefaultController {
  constructor() {
    throw new TypeError('Illegal constructor')
  }
  get desiredSize() {
    return stageOf(this).desiredSize()
  }
  enqueue(chunk) {
    stageOf(this).enqueue(chunk)
  }
  error(reason) {
    stageOf(this).error(reason)
  }
  terminate() {
    stageOf(this).terminate()
  }
}
const controllers = new WeakMap()
function stageOf(controller) {
  const stage = controllers.get(controller)
  if (!stage) throw illegal()
  return stage
}

/** One TransformStream's state: its transformer, both ends, and its place in a chain. */
export class Stage {
  /**
   * `transformer` is the Transformer object (or null), `ws` and `rs` the converted strategies;
   * members are read as the standard converts the Transformer dictionary.
   */
  constructor(transformer, ws, rs) {
    this.transformer = transformer
    const cancel = callback(transformer, 'cancel', 'transformer')
    const flush = callback(transformer, 'flush', 'transformer')
    const readableType = transformer === null ? undefined : transformer.readableType
    const start = callback(transformer, 'start', 'transformer')
    const transform = callback(transformer, 'transform', 'transformer')
    const writableType = transformer === null ? undefined : transformer.writableType
    if (readableType !== undefined) throw new RangeError('Invalid readableType specified')
    if (writableType !== undefined) throw new RangeError('Invalid writableType specified')
    const readableHwm = extractHighWaterMark(rs, 0)
    const writableHwm = extractHighWaterMark(ws, 1)
    this.cancelFn = cancel
    this.flushFn = flush
    this.transformFn = transform

    /** 'open', 'flushing', 'closed' or 'errored' (the readable side, as this module sees it). */
    this.state = 'open'
    this.backpressure = true
    this.change = null
    /** The promise of whichever of flush / cancel ran first: the others return it. */
    this.finishing = null
    this.pulled = false
    this.emitted = 0
    // Fused: the chain this stage belongs to, the stage after it, what it holds locked.
    this.chain = null
    this.fused = false
    this.next = null
    this.writer = null
    this.outReader = null
    this.busy = false
    this.queue = []
    this.closeRequested = false
    this.storedError = undefined
    this.terminatedWith = undefined

    // Both ends wait for start; without one they may begin at once.
    let resolveStart
    const startPromise =
      start === undefined
        ? undefined
        : new Promise((resolve) => {
            resolveStart = resolve
          })
    this.readableHwm = readableHwm
    const startBoth = () => startPromise
    this.writable = createWritable(
      this,
      startBoth,
      (chunk) => this.sinkWrite(chunk),
      () => this.sinkClose(),
      (reason) => this.sinkAbort(reason),
      writableHwm,
      ws.size,
    )
    this.wc = writableState(this.writable).controller
    this.readable = createReadable(
      () => this.sourcePull(),
      (reason) => this.sourceCancel(reason),
      readableHwm,
      startBoth,
      rs.size,
    )
    this.rc = this.readable[kState].controller
    this.controller = Object.create(TransformStreamDefaultController.prototype)
    controllers.set(this.controller, this)
    if (start === undefined) return
    const started = start.call(transformer, this.controller)
    resolveStart(started)
    // A fused stage must not transform before start settles (the writable would wait too).
    if (isThenable(started)) this.hold(started)
  }

  // --- the controller ---

  desiredSize() {
    if (this.state === 'errored') return null
    if (this.state === 'closed') return 0
    return this.next ? this.readableHwm : readableDesiredSize(this.rc)
  }

  enqueue(chunk) {
    if (this.state !== 'open' && this.state !== 'flushing') {
      throw new TypeError('Readable side is not in a state that permits enqueue')
    }
    this.emitted++
    if (this.next) {
      this.next.receive(chunk)
      return
    }
    try {
      controllerEnqueue(this.rc, chunk)
    } catch (err) {
      // A throwing size(): the readable is errored with it; so is the writable.
      this.state = 'errored'
      this.errorWritable(err)
      if (this.chain) this.chain.fail(err, this)
      throw err
    }
    if (!this.backpressure && !(readableDesiredSize(this.rc) > 0)) this.setBackpressure(true)
  }

  error(reason) {
    if (this.chain) this.chain.fail(reason, this)
    else this.errorBoth(reason)
  }

  terminate() {
    if (this.chain) {
      this.chain.terminate(this)
      return
    }
    this.closeReadable()
    this.errorWritable(terminated())
  }

  // --- standalone: the writable's sink and the readable's source ---

  sinkWrite(chunk) {
    if (this.backpressure) {
      return then.call(this.changed(), () => {
        if (this.state === 'errored') throw this.storedError
        return this.perform(chunk)
      })
    }
    return this.perform(chunk)
  }

  /** The transformer's transform, or passing the chunk on when it has none. */
  transformOne(chunk) {
    return this.transformFn ? this.transformFn.call(this.transformer, chunk, this.controller) : this.enqueue(chunk)
  }

  perform(chunk) {
    let result
    try {
      result = this.transformOne(chunk)
    } catch (err) {
      this.errorBoth(err)
      throw err
    }
    if (!isThenable(result)) return undefined
    return then.call(adopt(result), undefined, (err) => {
      this.errorBoth(err)
      throw err
    })
  }

  sinkClose() {
    if (this.fused) return undefined
    return this.finish(() => this.flushFn?.call(this.transformer, this.controller)).then(
      () => {
        if (this.state === 'errored') throw this.storedError
        this.closeReadable()
      },
      (err) => {
        this.errorBoth(err)
        throw err
      },
    )
  }

  sinkAbort(reason) {
    if (this.fused) return undefined
    return this.cancelled(reason).then(
      () => {
        if (this.state === 'errored') throw this.storedError
        this.errorReadable(reason)
      },
      (err) => {
        this.errorReadable(err)
        throw err
      },
    )
  }

  sourcePull() {
    this.pulled = true
    this.setBackpressure(false)
    // A fused chain may have answered already (a chunk crossed it synchronously).
    if (this.backpressure) return undefined
    return this.changed()
  }

  sourceCancel(reason) {
    if (this.chain) return this.chain.cancel(reason)
    this.state = 'errored'
    this.storedError = reason
    return this.cancelled(reason).then(
      () => {
        this.errorWritable(reason)
      },
      (err) => {
        this.errorWritable(err)
        throw err
      },
    )
  }

  /** Runs `fn` (flush or cancel) if neither ran yet; every caller gets the first one's promise. */
  finish(fn) {
    if (!this.finishing) {
      try {
        this.finishing = adopt(fn())
      } catch (err) {
        this.finishing = Promise.reject(err)
      }
    }
    return this.finishing
  }

  /** The promise that settles at the next change of backpressure. */
  changed() {
    if (!this.change) {
      let resolve
      const promise = new Promise((r) => {
        resolve = r
      })
      this.change = { promise, resolve }
    }
    return this.change.promise
  }

  setBackpressure(value) {
    if (this.change) {
      this.change.resolve()
      this.change = null
    }
    this.backpressure = value
    if (!value && this.chain && !this.next) this.chain.pump()
  }

  closeReadable() {
    if (this.state === 'closed' || this.state === 'errored') return
    this.state = 'closed'
    this.endReadable()
  }

  /** Closes the readable's controller (unless closing already) and lets a waiting pull go. */
  endReadable() {
    try {
      controllerClose(this.rc)
    } catch {
      // already closing
    }
    this.setBackpressure(true)
  }

  errorReadable(reason) {
    if (this.state !== 'errored') {
      this.state = 'errored'
      this.storedError = reason
    }
    readableError(this.rc, reason)
    if (this.change) this.setBackpressure(true)
  }

  errorWritable(reason) {
    errorIfNeeded(this.wc, reason)
    // Unblocks a write waiting on backpressure: it sees the error.
    if (this.backpressure) this.setBackpressure(false)
  }

  errorBoth(reason) {
    this.errorReadable(reason)
    this.errorWritable(reason)
  }

  // --- fused: a stage of a chain ---

  /** Whether `pipeThrough` may join this stage to a chain instead of piping into it. */
  fusable() {
    return (
      !this.chain &&
      writableState(this.writable).writer === null &&
      this.readable[kState].reader === null &&
      this.state === 'open' &&
      this.emitted === 0
    )
  }

  /** A chunk from the chain: the previous stage's output, or the source's. */
  receive(chunk) {
    if (this.state !== 'open') return
    if (this.busy || this.queue.length > 0) {
      this.queue.push(chunk)
      return
    }
    this.run(chunk)
  }

  run(chunk) {
    let result
    try {
      result = this.transformOne(chunk)
    } catch (err) {
      this.chain.fail(err, this)
      return
    }
    if (isThenable(result)) this.hold(result)
  }

  /** Holds later chunks back until `pending` (a start or transform's result) settles. */
  hold(pending) {
    this.busy = true
    then.call(
      adopt(pending),
      () => {
        this.busy = false
        this.drain()
      },
      (err) => {
        this.busy = false
        if (this.chain) this.chain.fail(err, this)
      },
    )
  }

  /** Transforms what waited while this stage was busy, then lets the chain go on. */
  drain() {
    if (!this.chain) return
    while (!this.busy && this.queue.length > 0 && this.state === 'open') this.run(this.queue.shift())
    if (this.busy || !this.chain) return
    if (this.closeRequested && this.state === 'open') this.chain.close(this)
    else this.chain.pump()
  }

  /** Calls the transformer's cancel once (flush and cancel exclude each other). */
  cancelled(reason) {
    const p = this.finish(() => this.cancelFn?.call(this.transformer, reason))
    then.call(p, undefined, noop)
    return p
  }
}
record(Stage)

function register(ts, stage) {
  byStream.set(ts, stage)
  byWritable.set(stage.writable, stage)
  byReadable.set(stage.readable, stage)
}

const DEFAULT_STRATEGY = Object.freeze({ __proto__: null, highWaterMark: undefined, size: undefined })

/**
 * A TransformStream over the prelude's own algorithms (TextEncoderStream, CompressionStream, ...):
 * `transform(chunk, enqueue)` and `flush(enqueue)`, where `enqueue` is the controller's, reached
 * without its public method.
 */
export function internalTransformStream(transform, flush = undefined) {
  const transformer = { __proto__: null }
  let stage
  const enqueue = (chunk) => stage.enqueue(chunk)
  transformer.transform = (chunk) => transform(chunk, enqueue)
  if (flush) transformer.flush = () => flush(enqueue)
  stage = new Stage(transformer, DEFAULT_STRATEGY, DEFAULT_STRATEGY)
  const ts = Object.create(TransformStream.prototype)
  register(ts, stage)
  return ts
}

export class TransformStream {
  constructor(transformer = undefined, writableStrategy = undefined, readableStrategy = undefined) {
    if (transformer !== undefined && !isObject(transformer)) throw new TypeError('transformer must be an object')
    // WebIDL converts the strategies (the arguments) before the constructor reads the transformer.
    const ws = strategy(writableStrategy)
    const rs = strategy(readableStrategy)
    register(this, new Stage(transformer === undefined ? null : transformer, ws, rs))
  }
  get readable() {
    const stage = byStream.get(this)
    if (!stage) throw illegal()
    return stage.readable
  }
  get writable() {
    const stage = byStream.get(this)
    if (!stage) throw illegal()
    return stage.writable
  }
}
