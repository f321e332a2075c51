/**
 * Load shedding: when the host is overloaded (event-loop lag, heap, calls queued for instances)
 * calls of lower-priority functions are refused first, so critical ones keep being served.
 *
 * The shed level moves one step per sample: up while any signal is at or past its limit, down
 * once every signal is below 70% of it. Level 1 refuses `low` functions, 2 also `normal`, 3 also
 * `high`; `critical` functions are never shed. So a higher priority is refused only when
 * refusing the lower ones did not relieve the host within a sample interval.
 *
 * @internal
 * @module
 */
import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks'
import { getHeapStatistics } from 'node:v8'
import { FnboxError, invalidOption } from '../errors.js'
import { systemClock, type Clock, type TimerHandle } from '../clock.js'
import { MAX_TIMER_MS, numberOption, optionObject } from './validate.js'

/**
 * How much a function matters when the host must shed load: `low` is refused first, `critical`
 * never. Default `normal`.
 *
 * @public
 */
export type Priority = 'critical' | 'high' | 'normal' | 'low'

/** Priorities from the first refused to the never refused. */
const PRIORITIES: readonly Priority[] = ['low', 'normal', 'high', 'critical']

/**
 * When the host counts as overloaded (any one signal suffices), and how often it looks. `false`
 * turns shedding off.
 *
 * @example
 * ```ts
 * const runtime = await createRuntime({ shedding: { maxEventLoopDelayMs: 200, maxQueued: 1000 } })
 * await runtime.deploy('checkout', { code, priority: 'critical' })
 * await runtime.deploy('thumbnails', { code, priority: 'low' }) // refused first under load
 * ```
 * @public
 */
export interface SheddingOptions {
  /** p99 of the event loop's delay over the last interval, in ms. Default 500. */
  maxEventLoopDelayMs?: number
  /** V8 heap in use, as a share of its limit (0-1). Default 0.9. */
  maxHeapUsedRatio?: number
  /** Calls waiting for an instance, summed over every function. Default 5000. */
  maxQueued?: number
  /** Time between samples, in ms. Default 500. */
  intervalMs?: number
}

/** One reading of the load signals. @public */
export interface LoadSample {
  eventLoopDelayMs: number
  heapUsedRatio: number
  queued: number
}

/** The load figures in `runtime.stats()`. @public */
export interface LoadStats extends LoadSample {
  /** 0: nothing shed; 1: `low` refused; 2: `low` and `normal`; 3: all but `critical`. */
  level: number
  /** The priorities refused now. */
  shedding: Priority[]
  /** Calls refused by shedding since the runtime started. */
  refused: number
}

/** The event emitted when the shed level changes. @public */
export interface LoadLevelEvent extends LoadSample {
  level: number
  shedding: Priority[]
}

export type ResolvedShedding = Readonly<Required<SheddingOptions>>

/** Defaults of {@link SheddingOptions}. @public */
export const DEFAULT_SHEDDING: Readonly<Required<SheddingOptions>> = Object.freeze({
  maxEventLoopDelayMs: 500,
  maxHeapUsedRatio: 0.9,
  maxQueued: 5000,
  intervalMs: 500,
})

/** Below this share of every limit the host counts as calm again. */
const CALM = 0.7

export function resolveShedding(value: unknown, name: string): ResolvedShedding | undefined {
  if (value === false) return undefined
  if (value === true) throw invalidOption(name, 'an object or false', value)
  const given = optionObject(value, name, Object.keys(DEFAULT_SHEDDING))
  if (!given) return DEFAULT_SHEDDING
  const d = DEFAULT_SHEDDING
  return Object.freeze({
    maxEventLoopDelayMs: numberOption(given.maxEventLoopDelayMs, `${name}.maxEventLoopDelayMs`, d.maxEventLoopDelayMs, {
      min: 1,
      max: 600_000,
    }),
    maxHeapUsedRatio: numberOption(given.maxHeapUsedRatio, `${name}.maxHeapUsedRatio`, d.maxHeapUsedRatio, {
      min: 0.01,
      max: 1,
      fractional: true,
    }),
    maxQueued: numberOption(given.maxQueued, `${name}.maxQueued`, d.maxQueued, { min: 1, max: 1e9 }),
    intervalMs: numberOption(given.intervalMs, `${name}.intervalMs`, d.intervalMs, { min: 1, max: MAX_TIMER_MS }),
  })
}

