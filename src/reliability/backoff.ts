/**
 * The one backoff model of fnbox, on p-retry: exponential delays (`minDelayMs × factor^n`, at
 * most `maxDelayMs`), each stretched by a random factor in [1, 2) when `jitter` is on, a server's
 * `Retry-After` honoured as a lower bound, and failover (another credential) tried at once
 * without using up a retry. Guest `fetch` and `runtime.call` both use it.
 *
 * @internal
 * @module
 */
import pRetry from 'p-retry'
import { invalidOption, type FnboxErrorCode } from '../errors.js'
import { sleep, systemClock, type Clock } from '../clock.js'
import { MAX_TIMER_MS, booleanOption, numberOption, optionObject } from './validate.js'

/**
 * Retries with exponential backoff and jitter. The n-th retry (from 0) waits
 * `min(maxDelayMs, minDelayMs × factor^n)`, times a random factor in [1, 2) with `jitter`, and at
 * least what the failure's `Retry-After` asks for.
 *
 * @public
 */
export interface RetryOptions {
  /** Retries after the first attempt. Default 2. */
  retries?: number
  /** Delay before the first retry, in ms. Default 100. */
  minDelayMs?: number
  /** Longest delay between attempts, in ms (a longer `Retry-After` is not waited for). Default 2000. */
  maxDelayMs?: number
  /** Growth of the delay per retry. Default 2. */
  factor?: number
  /** Stretch each delay by a random factor in [1, 2), so clients do not retry in step. Default true. */
  jitter?: boolean
}

export type ResolvedRetry = Readonly<Required<RetryOptions>>

/** Defaults of {@link RetryOptions}. @public */
export const DEFAULT_RETRY: Readonly<Required<RetryOptions>> = Object.freeze({
  retries: 2,
  minDelayMs: 100,
  maxDelayMs: 2000,
  factor: 2,
  jitter: true,
})

export const RETRY_KEYS = Object.keys(DEFAULT_RETRY)

/** Validates the backoff fields of `given` (already checked for unknown keys) over `base`. */
export function resolveBackoff(given: Record<string, unknown>, name: string, base: ResolvedRetry): ResolvedRetry {
  const out = {
    retries: numberOption(given.retries, `${name}.retries`, base.retries, { min: 0, max: 100 }),
    minDelayMs: numberOption(given.minDelayMs, `${name}.minDelayMs`, base.minDelayMs, { min: 0, max: MAX_TIMER_MS }),
    maxDelayMs: numberOption(given.maxDelayMs, `${name}.maxDelayMs`, base.maxDelayMs, { min: 0, max: MAX_TIMER_MS }),
    factor: numberOption(given.factor, `${name}.factor`, base.factor, { min: 1, max: 100, fractional: true }),
    jitter: booleanOption(given.jitter, `${name}.jitter`, base.jitter),
  }
  if (out.maxDelayMs < out.minDelayMs) {
    throw invalidOption(`${name}.maxDelayMs`, `at least ${name}.minDelayMs (${out.minDelayMs})`, out.maxDelayMs)
  }
  return Object.freeze(out)
}

export function resolveRetry(value: unknown, name: string, base: ResolvedRetry = DEFAULT_RETRY): ResolvedRetry {
  const given = optionObject(value, name, RETRY_KEYS)
  return given ? resolveBackoff(given, name, base) : base
}

/** The shortest delay before retry `n` (0-based): the backoff without its jitter. */
export function minimumDelayMs(policy: ResolvedRetry, n: number): number {
  return Math.min(policy.maxDelayMs, Math.round(policy.minDelayMs * policy.factor ** n))
}

/** The delay before retry `n` (from 0): `minDelayMs × factor^n`, times 1-2 with jitter, at most `maxDelayMs`. */
export function backoffDelayMs(policy: ResolvedRetry, n: number): number {
  const random = policy.jitter ? Math.random() + 1 : 1
  return Math.min(policy.maxDelayMs, Math.round(random * policy.minDelayMs * policy.factor ** n))
}

/** The longest delay before retry `n`: twice the minimum with jitter (at most `maxDelayMs`). */
export function maximumDelayMs(policy: ResolvedRetry, n: number): number {
  const base = policy.minDelayMs * policy.factor ** n
  return Math.min(policy.maxDelayMs, Math.round(policy.jitter ? 2 * base : base))
}

export interface RetryHooks {
  /** May this failure be retried (after a backoff)? */
  retryable(error: unknown): boolean
  /** What the failure's `Retry-After` asks for, in ms. */
  retryAfterMs?(error: unknown): number | undefined
  /** The longest wait still worth it, in ms (e.g. the time an invocation has left). Default `maxDelayMs`. */
  maxWaitMs?(): number
  /** True: try again at once, without a delay or using up a retry (another credential). */
  failover?(error: unknown): boolean
  /** Most failovers one call may make (they are bounded by the credentials there are). */
  maxFailovers?: number
  /** Called before each retry, with the failure and the wait on top of the backoff. */
  onRetry?(error: unknown, retry: number, failover: boolean): void
  signal?: AbortSignal
  clock?: Clock
  /** What is retried, for a clock that watches waits (`'a retry of a guest fetch'`). */
  what?: string
}

/**
 * Runs `attempt` until it succeeds, a failure is not retryable, or the retries are used up; the
 * last failure is thrown. Aborting `signal` stops the waiting.
 */
