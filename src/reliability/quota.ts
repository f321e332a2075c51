/**
 * Quotas and rate limits of one function, checked before a sandbox is acquired: requests per
 * second (a token bucket), calls at once, executions and execution seconds per UTC day. The
 * counters live in this process: each host enforces its own (documented).
 *
 * @internal
 * @module
 */
import { FnboxError } from '../errors.js'
import { systemClock, type Clock } from '../clock.js'
import { TokenBucket } from './token-bucket.js'
import { optionObject, optionalNumber } from './validate.js'

/**
 * Quotas and rate limits of a function, per runtime (`createRuntime({ quota })`, each function
 * its own counters) and per function (`deploy(name, { quota })`). Counted per host process.
 * Past any of them a call gets `ERR_RATE_LIMITED` (HTTP 429 + `Retry-After`) before a sandbox is
 * touched.
 *
 * @example
 * ```ts
 * await runtime.deploy('tenant-42', { code, quota: { requestsPerSecond: 10, burst: 20, concurrency: 4, dailyExecutions: 50_000 } })
 * const { quota } = runtime.stats().functions['tenant-42']!
 * ```
 * @public
 */
export interface QuotaOptions {
  /** Calls per second, on average (a token bucket). Default unlimited. */
  requestsPerSecond?: number
  /** Calls allowed at once above the average rate (the bucket's size). Default `max(1, ceil(requestsPerSecond))`. */
  burst?: number
  /** Calls in progress at once (waiting for an instance or running). Default unlimited. */
  concurrency?: number
  /** Calls started per UTC day. Default unlimited. */
  dailyExecutions?: number
  /**
   * Seconds of execution (from getting an instance to the end of the response) per UTC day.
   * Checked when a call starts, so the call that crosses it finishes. Default unlimited.
   */
  dailyExecutionSeconds?: number
}

/** The quota figures of a function in `runtime.stats()`. @public */
export interface QuotaStats {
  /** Calls in progress (counted against `concurrency`). */
  inflight: number
  /** Calls started today (UTC). */
  executionsToday: number
  /** Execution seconds used today (UTC). */
  executionSecondsToday: number
  /** Tokens left in the rate bucket; undefined without `requestsPerSecond`. */
  tokens: number | undefined
  /** Calls refused by the quota since the function was first deployed. */
  refused: number
}

export type ResolvedQuota = Readonly<QuotaOptions>

const QUOTA_KEYS = ['requestsPerSecond', 'burst', 'concurrency', 'dailyExecutions', 'dailyExecutionSeconds']
const DAY_MS = 86_400_000

/** Validates quota options over `base` (the runtime's, field by field). */
export function resolveQuota(value: unknown, name: string, base: ResolvedQuota = {}): ResolvedQuota {
  const given = optionObject(value, name, QUOTA_KEYS)
  if (!given) return base
  const out: QuotaOptions = { ...base }
  const pick = <K extends keyof QuotaOptions>(key: K, r: { min: number; max: number; fractional?: boolean }): void => {
    if (key in given) out[key] = optionalNumber(given[key], `${name}.${key}`, r)
  }
  pick('requestsPerSecond', { min: 0.001, max: 1e9, fractional: true })
  pick('burst', { min: 1, max: 1e9 })
  pick('concurrency', { min: 1, max: 1e9 })
  pick('dailyExecutions', { min: 0, max: 1e12 })
  pick('dailyExecutionSeconds', { min: 0, max: 1e12, fractional: true })
  if (out.burst !== undefined && out.requestsPerSecond === undefined) {
    throw new FnboxError('ERR_INVALID_OPTION', `${name}.burst needs ${name}.requestsPerSecond`, {
      details: { option: `${name}.burst` },
    })
  }
  return Object.freeze(out)
}

/** One admitted call's hold on the quota. */
export interface QuotaTicket {
  /** The call ran: free its concurrency slot, add its execution time. */
  finish(executionMs: number): void
  /** The call never ran (refused later, or no instance): free its slot and give its execution back. */
  cancel(): void
}

const NO_TICKET: QuotaTicket = Object.freeze({ finish: () => undefined, cancel: () => undefined })

