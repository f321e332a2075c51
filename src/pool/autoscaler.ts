/**
 * The autoscaler: every `scaleIntervalMs` (on the injected clock) it looks at each function's
 * pool and sets how many instances it should keep warm.
 *
 * - Up: a call that finds no idle instance makes one at once (the pool does, up to `max`). On
 *   top of that (with `prewarm`) the autoscaler keeps `ceil(need / targetUtilization)`
 *   instances, where `need` is the larger of the calls running or waiting now and the forecast
 *   of the next interval's mean concurrency (see forecast.ts): a steady or rising load meets warm instances.
 * - Down: an instance idle for `idleTimeoutMs` is released, least recently used first, while
 *   the pool holds more than that target (and never below `min`).
 *
 * @internal
 * @module
 */
import type { Clock } from '../clock.js'
import type { Forecast } from './forecast.js'

/** Forecast values below this are noise left by the smoothing, not traffic. */
const NOISE = 0.05

/** What the autoscaler reads of a pool at one tick. */
export interface ScaleSignals {
  /** Instances, creations under way included. */
  total: number
  busy: number
  /** Calls waiting for an instance. */
  waiting: number
  /** When each idle instance became idle, least recent first. */
  idleSince: readonly number[]
}

export interface ScaleSettings {
  min: number
  max: number
  idleTimeoutMs: number
  targetUtilization: number
  prewarm: boolean
}

export interface ScalePlan {
  /** Instances the pool should keep. */
  target: number
  /** Instances to create now. */
  grow: number
  /** Idle instances to release now, least recently used first. */
  shrink: number
}

/** One tick's decision for one pool. Pure: the same signals give the same plan. */
export function planScale(signals: ScaleSignals, forecast: Forecast, settings: ScaleSettings, now: number): ScalePlan {
  const current = signals.busy + signals.waiting
  // Without pre-warming, instances are made only for calls: keep what they use now.
  const wanted = settings.prewarm
    ? Math.ceil(Math.max(0, Math.max(current, forecast.predict(1)) - NOISE) / settings.targetUtilization)
    : current
  const target = Math.min(settings.max, Math.max(settings.min, wanted))
  const grow = Math.max(0, target - signals.total)
  let expired = 0
  for (const since of signals.idleSince) if (now - since >= settings.idleTimeoutMs) expired++
  const shrink = Math.min(expired, Math.max(0, signals.total - target))
  return { target, grow, shrink }
}

/** A pool as the autoscaler drives it. */
export interface Scalable {
  /** Called once per tick. */
  autoscale(now: number): void
}

/** Ticks every registered pool on the clock. */
export class Autoscaler {
  readonly #clock: Clock
  readonly #intervalMs: number
  readonly #pools = new Set<Scalable>()
  #timer: unknown
  #closed = false

  constructor(clock: Clock, intervalMs: number) {
    this.#clock = clock
    this.#intervalMs = intervalMs
  }

  add(pool: Scalable): void {
    this.#pools.add(pool)
    this.#schedule()
  }

  delete(pool: Scalable): void {
    this.#pools.delete(pool)
  }

  /** Runs one tick now (the timer calls it; tests may too). */
  tick(): void {
    const now = this.#clock.now()
    for (const pool of [...this.#pools]) {
      try {
        pool.autoscale(now)
      } catch {
        // A bug in one pool's plan must not stop the others, nor surface on the host's timer.
      }
    }
  }

  #schedule(): void {
    if (this.#timer !== undefined || this.#closed) return
    this.#timer = this.#clock.setTimeout(() => {
      this.#timer = undefined
      this.tick()
      if (this.#pools.size > 0) this.#schedule()
    }, this.#intervalMs)
  }

  close(): void {
    this.#closed = true
    if (this.#timer !== undefined) this.#clock.clearTimeout(this.#timer)
    this.#timer = undefined
    this.#pools.clear()
  }
}
