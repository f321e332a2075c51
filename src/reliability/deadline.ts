/**
 * Deadlines: the time an invocation has left, inherited by every host call it makes (guest
 * `fetch`, `fnbox:host` data calls), so no call outlives the invocation that asked for it; the
 * budget of one invocation (its wall-clock limits before and while it streams, and its CPU time);
 * and per-call timeouts that cancel the work they time out, through that call's own signal.
 *
 * @internal
 * @module
 */
import { FnboxError, type SerializedFnboxError } from '../errors.js'
import { onAbort } from './abort.js'
import { systemClock, type Clock, type TimerHandle } from '../clock.js'

/**
 * How long after the deadline host calls are cut: the invocation's own time limit (enforced in
 * the sandbox at the deadline) ends it first, as `ERR_TIMEOUT`, instead of the guest catching a
 * cut-short host call in the last instant and answering as if in time.
 */
export const DEADLINE_GRACE_MS = 50

/**
 * The end of one invocation. Cheap when unused: the signal (and its timer) exists only once a
 * host call asks for it, since most invocations make none.
 */
export class Deadline {
  readonly #clock: Clock
  /** Epoch ms at which the invocation started. */
  readonly startedAt: number
  #at: number
  #budgetMs: number
  #controller: AbortController | undefined
  #timer: TimerHandle | undefined
  #disposed = false

  /** `startedAt`: epoch ms the invocation started at, when that was before now. */
  constructor(budgetMs: number, clock: Clock = systemClock, startedAt = clock.wallNow()) {
    this.#clock = clock
    this.#budgetMs = budgetMs
    this.startedAt = startedAt
    this.#at = this.startedAt + budgetMs
  }

  /** Epoch ms at which the time is up. */
  get at(): number {
    return this.#at
  }

  /**
   * Moves the end later, to `at` (epoch ms): a response that streams gets the stream's budget
   * (see {@link InvocationBudget}), and the host calls feeding it (an upstream's streamed body)
   * go on with it. Never moves it earlier; a deadline already passed stays passed.
   */
  extendTo(at: number): void {
    if (this.#disposed || at <= this.#at || this.#controller?.signal.aborted) return
    this.#at = at
    this.#budgetMs = at - this.startedAt
    if (this.#timer !== undefined) {
      this.#clock.clearTimeout(this.#timer)
      this.#arm()
    }
  }

  #arm(): void {
    const left = this.remaining() + DEADLINE_GRACE_MS
    const timer = this.#clock.setTimeout(() => afterPendingMessages(() => this.#expire(timer), this.#clock), left)
    this.#timer = timer
  }

