// TransformStream, built on the ReadableStream of readable.js and the WritableStream of
// writable.js, with a fused pipeThrough.
//
// Why not web-streams-polyfill's: it follows the standard's algorithms literally, and every step of a
// chunk through a TransformStream is promise plumbing (the pipe's read, the writer's ready and
// write promises, the sink's write promise, the backpressure promise, the pull promise: about a
// dozen promises and jobs). V8 makes that cheap; QuickJS interprets it, at ~48 us per chunk per
// stage, and the AI SDK's streamText passes every token through ten such stages.
//
// What this module does instead:
// - Standalone (written through its writable, read through its readable), a TransformStream here
//   behaves as the standard's: the same transformer calls, backpressure, flush, cancel and errors,
//   with fewer promises per chunk.
// - `source.pipeThrough(ts)` without options, for a `ts` made here, does not pipe: it locks both
//   ends as a pipe would and joins `ts` to a chain. A chain reads its source only when its last
//   stage's readable is pulled, hands each chunk to the first transformer, and a stage's
//   `controller.enqueue` calls the next stage's transformer directly, so a chunk crosses the whole
//   chain in one synchronous call unless a transformer returns a promise (then that stage holds
//   later chunks in order until it settles, and the chain reads no more meanwhile). Only the last
//   stage's output goes into a real ReadableStream. `a.pipeThrough(x).pipeThrough(y)` is one chain.
// - A chain ends as the pipes it replaces would: the source's end flushes each stage in order and
//   closes the last readable; an error (the source's, a transformer's, `controller.error`) cancels
//   the other stages' transformers and the source, and errors every readable; cancelling the last
//   readable cancels each transformer and the source; `controller.terminate()` closes the
//   stages after it and cancels those before it. Locks are released when a chain ends.
// - Anything else (options, a pair that is not a TransformStream made here, a stage that has
//   already been written to or has output) is piped (readable.js's pipeTo).
import { isObject, illegal, checkFunction, dictionary, enumerableMembers } from './util.js'

const { then } = Promise.prototype
const noop = () => {}
const resolvedPromise = Promise.resolve()
/** Stages of one chain at most: each one adds a few frames to a chunk's synchronous way. */
const MAX_FUSED = 32

function isThenable(value) {
  return isObject(value)
}

/** A promise settled with `value` as a transformer's returned value is (a thenable is adopted). */
function adopt(value) {
  return Promise.resolve(value)
}

function terminated() {
  return new TypeError('TransformStream terminated')
}

/**
 * Builds the two classes over the given streams, and sets `hooks.fuse`, which readable.js's
 * pipeThrough asks first.
 */
