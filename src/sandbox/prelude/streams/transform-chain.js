// Fused pipeThrough chains of TransformStreams.
//
// `source.pipeThrough(ts)` without options, for a `ts` made here, does not pipe: it locks both
// ends as a pipe would and joins `ts` to a chain. A chain reads its source only when its last
// stage's readable is pulled, hands each chunk to the first transformer, and a stage's
// `controller.enqueue` calls the next stage's transformer directly, so a chunk crosses the whole
// chain in one synchronous call unless a transformer returns a promise (then that stage holds
// later chunks in order until it settles, and the chain reads no more meanwhile). Only the last
// stage's output goes into a real ReadableStream. `a.pipeThrough(x).pipeThrough(y)` is one chain.
//
// A chain ends as the pipes it replaces would: the source's end flushes each stage in order and
// closes the last readable; an error (the source's, a transformer's, `controller.error`) cancels
// the other stages' transformers and the source, and errors every readable; cancelling the last
// readable cancels each transformer and the source; `controller.terminate()` closes the stages
// after it and cancels those before it. Locks are released when a chain ends.
//
// Anything else (options, a pair that is not a TransformStream made here, a stage that has already
// been written to or has output) is piped (pipe.js).
import { then, noop, resolvedUndefined, nested, record } from './helpers.js'
import { kState } from './readable-state.js'
import { controllerClose, controllerError as readableError } from './default-controller.js'
import { internalReader } from './pipe.js'
import { writableState } from './writable.js'
import { acquireWriter, writerRelease, errorIfNeeded, closeQueuedOrInFlight, streamClose } from './writable-state.js'
import { byWritable, byReadable, terminated } from './transform.js'

/** Stages of one chain at most: each one adds a few frames to a chunk's synchronous way. */
const MAX_FUSED = 32

/** A writer's close(), as the chain ending well leaves each writable. */
function closeWriter(writer) {
  const s = writer.stream
  if (closeQueuedOrInFlight(s)) return Promise.reject(new TypeError('Cannot close an already-closing stream'))
  return streamClose(s)
}

/** Stages fed from one source in turn, as pipes between them would. */
const blocked = (s) => s.busy || s.queue.length > 0 || s.state !== 'open'

export class Chain {
  constructor(source, head, deferred = false) {
    this.reader = internalReader(source[kState])
    this.stages = []
    this.reading = false
    this.pumping = false
    this.pumpAgain = false
    this.ended = false
    this.sourceDone = false
    this.sourceErrored = false
    // One read at a time: the same request serves them all.
    // `reading` stays true until a deferred answer is taken: nothing reads past it meanwhile.
    const later = deferred ? (fn) => then.call(resolvedUndefined, fn) : (fn) => fn()
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
      if (this.reading) then.call(resolvedUndefined, () => this.sourceFailed(err))
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
    last.outReader = internalReader(last.readable[kState])
    this.join(stage)
  }

  join(stage) {
    stage.chain = this
    stage.fused = true
    stage.writer = acquireWriter(writableState(stage.writable))
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
        readableError(s.rc, err)
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
        if (how === 'closed' && reason === undefined) then.call(closeWriter(writer), undefined, noop)
        else errorIfNeeded(s.wc, reason)
        writerRelease(writer)
        s.writer = null
      }
      if (s.outReader) {
        if (how !== 'errored') {
          try {
            controllerClose(s.rc)
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

record(Chain)

/**
 * readable.js's pipeThrough asks this first (as `hooks.fuse`, set by index.js) whether
 * `source.pipeThrough(pair)` can join a chain; it returns the pair's readable if it did.
 */
export function fuse(source, readable, writable) {
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
