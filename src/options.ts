/**
 * Options of the runtime and of each function: types, defaults (one constant each) and
 * validation whose messages name the option.
 *
 * @module
 */
import { availableParallelism, totalmem } from 'node:os'
import { invalidOption } from './errors.js'

/**
 * Hard limits of one function. Every field is optional in options; defaults are in
 * {@link DEFAULT_LIMITS}.
 *
 * @public
 */
export interface Limits {
  /**
   * Memory cap in MiB (16-2048) of the WebAssembly module running the function: a guest allocating
   * past it gets `ERR_MEMORY_LIMIT`. Instances in one module share it (see
   * {@link PoolOptions.instancesPerModule}). Default 128.
   */
  memoryMb: number
  /**
   * Wall-clock time of one invocation, awaits included, in ms: until its result (`call`) or its
   * response head (`fetch`; a body sent whole goes with its head). A body that streams then runs
   * under `streamIdleMs` and `streamTotalMs`. Past it: `ERR_TIMEOUT` (HTTP 504). Default 30000.
   */
  timeoutMs: number
  /**
   * CPU time the guest may use in one invocation, in ms: the time the executor thread spends
   * running its code (awaits and host I/O excluded), in every phase of the call (before the
   * response, while it streams, in waitUntil work). Past it: `ERR_CPU_LIMIT`. Default: the
   * function's `timeoutMs` (set it lower to bound the computing of long streams).
   */
  cpuMs: number
  /**
   * Once a response head went out with a streamed body: the longest time without a chunk
   * (counted from the head, then from each chunk), in ms. Past it the body is cut off with
   * `ERR_TIMEOUT`. Default 30000.
   */
  streamIdleMs: number
  /**
   * Once a response head went out with a streamed body: the longest time the invocation may run
   * in all, counted from its start (never less than `timeoutMs`), waitUntil work included, in ms.
   * Past it the body is cut off with `ERR_TIMEOUT`. Default 600000 (10 minutes).
   */
  streamTotalMs: number
  /** Guest stack, in KiB (64-1024). Deeper recursion throws a guest `InternalError`. Default 512. */
  maxStackKb: number
  /** Largest request body accepted over HTTP, in bytes. Past it: 413. Default 1 MiB. */
  maxRequestBytes: number
  /** Largest response body (or `call` result) a guest may produce, in bytes. Default 10 MiB. */
  maxResponseBytes: number
  /** Console output captured per invocation, in bytes; the rest is dropped with a warning. Default 64 KiB. */
  maxLogBytes: number
  /**
   * Wall-clock time of one job run (a task, a cron slot, a hook's job), in ms; its CPU limit is
   * this too unless `cpuMs` is set below `timeoutMs`. A job's own `timeoutMs` overrides it. Past
   * it the attempt fails with `ERR_TIMEOUT` (and is retried). Default 900000 (15 minutes).
   */
  jobTimeoutMs: number
}

/**
 * Warm-instance pool of one function, sized by the autoscaler between `min` and `max`.
 *
 * @public
 */
export interface PoolOptions {
  /** Instances kept warm even when idle. Default 0. */
  min: number
  /** Most instances of one function at once. Default 16. */
  max: number
  /** An idle instance above `min` is released after this long, in ms. Default 60000. */
  idleTimeoutMs: number
  /** A call waits at most this long for an instance, in ms; then `ERR_QUEUE_FULL`. Default 10000. */
  acquireTimeoutMs: number
  /** Calls allowed to wait for an instance; one more gets `ERR_QUEUE_FULL`. Default 1000. */
  maxQueue: number
  /**
   * Instances of the function sharing one WebAssembly module on a thread (1-16). They share the
   * module's `limits.memoryMb`; 1 gives each instance a memory cap of its own at ~0.5 MB of RSS
   * per instance instead of ~80 KB. Default 16.
   */
  instancesPerModule: number
  /**
   * Pre-warm from the traffic forecast: the autoscaler keeps instances warm for the concurrency
   * it expects in the next interval (a smoothed level and trend of recent peaks), so a steady or
   * rising load meets warm instances. `false`: instances are made only when a call needs one.
   * Default true.
   */
  prewarm: boolean
  /**
   * Share of the instances the autoscaler aims to keep busy (0.1-1): it keeps
   * `ceil(expected concurrency / targetUtilization)` instances. Lower keeps more headroom.
   * Default 0.7.
   */
  targetUtilization: number
}

/**
 * Limits shared by every function (runtime option `pool` only): the global budget, blank
 * engines, retired versions kept, and the autoscaler's interval.
 *
 * @public
 */
