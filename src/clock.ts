/**
 * The host's one time source: the pools, breakers, quotas, rate limits, retries, the memory
 * KV's expiries and sweeper, and the cron and job timers read time and set timers through a
 * {@link Clock}, the one given to `createRuntime({ clock })`. A test passes a {@link ManualClock}
 * and moves time by hand instead of sleeping.
 *
 * What does not follow it, and why: the guest's own limits (`timeoutMs`, `cpuMs`, the stream
 * limits) are enforced on the executor threads, by their real clock, and the host side of each
 * invocation's deadline reads the same real clock so that both sides agree on when it ends;
 * a storage folder's lock heartbeat is compared with file times; `close()`'s grace period is
 * real time, so that a runtime always closes, even when a test's clock stands still.
 *
 * @module
 */
import { onAbort } from './reliability/abort.js'

/**
 * Time and timers. The default reads the system clock; a test passes its own (see
 * {@link ManualClock}) to move time by hand.
 *
 * @example
 * ```ts
 * import { createRuntime, ManualClock } from 'fnbox'
 *
 * const clock = new ManualClock(Date.UTC(2026, 0, 1))
 * const runtime = await createRuntime({ clock, storage: 'memory' })
 * await runtime.kv.set('k', 1, { ttl: 1 })
 * clock.advance(1000) // the entry has expired; timers due meanwhile have fired
 * ```
 * @public
 */
export interface Clock {
  /**
   * Milliseconds on a monotonic scale, for durations and waits (the default:
   * `performance.now()`). Its origin means nothing; only differences do.
   */
  now(): number
  /**
   * Milliseconds since the Unix epoch, for what has a date: expiries (KV TTL), quota periods,
   * `Retry-After` dates, cron slots, job times, log times (the default: `Date.now()`).
   */
  wallNow(): number
  /** Calls `callback` once after `ms`; the handle cancels it. A timer never keeps the process alive. */
  setTimeout(callback: () => void, ms: number): unknown
  /** Cancels a timer of {@link Clock.setTimeout} (a handle of a timer that fired is ignored). */
  clearTimeout(handle: unknown): void
}

/** A timer handle, as a clock's `setTimeout` returns it. @internal */
export type TimerHandle = unknown

/**
 * The process clock. It reads the globals on every call (not once at import), so
 * `vi.useFakeTimers()` drives it as it drives opossum's and p-retry's timers.
 *
 * @internal
 */
export const systemClock: Clock = Object.freeze({
  now: () => performance.now(),
  wallNow: () => Date.now(),
  setTimeout(fn: () => void, ms: number): TimerHandle {
    const timer = setTimeout(fn, Math.max(0, ms))
    timer.unref?.()
    return timer
  },
  clearTimeout(handle: TimerHandle): void {
    clearTimeout(handle as NodeJS.Timeout)
  },
})

/**
 * A {@link Clock} that moves only when told: {@link ManualClock.advance} moves time and fires
 * the timers that fall due, in time order. Both readings start at `start` and move together
 * (`now()` and `wallNow()` return the same number), so pass Unix ms when dates matter.
 *
 * @example
 * ```ts
 * const clock = new ManualClock(Date.UTC(2026, 0, 1))
 * clock.setTimeout(() => console.log('fired'), 500)
 * clock.advance(499) // nothing yet
 * clock.advance(1) // "fired"
 * ```
 * @public
 */
export class ManualClock implements Clock {
  #now: number
  #next = 1
  readonly #timers = new Map<number, { at: number; fn: () => void }>()

  /** `start`: the first reading of both `now()` and `wallNow()`. Default 0. */
  constructor(start = 0) {
    this.#now = start
  }

  /** The time, moved only by {@link ManualClock.advance} and {@link ManualClock.jump}. */
  now(): number {
    return this.#now
  }

  /** The same reading as {@link ManualClock.now}: start it at Unix ms when dates matter. */
  wallNow(): number {
    return this.#now
  }

  /** A timer that fires when {@link ManualClock.advance} passes `now() + ms`; returns its handle. */
  setTimeout(fn: () => void, ms: number): number {
    const id = this.#next++
    this.#timers.set(id, { at: this.#now + Math.max(0, ms), fn })
    return id
  }

  /** Cancels a timer (a handle of one that fired, or of none, is ignored). */
  clearTimeout(handle: unknown): void {
    this.#timers.delete(handle as number)
  }

  /** Timers waiting to fire. */
  get pending(): number {
    return this.#timers.size
  }

  /** Moves time forward by `ms` without firing timers (a blocked event loop): `advance(0)` fires them late. */
  jump(ms: number): void {
    this.#now += ms
  }

  /** Moves time forward by `ms`, firing each timer due on the way (timers set meanwhile too). */
  advance(ms: number): void {
    const end = this.#now + ms
    for (;;) {
      let due: [number, { at: number; fn: () => void }] | undefined
      for (const entry of this.#timers) if (entry[1].at <= end && (!due || entry[1].at < due[1].at)) due = entry
      if (!due) break
      this.#timers.delete(due[0])
      this.#now = Math.max(this.#now, due[1].at)
      due[1].fn()
    }
    this.#now = end
  }
}

/**
 * A clock that wants to know when someone waits on it (fnbox/testing's, to say when a wait no
 * test advances holds a call): called at the start of the wait, the result at its end.
 * @internal
 */
export const CLOCK_WAIT = Symbol.for('fnbox.clockWait')

/** A clock with {@link CLOCK_WAIT}. @internal */
export interface WatchedClock extends Clock {
  [CLOCK_WAIT](ms: number, what: string): () => void
}

/**
 * Resolves after `ms` on `clock`; rejects with `signal.reason` when it aborts first. `what`
 * names the wait (`'a retry backoff'`) for a clock that watches waits.
 * @internal
 */
export function sleep(clock: Clock, ms: number, signal?: AbortSignal, what = 'a wait'): Promise<void> {
  if (signal?.aborted) return Promise.reject(signal.reason)
  if (ms <= 0) return Promise.resolve()
  const watched = (clock as Partial<WatchedClock>)[CLOCK_WAIT]?.call(clock, ms, what)
  return new Promise<void>((resolve, reject) => {
    const timer = clock.setTimeout(() => {
      stop()
      resolve()
    }, ms)
    const stop = signal
      ? onAbort(signal, () => {
          clock.clearTimeout(timer)
          reject(signal.reason)
        })
      : () => {}
  }).finally(() => watched?.())
}
