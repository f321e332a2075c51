/**
 * `Retry-After` both ways: the one fnbox sends, from what a function's calls actually take (a
 * client told to come back after the queue ahead of it has drained, not after a constant), and
 * the one upstreams send, read for guest `fetch` retries.
 *
 * @internal
 * @module
 */

/** Weight of the newest sample in the moving average of service time. */
const ALPHA = 0.2

/**
 * Tracks how long calls hold an instance (an exponentially weighted moving average) and turns
 * a queue into seconds to wait.
 */
export class ServiceTime {
  #ewmaMs: number | undefined

  /** Records one call's time holding an instance, in ms. */
  observe(ms: number): void {
    if (!Number.isFinite(ms) || ms < 0) return
    this.#ewmaMs = this.#ewmaMs === undefined ? ms : this.#ewmaMs + ALPHA * (ms - this.#ewmaMs)
  }

  /** The moving average, in ms; undefined before the first call. */
  get averageMs(): number | undefined {
    return this.#ewmaMs
  }

  /**
   * Seconds until a call arriving now could be served: `waiting` calls ahead of it, served
   * `concurrency` at a time, each taking the average service time. At least 1 (the header's
   * granularity); `fallbackSeconds` before anything was observed.
   */
  retryAfterSeconds(waiting: number, concurrency: number, fallbackSeconds = 1): number {
    if (this.#ewmaMs === undefined) return Math.max(1, Math.ceil(fallbackSeconds))
    const waves = Math.ceil((Math.max(0, waiting) + 1) / Math.max(1, concurrency))
    return Math.max(1, Math.ceil((waves * this.#ewmaMs) / 1000))
  }
}

/**
 * A `Retry-After` header as milliseconds from `now`: delay-seconds or an HTTP date (RFC 9110
 * §10.2.3). Undefined when absent or unreadable; never negative.
 */
export function parseRetryAfter(value: string | null | undefined, now: number): number | undefined {
  if (value === null || value === undefined) return undefined
  const text = value.trim()
  if (/^\d+$/.test(text)) return Number(text) * 1000
  const at = Date.parse(text)
  return Number.isNaN(at) ? undefined : Math.max(0, at - now)
}
