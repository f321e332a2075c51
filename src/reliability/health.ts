/**
 * Passive health of an upstream: the success rate of the attempts made to it over the last
 * minute (six 10-second buckets on the injected clock) and the latency to the response head
 * over the recent attempts. Nothing is probed: the figures come from the guests' own traffic.
 *
 * @internal
 * @module
 */
import { RecentWindow } from '../observability/window.js'
import { systemClock, type Clock } from '../clock.js'

const BUCKET_MS = 10_000
const BUCKETS = 6

/** Passive health figures. @public */
export interface HealthStats {
  /** Attempts judged in the last minute (neutral ones, such as a guest's abort, are left out). */
  attempts: number
  /** Share of those that succeeded (0-1); 1 when there were none. */
  successRate: number
  /** Time to the response head over the last 1,024 answered attempts, in ms. */
  latencyMs: { p50: number; p99: number }
}

export class PassiveHealth {
  readonly #clock: Clock
  readonly #ok = new Float64Array(BUCKETS)
  readonly #failed = new Float64Array(BUCKETS)
  #bucket = 0
  #bucketStart = 0
  readonly #latency = new RecentWindow()

  constructor(clock: Clock = systemClock) {
    this.#clock = clock
    this.#bucketStart = clock.wallNow()
  }

  #advance(): void {
    const now = this.#clock.wallNow()
    const steps = Math.floor((now - this.#bucketStart) / BUCKET_MS)
    if (steps <= 0) return
    for (let i = 0; i < Math.min(steps, BUCKETS); i++) {
      this.#bucket = (this.#bucket + 1) % BUCKETS
      this.#ok[this.#bucket] = 0
      this.#failed[this.#bucket] = 0
    }
    this.#bucketStart += steps * BUCKET_MS
  }

  /** One attempt's result; `latencyMs` when it got a response head. */
  record(ok: boolean, latencyMs?: number): void {
    this.#advance()
    if (ok) this.#ok[this.#bucket]!++
    else this.#failed[this.#bucket]!++
    if (latencyMs !== undefined) this.#latency.record(latencyMs)
  }

  stats(): HealthStats {
    this.#advance()
    let ok = 0
    let failed = 0
    for (let i = 0; i < BUCKETS; i++) {
      ok += this.#ok[i]!
      failed += this.#failed[i]!
    }
    const attempts = ok + failed
    return {
      attempts,
      successRate: attempts === 0 ? 1 : ok / attempts,
      latencyMs: { p50: this.#latency.percentile(50), p99: this.#latency.percentile(99) },
    }
  }
}
