/**
 * The time source of the pools: when calls stop waiting, when idle instances expire, when the
 * autoscaler looks at the traffic. Injected, so tests move time instead of sleeping.
 *
 * @module
 */

/**
 * Time and timers, as the pools use them. The default reads the system clock; a test passes
 * its own to move time by hand.
 *
 * @example
 * ```ts
 * // A clock a test moves by hand: `advance` fires the timers that fall due.
 * const timers = new Set<{ at: number; fn: () => void }>()
 * let now = 0
 * const clock: Clock = {
 *   now: () => now,
 *   setTimeout: (fn, ms) => {
 *     const timer = { at: now + ms, fn }
 *     timers.add(timer)
 *     return timer
 *   },
 *   clearTimeout: (timer) => void timers.delete(timer as { at: number; fn: () => void }),
 * }
 * const advance = (ms: number) => {
 *   now += ms
 *   for (const t of [...timers].sort((a, b) => a.at - b.at)) {
 *     if (t.at > now) break
 *     timers.delete(t)
 *     t.fn()
 *   }
 * }
 * const runtime = await createRuntime({ clock })
 * ```
 * @public
 */
export interface Clock {
  /** Milliseconds on a monotonic scale (the default: `performance.now()`). */
  now(): number
  /** Calls `callback` once after `ms`; the handle cancels it. */
  setTimeout(callback: () => void, ms: number): unknown
  /** Cancels a timer of {@link Clock.setTimeout} (a handle of a timer that fired is ignored). */
  clearTimeout(handle: unknown): void
}

/** The system's clock; its timers never keep the process alive. */
export const systemClock: Clock = {
  now: () => performance.now(),
  setTimeout: (callback, ms) => setTimeout(callback, ms).unref(),
  clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout),
}
