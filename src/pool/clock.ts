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
 * // A clock a test moves by hand.
 * class ManualClock implements Clock {
 *   #now = 0
 *   #timers = new Map<number, { at: number; fn: () => void }>()
 *   #next = 1
 *   now() { return this.#now }
 *   setTimeout(fn: () => void, ms: number) {
 *     const id = this.#next++
 *     this.#timers.set(id, { at: this.#now + ms, fn })
 *     return id
 *   }
 *   clearTimeout(id: unknown) { this.#timers.delete(id as number) }
 *   advance(ms: number) {
 *     this.#now += ms
 *     for (const [id, t] of [...this.#timers]) if (t.at <= this.#now) (this.#timers.delete(id), t.fn())
 *   }
 * }
 * const runtime = await createRuntime({ clock: new ManualClock() })
 * ```
 * @public
 */
export interface Clock {
  /** Milliseconds on a monotonic scale (the default: `performance.now()`). */
  now(): number
  /** Calls `callback` once after `ms`; the handle cancels it. */
  setTimeout(callback: () => void, ms: number): unknown
  clearTimeout(handle: unknown): void
}

/** The system's clock; its timers never keep the process alive. */
export const systemClock: Clock = {
  now: () => performance.now(),
  setTimeout: (callback, ms) => setTimeout(callback, ms).unref(),
  clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout),
}