export interface PoolBudgetOptions {
  /** Instances of all functions together, blank engines included. Default 10000. */
  maxTotalInstances: number
  /**
   * Fixed memory of all WebAssembly modules together, in MiB: each module counts its
   * `limits.memoryMb`, the most it can ever take (a function's instances on one thread share
   * modules of `instancesPerModule`). Default: the machine's total memory.
   */
  memoryBudgetMb: number
  /**
   * Blank engines (module, runtime, context and prelude, no function code) kept ready across the
   * executor threads, spread evenly: a function's first instance on a thread takes one and only
   * evaluates its own code. They count in the budget; they are refilled while no call runs.
   * Default: one per thread.
   */
  blankEngines: number
  /**
   * Retired versions (replaced or undeployed) kept with one warm instance each, so deploying the
   * same version again is instant; the least recently retired goes first, and they are the first
   * evicted when the budget is full. 0 releases a version as soon as it has drained. Default 8.
   */
  retainedVersions: number
  /** How often the autoscaler looks at the traffic, in ms (10-60000). Default 1000. */
  scaleIntervalMs: number
}

/** @public */
export const DEFAULT_LIMITS: Readonly<Limits> = Object.freeze({
  memoryMb: 128,
  timeoutMs: 30_000,
  cpuMs: 30_000,
  streamIdleMs: 30_000,
  streamTotalMs: 600_000,
  maxStackKb: 512,
  maxRequestBytes: 1024 * 1024,
  maxResponseBytes: 10 * 1024 * 1024,
  maxLogBytes: 64 * 1024,
  jobTimeoutMs: 15 * 60_000,
})

/** @public */
export const DEFAULT_POOL: Readonly<PoolOptions> = Object.freeze({
  min: 0,
  max: 16,
  idleTimeoutMs: 60_000,
  acquireTimeoutMs: 10_000,
  maxQueue: 1000,
  instancesPerModule: 16,
  prewarm: true,
  targetUtilization: 0.7,
})

/** Largest function source accepted by `deploy`, in bytes. */
export const MAX_CODE_BYTES = 16 * 1024 * 1024

const LIMIT_RANGES: Record<keyof Limits, [number, number]> = {
  memoryMb: [16, 2048],
  timeoutMs: [1, 24 * 60 * 60 * 1000],
  cpuMs: [1, 24 * 60 * 60 * 1000],
  streamIdleMs: [1, 24 * 60 * 60 * 1000],
  streamTotalMs: [1, 24 * 60 * 60 * 1000],
  maxStackKb: [64, 1024],
  maxRequestBytes: [0, 1024 * 1024 * 1024],
  maxResponseBytes: [0, 1024 * 1024 * 1024],
  maxLogBytes: [0, 64 * 1024 * 1024],
  jobTimeoutMs: [1, 24 * 60 * 60 * 1000],
}

/** An integer range, a boolean, or a number within a range (`real`). */
type Spec = readonly [number, number] | 'boolean' | { real: readonly [number, number] }

const POOL_RANGES: Record<keyof PoolOptions, Spec> = {
  min: [0, 10_000],
  max: [1, 10_000],
  idleTimeoutMs: [1, 24 * 60 * 60 * 1000],
  acquireTimeoutMs: [1, 24 * 60 * 60 * 1000],
  maxQueue: [0, 1_000_000],
  instancesPerModule: [1, 16],
  prewarm: 'boolean',
  targetUtilization: { real: [0.1, 1] },
}

const BUDGET_RANGES: Record<keyof PoolBudgetOptions, Spec> = {
  maxTotalInstances: [1, 1_000_000],
  memoryBudgetMb: [16, 1 << 30],
  blankEngines: [0, 1024],
  retainedVersions: [0, 10_000],
  scaleIntervalMs: [10, 60_000],
}

function checkObject(value: unknown, name: string): Record<string, unknown> | undefined {
  if (value === undefined) return undefined
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw invalidOption(name, 'an object', value)
  }
  return value as Record<string, unknown>
}

function fillIntegers<T extends object>(
  value: unknown,
  name: string,
  base: Readonly<T>,
  ranges: Record<keyof T, Spec>,
  also: Record<string, Spec> = {},
): T {
  const given = checkObject(value, name)
  const out = { ...base }
  if (!given) return out
  const specs: Record<string, Spec> = { ...ranges, ...also }
  for (const key of Object.keys(given)) {
    if (!(key in specs)) throw invalidOption(`${name}.${key}`, `one of ${Object.keys(specs).join(', ')}`, key)
    const v = given[key]
    if (v === undefined || key in also) continue
    checkSpec(v, `${name}.${key}`, specs[key]!)
    ;(out as Record<string, unknown>)[key] = v
  }
  return out
}