/** The counters of one function (they survive redeploys; the options are replaced). */
export class FunctionQuota {
  readonly #name: string
  readonly #clock: Clock
  #options: ResolvedQuota = {}
  #bucket: TokenBucket | undefined
  #inflight = 0
  #day = -1
  #executions = 0
  #executionMs = 0
  #refused = 0

  constructor(name: string, options: ResolvedQuota, clock: Clock = systemClock) {
    this.#name = name
    this.#clock = clock
    this.configure(options)
  }

  /** New options (a redeploy); counters carry over, the rate bucket restarts full. */
  configure(options: ResolvedQuota): void {
    const same = this.#options.requestsPerSecond === options.requestsPerSecond && this.#options.burst === options.burst
    this.#options = options
    if (same && this.#bucket) return
    const rps = options.requestsPerSecond
    this.#bucket =
      rps === undefined
        ? undefined
        : new TokenBucket(rps, options.burst ?? Math.max(1, Math.ceil(rps)), this.#clock.wallNow())
  }

  get limited(): boolean {
    const o = this.#options
    return (
      o.requestsPerSecond !== undefined ||
      o.concurrency !== undefined ||
      o.dailyExecutions !== undefined ||
      o.dailyExecutionSeconds !== undefined
    )
  }

  #rollDay(now: number): void {
    const day = Math.floor(now / DAY_MS)
    if (day !== this.#day) {
      this.#day = day
      this.#executions = 0
      this.#executionMs = 0
    }
  }

  /** Admits a call or throws `ERR_RATE_LIMITED` naming the limit and the value. */
  admit(): QuotaTicket {
    if (!this.limited) return NO_TICKET
    const o = this.#options
    const now = this.#clock.wallNow()
    this.#rollDay(now)
    const untilTomorrow = (this.#day + 1) * DAY_MS - now
    if (o.dailyExecutions !== undefined && this.#executions >= o.dailyExecutions) {
      throw this.#refuse('dailyExecutions', o.dailyExecutions, this.#executions, untilTomorrow)
    }
    if (o.dailyExecutionSeconds !== undefined && this.#executionMs / 1000 >= o.dailyExecutionSeconds) {
      throw this.#refuse('dailyExecutionSeconds', o.dailyExecutionSeconds, this.#executionMs / 1000, untilTomorrow)
    }
    if (o.concurrency !== undefined && this.#inflight >= o.concurrency) {
      throw this.#refuse('concurrency', o.concurrency, this.#inflight, 1000)
    }
    if (this.#bucket) {
      const waitMs = this.#bucket.take(now)
      if (waitMs > 0) throw this.#refuse('requestsPerSecond', this.#bucket.ratePerSecond, undefined, waitMs)
    }
    this.#inflight++
    this.#executions++
    const day = this.#day
    let open = true
    return {
      finish: (executionMs) => {
        if (!open) return
        open = false
        this.#inflight--
        if (day === this.#day) this.#executionMs += Math.max(0, executionMs)
      },
      cancel: () => {
        if (!open) return
        open = false
        this.#inflight--
        if (day === this.#day) this.#executions--
      },
    }
  }

  #refuse(limit: keyof QuotaOptions, max: number, value: number | undefined, retryAfterMs: number): FnboxError {
    this.#refused++
    const seconds = Math.max(1, Math.ceil(retryAfterMs / 1000))
    const at = value === undefined ? '' : ` (${Math.round(value * 1000) / 1000} used)`
    return new FnboxError(
      'ERR_RATE_LIMITED',
      `function ${this.#name} is over quota.${limit} (${max})${at}; retry in ${seconds} s`,
      { retryAfterSeconds: seconds, details: { function: this.#name, quota: limit, limit: max, value } },
    )
  }

  stats(): QuotaStats {
    const now = this.#clock.wallNow()
    this.#rollDay(now)
    return {
      inflight: this.#inflight,
      executionsToday: this.#executions,
      executionSecondsToday: Math.round(this.#executionMs) / 1000,
      tokens: this.#bucket?.tokens(now),
      refused: this.#refused,
    }
  }
}