export function resolvePriority(value: unknown, name: string, fallback: Priority): Priority {
  if (value === undefined) return fallback
  if (!PRIORITIES.includes(value as Priority)) throw invalidOption(name, `one of ${PRIORITIES.join(', ')}`, value)
  return value as Priority
}

/** Reads the process's own signals; `queued` comes from the runtime's pools. */
export class ProcessLoadProbe {
  readonly #histogram: IntervalHistogram
  readonly #queued: () => number

  constructor(queued: () => number) {
    this.#queued = queued
    this.#histogram = monitorEventLoopDelay({ resolution: 10 })
    this.#histogram.enable()
  }

  /** The signals since the previous sample. */
  sample(): LoadSample {
    const h = this.#histogram
    const eventLoopDelayMs = h.count > 0 ? h.percentile(99) / 1e6 : 0
    h.reset()
    const heap = getHeapStatistics()
    return { eventLoopDelayMs, heapUsedRatio: heap.used_heap_size / heap.heap_size_limit, queued: this.#queued() }
  }

  close(): void {
    this.#histogram.disable()
  }
}

export interface ShedderDeps {
  sample: () => LoadSample
  clock?: Clock
  onLevel?: (event: LoadLevelEvent) => void
}

export class LoadShedder {
  readonly options: ResolvedShedding
  readonly #deps: ShedderDeps
  readonly #clock: Clock
  #level = 0
  #last: LoadSample = { eventLoopDelayMs: 0, heapUsedRatio: 0, queued: 0 }
  #timer: TimerHandle | undefined
  #refused = 0
  #stopped = false

  constructor(options: ResolvedShedding, deps: ShedderDeps) {
    this.options = options
    this.#deps = deps
    this.#clock = deps.clock ?? systemClock
    this.#arm()
  }

  #arm(): void {
    if (this.#stopped) return
    this.#timer = this.#clock.setTimeout(() => {
      this.tick()
      this.#arm()
    }, this.options.intervalMs)
  }

  /** Takes one sample and moves the level (the timer calls it every `intervalMs`). */
  tick(): void {
    const s = this.#deps.sample()
    this.#last = s
    const o = this.options
    const pressure = Math.max(
      s.eventLoopDelayMs / o.maxEventLoopDelayMs,
      s.heapUsedRatio / o.maxHeapUsedRatio,
      s.queued / o.maxQueued,
    )
    const before = this.#level
    if (pressure >= 1) this.#level = Math.min(PRIORITIES.length - 1, this.#level + 1)
    else if (pressure < CALM) this.#level = Math.max(0, this.#level - 1)
    if (this.#level !== before) this.#deps.onLevel?.({ ...s, level: this.#level, shedding: this.shedding() })
  }

  /** The priorities refused at the current level. */
  shedding(): Priority[] {
    return PRIORITIES.slice(0, this.#level)
  }

  /** Throws `ERR_OVERLOADED` (503 + `Retry-After`) when `priority` is being shed. */
  check(priority: Priority, name: string): void {
    if (this.#level === 0 || PRIORITIES.indexOf(priority) >= this.#level) return
    this.#refused++
    const seconds = Math.max(1, Math.ceil(this.options.intervalMs / 1000))
    throw new FnboxError(
      'ERR_OVERLOADED',
      `the host is overloaded: ${priority}-priority function ${name} is shed (shed level ${this.#level})`,
      { retryAfterSeconds: seconds, details: { function: name, priority, level: this.#level } },
    )
  }

  stats(): LoadStats {
    return { ...this.#last, level: this.#level, shedding: this.shedding(), refused: this.#refused }
  }

  stop(): void {
    this.#stopped = true
    if (this.#timer !== undefined) this.#clock.clearTimeout(this.#timer)
  }
}
