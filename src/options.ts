/**
 * Options of the runtime and of each function: types, defaults (one constant each) and
 * validation whose messages name the option.
 *
 * @module
 */
import { availableParallelism } from 'node:os'
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
  /** Wall-clock time of one invocation, awaits included, in ms. Past it: `ERR_TIMEOUT`. Default 30000. */
  timeoutMs: number
  /** Guest stack, in KiB (64-1024). Deeper recursion throws a guest `InternalError`. Default 512. */
  maxStackKb: number
  /** Largest request body accepted over HTTP, in bytes. Past it: 413. Default 1 MiB. */
  maxRequestBytes: number
  /** Largest response body (or `call` result) a guest may produce, in bytes. Default 10 MiB. */
  maxResponseBytes: number
  /** Console output captured per invocation, in bytes; the rest is dropped with a warning. Default 64 KiB. */
  maxLogBytes: number
}

/**
 * Warm-instance pool of one function (generic-pool underneath).
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
}

/** @public */
export const DEFAULT_LIMITS: Readonly<Limits> = Object.freeze({
  memoryMb: 128,
  timeoutMs: 30_000,
  maxStackKb: 512,
  maxRequestBytes: 1024 * 1024,
  maxResponseBytes: 10 * 1024 * 1024,
  maxLogBytes: 64 * 1024,
})

/** @public */
export const DEFAULT_POOL: Readonly<PoolOptions> = Object.freeze({
  min: 0,
  max: 16,
  idleTimeoutMs: 60_000,
  acquireTimeoutMs: 10_000,
  maxQueue: 1000,
  instancesPerModule: 16,
})

/** Largest function source accepted by `deploy`, in bytes. */
export const MAX_CODE_BYTES = 16 * 1024 * 1024

const LIMIT_RANGES: Record<keyof Limits, [number, number]> = {
  memoryMb: [16, 2048],
  timeoutMs: [1, 24 * 60 * 60 * 1000],
  maxStackKb: [64, 1024],
  maxRequestBytes: [0, 1024 * 1024 * 1024],
  maxResponseBytes: [0, 1024 * 1024 * 1024],
  maxLogBytes: [0, 64 * 1024 * 1024],
}

const POOL_RANGES: Record<keyof PoolOptions, [number, number]> = {
  min: [0, 10_000],
  max: [1, 10_000],
  idleTimeoutMs: [1, 24 * 60 * 60 * 1000],
  acquireTimeoutMs: [1, 24 * 60 * 60 * 1000],
  maxQueue: [0, 1_000_000],
  instancesPerModule: [1, 16],
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
  ranges: Record<keyof T, [number, number]>,
): T {
  const given = checkObject(value, name)
  const out = { ...base }
  if (!given) return out
  for (const key of Object.keys(given)) {
    if (!(key in ranges)) throw invalidOption(`${name}.${key}`, `one of ${Object.keys(ranges).join(', ')}`, key)
    const v = given[key]
    if (v === undefined) continue
    const [lo, hi] = ranges[key as keyof T]
    if (typeof v !== 'number' || !Number.isInteger(v) || v < lo || v > hi) {
      throw invalidOption(`${name}.${key}`, `an integer from ${lo} to ${hi}`, v)
    }
    ;(out as Record<string, unknown>)[key] = v
  }
  return out
}

export function resolveLimits(value: unknown, name: string, base: Readonly<Limits> = DEFAULT_LIMITS): Limits {
  return fillIntegers(value, name, base, LIMIT_RANGES)
}

export function resolvePool(value: unknown, name: string, base: Readonly<PoolOptions> = DEFAULT_POOL): PoolOptions {
  const pool = fillIntegers(value, name, base, POOL_RANGES)
  if (pool.min > pool.max) throw invalidOption(`${name}.min`, `at most ${name}.max (${pool.max})`, pool.min)
  return pool
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
