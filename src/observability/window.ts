/**
 * Percentiles over the most recent samples (a fixed-size ring): cheap to record on every call,
 * and current rather than an average over the whole life of the process.
 *
 * @internal
 * @module
 */

export class RecentWindow {
  readonly #samples: Float64Array
  #count = 0
  #next = 0

  constructor(size = 1024) {
    this.#samples = new Float64Array(size)
  }

  record(value: number): void {
    this.#samples[this.#next] = value
    this.#next = (this.#next + 1) % this.#samples.length
    if (this.#count < this.#samples.length) this.#count++
  }

  /** The `p`-th percentile (0-100) of the recent samples; 0 when there are none. */
  percentile(p: number): number {
    if (this.#count === 0) return 0
    const sorted = this.#samples.slice(0, this.#count).sort()
    const rank = Math.min(this.#count - 1, Math.max(0, Math.ceil((p / 100) * this.#count) - 1))
    return sorted[rank]!
  }
}
