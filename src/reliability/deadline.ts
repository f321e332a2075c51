/**
 * Deadlines: the time an invocation has left, inherited by every host call it makes (guest
 * `fetch`, `fnbox:host` data calls), so no call outlives the invocation that asked for it; and
 * per-call timeouts that cancel the work they time out, through that call's own signal.
 *
 * @internal
 * @module
 */
import { FnboxError } from '../errors.js'
import { onAbort } from './abort.js'
import { systemClock, type Clock, type TimerHandle } from './clock.js'

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
  /** Epoch ms at which the time is up. */
  readonly at: number
  readonly #budgetMs: number
  #controller: AbortController | undefined
  #timer: TimerHandle | undefined
  #disposed = false

  constructor(budgetMs: number, clock: Clock = systemClock) {
    this.#clock = clock
    this.#budgetMs = budgetMs
    this.at = clock.now() + budgetMs
  }

  /** Milliseconds left, never below 0. */
  remaining(): number {
    return Math.max(0, this.at - this.#clock.now())
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
      else {
        const left = this.remaining() + DEADLINE_GRACE_MS
        this.#timer = this.#clock.setTimeout(() => this.#controller!.abort(this.error('the invocation')), left)
      }
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