export function makeTransformStream({ ReadableStream, WritableStream }, { internalReader, hooks, nested }) {
  /** Stage of each TransformStream, of its writable and of its readable. */
  const byStream = new WeakMap()
  const byWritable = new WeakMap()
  const byReadable = new WeakMap()
  class TransformStreamDefaultController {
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

  /** The writable's underlying sink: one object per stream, its methods shared. */
  class Sink {
    constructor(stage) {
      this.stage = stage
    }
    start(wc) {
      this.stage.wc = wc
      return this.stage.startPromise
    }
    write(chunk) {
      return this.stage.sinkWrite(chunk)
    }
    close() {
      return this.stage.sinkClose()
    }
    abort(reason) {
      return this.stage.sinkAbort(reason)
    }
  }

  /** The readable's underlying source. */
  class Source {
    constructor(stage) {
      this.stage = stage
    }
    start(rc) {
      this.stage.rc = rc
      return this.stage.startPromise
    }
    pull() {
      return this.stage.sourcePull()
    }
    cancel(reason) {
      return this.stage.sourceCancel(reason)
    }
  }

  /** One TransformStream's state: its transformer, both ends, and its place in a chain. */
  class Stage {
    constructor(transformer, writableStrategy, readableStrategy) {
      this.transformer = transformer
      // The standard reads the transformer's members once, in this (alphabetical) order.
      const cancel = transformer.cancel
      const flush = transformer.flush
      const readableType = transformer.readableType
      const start = transformer.start
      const transform = transformer.transform
      const writableType = transformer.writableType
      checkFunction(cancel, 'transformer.cancel')
      checkFunction(flush, 'transformer.flush')
      checkFunction(start, 'transformer.start')
      checkFunction(transform, 'transformer.transform')
      if (readableType !== undefined) throw new RangeError('Invalid readableType specified')
      if (writableType !== undefined) throw new RangeError('Invalid writableType specified')
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

      // Both ends wait for start; without one they may begin at once.
      let resolveStart
      const startPromise =
        start === undefined
          ? undefined
          : new Promise((resolve) => {
              resolveStart = resolve
            })
      this.startPromise = startPromise
      const readableHwm = readableStrategy.highWaterMark
      this.readableHwm = readableHwm === undefined ? 0 : Number(readableHwm)
      this.writable = new WritableStream(new Sink(this), writableStrategy)
      const size = readableStrategy.size
      this.readable = new ReadableStream(
        new Source(this),
        size === undefined ? { highWaterMark: this.readableHwm } : { highWaterMark: readableHwm, size },
      )
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
      return this.next ? this.readableHwm : this.rc.desiredSize
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
        this.rc.enqueue(chunk)
      } catch (err) {
        // A throwing size(): the readable is errored with it; so is the writable.
        this.state = 'errored'
        this.errorWritable(err)
        if (this.chain) this.chain.fail(err, this)
        throw err
      }
      if (!this.backpressure && !(this.rc.desiredSize > 0)) this.setBackpressure(true)
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
        this.rc.close()
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
      this.rc.error(reason)
      if (this.change) this.setBackpressure(true)
    }

    errorWritable(reason) {
      this.wc.error(reason)
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
        !this.chain && !this.writable.locked && !this.readable.locked && this.state === 'open' && this.emitted === 0
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

  /** Stages fed from one source in turn, as pipes between them would. */
  const blocked = (s) => s.busy || s.queue.length > 0 || s.state !== 'open'

  class Chain {
    constructor(source, head, deferred = false) {
      this.reader = internalReader(source)
      this.stages = []
      this.reading = false
      this.pumping = false
      this.pumpAgain = false
      this.ended = false
      this.sourceDone = false
      this.sourceErrored = false
      // One read at a time: the same request serves them all.
      // `reading` stays true until a deferred answer is taken: nothing reads past it meanwhile.
      const later = deferred ? (fn) => then.call(resolvedPromise, fn) : (fn) => fn()
      this.request = {
        chunk: (chunk) => later(() => nested(() => this.take(chunk))),
        close: () =>
          later(() => {
            this.reading = false
            this.sourceDone = true
            if (!this.ended) this.close(this.stages[0])
          }),
        error: (err) => later(() => this.sourceFailed(err)),
      }
      // An error found while a read is under way (the source's pull failed during it) waits for
      // that read's chunk to go through first, as the pipe would still write it.
      this.reader.onError = (err) => {
        if (this.reading) then.call(resolvedPromise, () => this.sourceFailed(err))
        else this.sourceFailed(err)
      }
      this.reader.onClose = () => {
        // The source ended with no read waiting: flush now, as a pipe would, not at the next pull.
        if (this.reading || this.ended || this.sourceDone) return
        this.sourceDone = true
        this.close(this.stages[0])
      }
      this.join(head)
    }

    get tail() {
      return this.stages[this.stages.length - 1]
    }

    /** A chunk read from the source goes to the first stage. */
    take(chunk) {
      this.reading = false
      if (this.ended) return
      try {
        this.stages[0].receive(chunk)
        this.pump()
      } catch (err) {
        // Not a transformer's error (receive catches those): an engine limit, say. End the chain
        // rather than leave its reader waiting.
        this.fail(err, undefined)
      }
    }

    add(stage) {
      const last = this.tail
      last.next = stage
      last.outReader = internalReader(last.readable)
      this.join(stage)
    }

    join(stage) {
      stage.chain = this
      stage.fused = true
      stage.writer = stage.writable.getWriter()
      this.stages.push(stage)
    }

    /** Cancels the source, once; its close must not flush the chain (the source is done). */
    cancelSource(reason) {
      if (this.sourceDone) return
      this.sourceDone = true
      then.call(this.reader.cancel(reason), undefined, noop)
    }

    sourceFailed(err) {
      this.reading = false
      if (this.ended) return
      this.sourceErrored = true
      this.sourceDone = true
      this.fail(err, undefined)
    }

    /**
     * Reads the source when the last stage is pulled and no stage is busy. Reads that complete
     * at once (chunks already queued) loop here rather than recurse.
     */
    pump() {
      if (this.pumping) {
        this.pumpAgain = true
        return
      }
      this.pumping = true
      try {
        do {
          this.pumpAgain = false
          if (this.reading || this.ended || this.sourceDone || this.tail.backpressure) break
          if (this.stages.some(blocked)) break
          this.reading = true
          this.reader.read(this.request)
        } while (this.pumpAgain)
      } finally {
        this.pumping = false
      }
    }

    /** Flushes `stage` once it has transformed all it holds, then closes it and the next. */
    close(stage) {
      if (this.ended || stage.state !== 'open') return
      if (stage.busy || stage.queue.length > 0) {
        stage.closeRequested = true
        return
      }
      stage.state = 'flushing'
      const after = () => {
        if (stage.state !== 'flushing' || this.ended) return
        stage.state = 'closed'
        if (stage.next) {
          this.close(stage.next)
          return
        }
        stage.endReadable()
        this.end()
      }
      const result = stage.finish(() => stage.flushFn?.call(stage.transformer, stage.controller))
      then.call(result, after, (err) => this.fail(err, stage))
    }

    /** `controller.terminate()` at `stage`: later stages close, earlier ones and the source cancel. */
    terminate(stage) {
      if (this.ended || stage.state === 'closed' || stage.state === 'errored') return
      const reason = terminated()
      const at = this.stages.indexOf(stage)
      for (let i = 0; i < at; i++) {
        const s = this.stages[i]
        s.state = 'errored'
        s.terminatedWith = reason
        s.cancelled(reason)
      }
      this.cancelSource(reason)
      stage.state = 'closed'
      stage.queue.length = 0
      stage.busy = false
      stage.terminatedWith = reason
      if (stage.next) {
        this.close(stage.next)
      } else {
        stage.endReadable()
        this.end()
      }
    }

    /** Cancelling the last readable: every transformer's cancel, then the source's. */
    cancel(reason) {
      if (this.ended) return undefined
      const stages = this.stages
      const tail = stages[stages.length - 1]
      const result = tail.cancelled(reason)
      for (let i = stages.length - 2; i >= 0; i--) stages[i].cancelled(reason)
      for (const s of stages) s.state = 'errored'
      this.cancelSource(reason)
      this.ended = true
      tail.storedError = reason
      this.release(reason, 'cancelled', tail)
      return result
    }

    /** An error at `origin` (a stage, or the source when undefined) ends the chain errored. */
    fail(err, origin) {
      if (this.ended) return
      for (const s of this.stages) {
        if (s !== origin && s.state !== 'closed' && s.state !== 'errored') s.cancelled(err)
      }
      if (!this.sourceErrored) this.cancelSource(err)
      this.sourceDone = true
      for (const s of this.stages) {
        if (s.state !== 'closed') {
          s.state = 'errored'
          s.storedError = err
          s.rc.error(err)
        }
      }
      this.ended = true
      this.release(err, 'errored')
    }

    /** The chain ended well: every writable closes, as a finished pipe leaves it. */
    end() {
      this.ended = true
      this.release(undefined, 'closed')
    }

    /**
     * Releases what the chain held, leaving each end as the pipes would have: writables closed
     * (or errored with the error, or with a terminating stage's TypeError), the readables between
     * stages closed or errored, every lock released.
     */
    release(err, how, cancelledTail) {
      for (const s of this.stages) {
        const writer = s.writer
        if (writer) {
          const reason = s.terminatedWith ?? err
          if (how === 'closed' && reason === undefined) then.call(writer.close(), undefined, noop)
          else s.wc.error(reason)
          writer.releaseLock()
          s.writer = null
        }
        if (s.outReader) {
          if (how !== 'errored') {
            try {
              s.rc.close()
            } catch {
              // closed already
            }
          }
          s.outReader.release()
          s.outReader = null
        }
        if (s !== cancelledTail && s.change) s.setBackpressure(true)
        s.queue.length = 0
        s.chain = null
        s.next = null
      }
      this.reader.release()
    }
  }

  class TransformStream {
    constructor(transformer = undefined, writableStrategy = undefined, readableStrategy = undefined) {
      if (transformer !== undefined && !isObject(transformer)) throw new TypeError('transformer must be an object')
      const stage = new Stage(
        transformer ?? {},
        dictionary(writableStrategy, 'strategy'),
        dictionary(readableStrategy, 'strategy'),
      )
      byStream.set(this, stage)
      byWritable.set(stage.writable, stage)
      byReadable.set(stage.readable, stage)
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

  // readable.js's pipeThrough asks first whether `source.pipeThrough(pair)` can join a chain.
  hooks.fuse = (source, readable, writable) => {
    const stage = byWritable.get(writable)
    if (!stage || stage.readable !== readable || !stage.fusable()) return undefined
    const prev = byReadable.get(source)
    const joinable = prev && prev.chain && !prev.next && prev.emitted === 0 && !prev.pulled
    if (joinable && prev.chain.stages.length < MAX_FUSED) prev.chain.add(stage)
    // A chain read from another's last stage takes each chunk a microtask later, so a long
    // series of stages never nests deeper than MAX_FUSED calls.
    else new Chain(source, stage, joinable)
    // A pulled stage already wants data: the new chain may read at once.
    if (!stage.backpressure) stage.chain.pump()
    return readable
  }

  enumerableMembers(TransformStream, TransformStreamDefaultController)

  return { TransformStream, TransformStreamDefaultController }
}
