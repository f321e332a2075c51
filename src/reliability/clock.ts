/**
 * Time as the reliability policies see it: one small interface, so tests drive breakers, quotas,
 * backoff and deadlines with fake time instead of sleeping.
 *
 * @internal
 * @module
 */
import { onAbort } from './abort.js'

/** A timer handle, as the clock's `setTimeout` returns it. */
export type TimerHandle = unknown

/** Wall-clock time and timers. */
export interface Clock {
  /** Milliseconds since the epoch (`Date.now()`). */
  now(): number
  /** Calls `fn` after `ms`; the timer never keeps the process alive. */
  setTimeout(fn: () => void, ms: number): TimerHandle
  clearTimeout(handle: TimerHandle): void
}

/**
 * The process clock. It reads the globals on every call (not once at import), so
 * `vi.useFakeTimers()` drives it exactly as it drives opossum's and p-retry's timers.
 */
export const systemClock: Clock = Object.freeze({
  now: () => Date.now(),
  setTimeout(fn: () => void, ms: number): TimerHandle {
    const timer = setTimeout(fn, Math.max(0, ms))
    timer.unref?.()
    return timer
  },
  clearTimeout(handle: TimerHandle): void {
    clearTimeout(handle as NodeJS.Timeout)
  },
})

/** Resolves after `ms` on `clock`; rejects with `signal.reason` when it aborts first. */
export function sleep(clock: Clock, ms: number, signal?: AbortSignal): Promise<void> {
  if (signal?.aborted) return Promise.reject(signal.reason)
  if (ms <= 0) return Promise.resolve()
  return new Promise((resolve, reject) => {
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
  })
}