export function retrying<T>(
  attempt: (attemptNumber: number) => Promise<T>,
  policy: ResolvedRetry,
  hooks: RetryHooks,
): Promise<T> {
  const clock = hooks.clock ?? systemClock
  let retries = 0 // retries that waited (failovers do not count)
  let failovers = 0
  const maxFailovers = hooks.maxFailovers ?? 0
  const isFailover = (error: unknown): boolean => failovers < maxFailovers && hooks.failover?.(error) === true
  /** Whether a retry with backoff will follow this failure, and the extra wait it needs. */
  const plan = (error: unknown): { retry: boolean; extraMs: number } => {
    if (retries >= policy.retries || !hooks.retryable(error)) return { retry: false, extraMs: 0 }
    const after = hooks.retryAfterMs?.(error)
    const budget = hooks.maxWaitMs?.() ?? Infinity
    // A Retry-After longer than we would ever wait: give the failure back instead.
    if (after !== undefined && after > Math.min(policy.maxDelayMs, budget)) return { retry: false, extraMs: 0 }
    const floor = minimumDelayMs(policy, retries)
    const extraMs = Math.max(0, (after ?? 0) - floor)
    // The longest this wait can be must leave time for the attempt after it.
    if (extraMs + maximumDelayMs(policy, retries) >= budget) return { retry: false, extraMs: 0 }
    return { retry: true, extraMs }
  }
  return pRetry(attempt, {
    // p-retry counts failovers against `retries` unless they are free; our own counters decide.
    retries: policy.retries + maxFailovers,
    // p-retry would wait on the global timers: its delays are 0, and the backoff is slept on
    // the clock below (the same exponential delay with jitter p-retry computes).
    minTimeout: 0,
    maxTimeout: 0,
    signal: hooks.signal,
    onFailedAttempt: async ({ error }) => {
      const marks = error as { [RETRY]?: boolean; [FAILOVER]?: boolean }
      marks[FAILOVER] = false
      marks[RETRY] = false
      if (isFailover(error)) {
        failovers++
        hooks.onRetry?.(error, retries, true)
        marks[FAILOVER] = true
        return
      }
      const next = plan(error)
      marks[RETRY] = next.retry
      if (!next.retry) return
      hooks.onRetry?.(error, retries, false)
      const delayMs = backoffDelayMs(policy, retries)
      retries++
      await sleep(clock, delayMs + next.extraMs, hooks.signal, hooks.what ?? 'a retry backoff')
    },
    shouldConsumeRetry: ({ error }) => (error as { [FAILOVER]?: boolean })[FAILOVER] !== true,
    shouldRetry: ({ error }) => {
      const marks = error as { [RETRY]?: boolean; [FAILOVER]?: boolean }
      return marks[RETRY] === true || marks[FAILOVER] === true
    },
  })
}

/** Marks on a failure: what onFailedAttempt decided, read by the later p-retry hooks. */
const FAILOVER = Symbol('fnbox.failover')
const RETRY = Symbol('fnbox.retry')

/**
 * Retries of `runtime.call`, for functions whose exports are idempotent (opt-in, per runtime or
 * per function). Only the failures in `on` are retried; guest exceptions and timeouts are not,
 * unless listed. A failure whose `Retry-After` is longer than `maxDelayMs` is not retried.
 *
 * @example
 * ```ts
 * await runtime.deploy('lookup', { code, retry: { retries: 3, maxDelayMs: 1_000 } })
 * await runtime.deploy('sync', { code, retry: { on: ['ERR_EXECUTOR_LOST', 'ERR_GUEST_EXCEPTION'] } })
 * ```
 * @public
 */
export interface CallRetryOptions extends RetryOptions {
  /**
   * Error codes retried. Default: `ERR_EXECUTOR_LOST`, `ERR_QUEUE_FULL`, `ERR_OVERLOADED`,
   * `ERR_RATE_LIMITED`, `ERR_MEMORY_LIMIT` (the call ran in a sandbox that was lost or full, or
   * never ran). Add `ERR_GUEST_EXCEPTION` or `ERR_TIMEOUT` to retry those too.
   */
  on?: FnboxErrorCode[]
}

export interface ResolvedCallRetry extends ResolvedRetry {
  readonly on: ReadonlySet<FnboxErrorCode>
}

/** Defaults of {@link CallRetryOptions.on}. @public */
export const DEFAULT_CALL_RETRY_ON: readonly FnboxErrorCode[] = Object.freeze([
  'ERR_EXECUTOR_LOST',
  'ERR_QUEUE_FULL',
  'ERR_OVERLOADED',
  'ERR_RATE_LIMITED',
  'ERR_MEMORY_LIMIT',
])

/** `false` → off; an object → on, over `base` (the runtime's) or the defaults. */
export function resolveCallRetry(
  value: unknown,
  name: string,
  base: ResolvedCallRetry | undefined,
): ResolvedCallRetry | undefined {
  if (value === undefined) return base
  if (value === false) return undefined
  const given = optionObject(value, name, [...RETRY_KEYS, 'on'])
  if (!given) throw invalidOption(name, 'an object or false', value)
  const backoff = resolveBackoff(given, name, base ?? DEFAULT_RETRY)
  let on = base?.on ?? new Set(DEFAULT_CALL_RETRY_ON)
  if (given.on !== undefined) {
    if (!Array.isArray(given.on)) throw invalidOption(`${name}.on`, 'an array of error codes', given.on)
    given.on.forEach((code, i) => {
      if (typeof code !== 'string' || !/^ERR_[A-Z_]+$/.test(code))
        throw invalidOption(`${name}.on[${i}]`, 'an error code', code)
    })
    on = new Set(given.on as FnboxErrorCode[])
  }
  return Object.freeze({ ...backoff, on })
}
