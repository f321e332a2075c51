/**
 * A short-term forecast of one function's concurrency: double exponential smoothing (Holt's
 * linear method) of the mean concurrency (calls running or waiting, averaged over time) of each
 * autoscaler interval. The level follows a steady load; the trend carries a rising one ahead of
 * itself, so instances are warm before the calls that need them arrive. (Means, not peaks:
 * short spikes are served by instances made on demand and kept for `idleTimeoutMs`; peaks
 * would keep headroom on top of them.)
 *
 * @internal
 * @module
 */

/** Weight of the newest interval in the level. */
const ALPHA = 0.5
/** Weight of the newest change of level in the trend. */
const BETA = 0.5

export class Forecast {
  #level: number | undefined
  #trend = 0

  /** Records the mean concurrency of the interval that just ended. */
  observe(mean: number): void {
    if (this.#level === undefined) {
      this.#level = mean
      return
    }
    const previous = this.#level
    // Concurrency is never negative: unclamped, the level would swing below zero after the
    // traffic stops and come back above it, pre-warming for calls that never come.
    this.#level = Math.max(0, ALPHA * mean + (1 - ALPHA) * (previous + this.#trend))
    this.#trend = BETA * (this.#level - previous) + (1 - BETA) * this.#trend
  }

  /** Expected concurrency `intervals` ahead; never negative, 0 before any observation. */
  predict(intervals = 1): number {
    if (this.#level === undefined) return 0
    return Math.max(0, this.#level + intervals * this.#trend)
  }

  get level(): number {
    return this.#level ?? 0
  }

  get trend(): number {
    return this.#trend
  }
}

/** A pool's concurrency (busy + waiting) integrated over time: its mean between two looks. */
export class ConcurrencyMeter {
  #area = 0
  #from: number
  /** Concurrency since `#changedAt`. */
  #level = 0
  #changedAt: number

  constructor(now: number) {
    this.#from = this.#changedAt = now
  }

  /** The concurrency is `level` from `now` on. */
  set(now: number, level: number): void {
    this.#area += this.#level * (now - this.#changedAt)
    this.#changedAt = now
    this.#level = level
  }

  /** The mean since the last look (or the start), counted up to the last `set`; starts a new window at `now`. */
  mean(now: number): number {
    const span = now - this.#from
    const mean = span > 0 ? this.#area / span : this.#level
    this.#area = 0
    this.#from = now
    return mean
  }
}