  /**
   * The timer fired: aborts, unless the end moved meanwhile. Run after the messages already
   * received: the thread may have sent the response head that moves it just before (under load,
   * a timer and a message due at once run timer first).
   */
  #expire(timer: TimerHandle): void {
    if (this.#disposed || timer !== this.#timer || this.#controller!.signal.aborted) return
    if (this.#clock.wallNow() < this.#at + DEADLINE_GRACE_MS) this.#arm()
    else this.#controller!.abort(this.error('the invocation'))
  }

  /** Milliseconds left, never below 0. */
  remaining(): number {
    return Math.max(0, this.#at - this.#clock.wallNow())
  }

  get expired(): boolean {
    return this.remaining() <= 0
  }

  /**
   * Aborts, with {@link Deadline.error}, {@link DEADLINE_GRACE_MS} after the time is up (or when
   * the invocation ended).
   */
  get signal(): AbortSignal {
    if (!this.#controller) {
      this.#controller = new AbortController()
      if (this.#disposed) this.#controller.abort(this.error('the invocation'))
      else this.#arm()
    }
    return this.#controller.signal
  }

  /** `ERR_TIMEOUT` naming what was cut short and the invocation's time limit. */
  error(what: string): FnboxError {
    return new FnboxError(
      'ERR_TIMEOUT',
      `${what} was cut short: the invocation's ${this.#budgetMs} ms deadline passed`,
      {
        details: { limit: this.#budgetMs, reason: 'deadline' },
      },
    )
  }

  /**
   * Runs `work` within the time left: refused at once when none is left; when the deadline
   * passes first, rejects with `ERR_TIMEOUT` (the work's late result is dropped).
   */
  run<T>(what: string, work: () => Promise<T>): Promise<T> {
    if (this.expired) return Promise.reject(this.error(what))
    return new Promise<T>((resolve, reject) => {
      const stop = onAbort(this.signal, () => reject(this.error(what)))
      work().then(
        (value) => {
          stop()
          resolve(value)
        },
        (err: unknown) => {
          stop()
          reject(err)
        },
      )
    })
  }

  /** The invocation is over: stops the timer, and aborts whatever still holds the signal. */
  dispose(): void {
    if (this.#disposed) return
    this.#disposed = true
    if (this.#timer !== undefined) this.#clock.clearTimeout(this.#timer)
    if (this.#controller && !this.#controller.signal.aborted) this.#controller.abort(this.error('the invocation'))
  }
}

/**
 * Runs `fn` from a timer callback once the event loop has handled the I/O already waiting,
 * thread messages included: a 0 ms timer fires in the loop's next timers phase, after its poll
 * phase.
 */
export function afterPendingMessages(fn: () => void, clock: Clock = systemClock): void {
  clock.setTimeout(fn, 0)
}

/** The limits one invocation runs under (see `Limits` in options.ts), and when it started. */
export interface InvocationLimits {
  /** Epoch ms (`Date.now()`) at which the invocation got its instance: every wall limit counts from it. */
  startedAt: number
  timeoutMs: number
  cpuMs: number
  streamIdleMs: number
  streamTotalMs: number
  /**
   * The option `timeoutMs` came from, named by its errors: `limits.timeoutMs` when absent; a job's
   * run has `limits.jobTimeoutMs` (or the job's own `timeoutMs`), so its error names what to raise.
   */
  timeoutOption?: string
}

/** The limit an invocation ran out of. */
export type BudgetLimit = 'timeoutMs' | 'streamIdleMs' | 'streamTotalMs' | 'cpuMs'

/**
 * The wall-clock budget of one invocation, in three phases. Until its response head (or its
 * result) it has `timeoutMs`. A head sent as a stream starts the stream's budget: at most
 * `streamIdleMs` without a chunk, and `streamTotalMs` (at least `timeoutMs`) from the start in
 * all. waitUntil work after a streamed body gets `timeoutMs` from the body's end (within
 * `streamTotalMs`); without a streamed head, it stays within the first `timeoutMs`. CPU time (`cpuMs`) is counted by whoever runs the
 * guest; it applies in every phase.
 *
 * Pure: every method takes the time, so the executor thread (which enforces the budget with its
 * own timers and QuickJS's interrupt) and the main thread (which backs it up when the thread is
 * blocked) keep the same budget from the messages they see, and tests drive it without a clock.
 */
export class InvocationBudget {
  readonly limits: InvocationLimits
  #phase: 'head' | 'stream' | 'after' = 'head'
  #lastChunk = 0
  #endedAt = 0

  constructor(limits: InvocationLimits) {
    this.limits = limits
  }

  /** The response head went out at `now` with a streamed body. */
  streamStarted(now: number): void {
    if (this.#phase !== 'head') return
    this.#phase = 'stream'
    this.#lastChunk = now
  }

  /** A chunk of the streamed body went out at `now`. */
  chunk(now: number): void {
    if (this.#phase === 'stream') this.#lastChunk = Math.max(this.#lastChunk, now)
  }

  /** The streamed body was complete at `now` (waitUntil work may go on). */
  bodyEnded(now: number): void {
    if (this.#phase !== 'stream') return
    this.#phase = 'after'
    this.#endedAt = now
  }

  get streamed(): boolean {
    return this.#phase !== 'head'
  }

  /** When (epoch ms) the wall-clock budget runs out next: {@link next}'s `at`, without its object. */
  nextAt(): number {
    const { startedAt, timeoutMs } = this.limits
    return this.#phase === 'head' ? startedAt + timeoutMs : this.next().at
  }

  /** When (epoch ms) the wall-clock budget runs out next, and which limit that is. */
  next(): { at: number; limit: Exclude<BudgetLimit, 'cpuMs'> } {
    const { startedAt, timeoutMs, streamIdleMs, streamTotalMs } = this.limits
    if (this.#phase === 'head') return { at: startedAt + timeoutMs, limit: 'timeoutMs' }
    const total = startedAt + Math.max(timeoutMs, streamTotalMs)
    if (this.#phase === 'stream' && this.#lastChunk + streamIdleMs < total) {
      return { at: this.#lastChunk + streamIdleMs, limit: 'streamIdleMs' }
    }
    // waitUntil work after a streamed body: `timeoutMs` from the body's end, as it would have
    // had after a plain one, so a quick stream does not hold its instance for streamTotalMs.
    if (this.#phase === 'after' && this.#endedAt + timeoutMs < total) {
      return { at: this.#endedAt + timeoutMs, limit: 'timeoutMs' }
    }
    return { at: total, limit: 'streamTotalMs' }
  }

  /**
   * Whether the CPU limit can end the invocation before its wall-clock limits: the guest's time
   * never exceeds the time since the start, so a `cpuMs` of at least the phase's whole wall
   * budget never binds (and a wall-clock limit reached at the same moment is the one reported).
   */
  cpuBinds(): boolean {
    const { timeoutMs, cpuMs, streamTotalMs } = this.limits
    return cpuMs < (this.#phase === 'head' ? timeoutMs : Math.max(timeoutMs, streamTotalMs))
  }

  /** The end of the invocation's host calls: the stream's total once it streams (idle gaps aside). */
  hostDeadline(): number {
    const { startedAt, timeoutMs, streamTotalMs } = this.limits
    if (this.#phase === 'head') return startedAt + timeoutMs
    const total = startedAt + Math.max(timeoutMs, streamTotalMs)
    return this.#phase === 'after' ? Math.min(total, this.#endedAt + timeoutMs) : total
  }

  /** The error of running out of `limit`, naming the option and its value. */
  error(limit: BudgetLimit): SerializedFnboxError {
    return budgetError(limit, this.limits)
  }
}

/** `ERR_TIMEOUT` for the wall-clock limits, `ERR_CPU_LIMIT` for CPU time; `details` name the option. */
export function budgetError(limit: BudgetLimit, limits: Omit<InvocationLimits, 'startedAt'>): SerializedFnboxError {
  const value = limits[limit]
  const option = limit === 'timeoutMs' && limits.timeoutOption ? limits.timeoutOption : `limits.${limit}`
  const details = { limit: value, option }
  switch (limit) {
    case 'cpuMs':
      return {
        code: 'ERR_CPU_LIMIT',
        message: `the function used more than ${option} (${value} ms) of CPU time`,
        details,
      }
    case 'streamIdleMs':
      return { code: 'ERR_TIMEOUT', message: `the response stream sent nothing for ${option} (${value} ms)`, details }
    case 'streamTotalMs':
      return { code: 'ERR_TIMEOUT', message: `the response stream ran past ${option} (${value} ms)`, details }
    case 'timeoutMs':
      return { code: 'ERR_TIMEOUT', message: `the function ran past ${option} (${value} ms)`, details }
  }
}

/**
 * Runs `work` with a timeout of its own. The work gets a signal that belongs to this call only
 * and aborts when the time is up, so the work is actually cancelled (not left running in the
 * background, as a plain `Promise.race` or opossum's timer would leave it), and no other call is
 * touched (as one shared `AbortController` would). `parent` aborts it too.
 */
export function withTimeout<T>(
  work: (signal: AbortSignal) => Promise<T>,
  ms: number | undefined,
  timeoutError: () => unknown,
  options: { clock?: Clock; parent?: AbortSignal; onLate?: (value: T) => void } = {},
): Promise<T> {
  const clock = options.clock ?? systemClock
  const controller = new AbortController()
  const { parent } = options
  // The parent may be shared by many calls (an invocation's deadline): one listener fans out.
  let stopParent = (): void => {}
  if (parent?.aborted) controller.abort(parent.reason)
  else if (parent) stopParent = onAbort(parent, () => controller.abort(parent.reason))
  const timer = ms === undefined ? undefined : clock.setTimeout(() => controller.abort(timeoutError()), ms)
  const cleanup = (): void => {
    if (timer !== undefined) clock.clearTimeout(timer)
    stopParent()
  }
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(controller.signal.reason)
    if (controller.signal.aborted) {
      cleanup()
      reject(controller.signal.reason)
      return
    }
    controller.signal.addEventListener('abort', onAbort, { once: true })
    let running: Promise<T>
    try {
      running = work(controller.signal)
    } catch (err) {
      running = Promise.reject(err)
    }
    running.then(
      (value) => {
        cleanup()
        controller.signal.removeEventListener('abort', onAbort)
        // Came after the timeout or an abort: nobody takes it, so release it here.
        if (controller.signal.aborted) options.onLate?.(value)
        else resolve(value)
      },
      (err: unknown) => {
        cleanup()
        controller.signal.removeEventListener('abort', onAbort)
        reject(controller.signal.aborted ? controller.signal.reason : err)
      },
    )
  })
}