function checkSpec(v: unknown, name: string, spec: Spec): void {
  if (spec === 'boolean') {
    if (typeof v !== 'boolean') throw invalidOption(name, 'true or false', v)
  } else if ('real' in spec) {
    const [lo, hi] = spec.real
    if (typeof v !== 'number' || !Number.isFinite(v) || v < lo || v > hi) {
      throw invalidOption(name, `a number from ${lo} to ${hi}`, v)
    }
  } else {
    const [lo, hi] = spec
    if (typeof v !== 'number' || !Number.isInteger(v) || v < lo || v > hi) {
      throw invalidOption(name, `an integer from ${lo} to ${hi}`, v)
    }
  }
}

/**
 * `base` with the fields `value` sets. `cpuMs` follows `timeoutMs` unless it was set apart: a
 * layer that sets only `timeoutMs` over a base whose `cpuMs` followed its own `timeoutMs` moves
 * both (a function given more time to compute gets the CPU time to match).
 */
export function resolveLimits(value: unknown, name: string, base: Readonly<Limits> = DEFAULT_LIMITS): Limits {
  const limits = fillIntegers(value, name, base, LIMIT_RANGES)
  const given = value as Partial<Limits> | undefined
  if (given?.cpuMs === undefined && base.cpuMs === base.timeoutMs) limits.cpuMs = limits.timeoutMs
  return limits
}

export function resolvePool(
  value: unknown,
  name: string,
  base: Readonly<PoolOptions> = DEFAULT_POOL,
  also: Record<string, Spec> = {},
): PoolOptions {
  const pool = fillIntegers(value, name, base, POOL_RANGES, also)
  if (pool.min > pool.max) throw invalidOption(`${name}.min`, `at most ${name}.max (${pool.max})`, pool.min)
  return pool
}

/**
 * The runtime's `pool` option: the functions' default pool, and the budget shared by all of
 * them. `blankMemoryMb` is the memory of each blank engine (the default `limits.memoryMb`).
 */
export function resolveRuntimePool(
  value: unknown,
  threads: number,
  blankMemoryMb: number,
): { defaults: PoolOptions; budget: PoolBudgetOptions } {
  const defaults = resolvePool(value, 'options.pool', DEFAULT_POOL, BUDGET_RANGES)
  const given = checkObject(value, 'options.pool') ?? {}
  const picked: Record<string, unknown> = {}
  for (const key of Object.keys(BUDGET_RANGES)) if (given[key] !== undefined) picked[key] = given[key]
  const budget = fillIntegers<PoolBudgetOptions>(
    picked,
    'options.pool',
    {
      maxTotalInstances: 10_000,
      memoryBudgetMb: Math.max(16, Math.floor(totalmem() / (1024 * 1024))),
      blankEngines: threads,
      retainedVersions: 8,
      scaleIntervalMs: 1000,
    },
    BUDGET_RANGES,
  )
  // Blank engines are held back from the budget: functions need room left.
  if (budget.blankEngines >= budget.maxTotalInstances) {
    throw invalidOption(
      'options.pool.blankEngines',
      `less than options.pool.maxTotalInstances (${budget.maxTotalInstances})`,
      budget.blankEngines,
    )
  }
  if (budget.blankEngines * blankMemoryMb >= budget.memoryBudgetMb) {
    throw invalidOption(
      'options.pool.blankEngines',
      `such that blank engines (${blankMemoryMb} MiB each) leave room in options.pool.memoryBudgetMb (${budget.memoryBudgetMb})`,
      budget.blankEngines,
    )
  }
  return { defaults, budget }
}

export function resolveThreads(value: unknown): number {
  if (value === undefined) return Math.max(1, availableParallelism())
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1 || value > 256) {
    throw invalidOption('options.threads', 'an integer from 1 to 256', value)
  }
  return value
}

export function resolveHosts(value: unknown, name: string): string[] {
  if (value === undefined) return []
  if (!Array.isArray(value)) throw invalidOption(name, 'an array of host names', value)
  value.forEach((v, i) => {
    if (typeof v !== 'string' || v.length === 0) throw invalidOption(`${name}[${i}]`, 'a non-empty string', v)
  })
  return [...(value as string[])]
}

const NAME = /^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/

export function checkFunctionName(name: unknown): string {
  if (typeof name !== 'string' || !NAME.test(name)) {
    throw invalidOption('name', 'letters, digits, "_" or "-" (1-64 chars, starting with a letter or digit)', name)
  }
  return name
}

/** Refuses unknown keys, so a typo in an option never silently does nothing. */
export function checkKeys(value: unknown, name: string, allowed: readonly string[]): Record<string, unknown> {
  const obj = checkObject(value, name) ?? {}
  for (const key of Object.keys(obj)) {
    if (!allowed.includes(key)) throw invalidOption(`${name}.${key}`, `one of ${allowed.join(', ')}`, key)
  }
  return obj
}
