import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { isFnboxError } from 'fnbox'
import { ClientRateLimiter, clientKey, resolveClientRateLimit } from '../../src/reliability/client-rate-limit.js'
import { FunctionQuota, resolveQuota } from '../../src/reliability/quota.js'
import { TokenBucket } from '../../src/reliability/token-bucket.js'

const refusal = (fn: () => unknown): { quota?: unknown; retryAfterSeconds?: number } | undefined => {
  try {
    fn()
    return undefined
  } catch (err) {
    if (!isFnboxError(err, 'ERR_RATE_LIMITED')) throw err
    return { quota: err.details.quota, retryAfterSeconds: err.retryAfterSeconds }
  }
}

describe('TokenBucket', () => {
  it('allows a burst, then one token per 1/rate seconds', () => {
    const b = new TokenBucket(2, 3, 0)
    expect([b.take(0), b.take(0), b.take(0)]).toEqual([0, 0, 0])
    expect(b.take(0)).toBe(500)
    expect(b.take(499)).toBe(1)
    expect(b.take(500)).toBe(0)
    expect(b.tokens(10_000)).toBe(3) // never above the burst
  })
})

describe('FunctionQuota', () => {
  beforeEach(() => vi.useFakeTimers({ now: Date.UTC(2025, 0, 1, 23, 59, 0) }))
  afterEach(() => vi.useRealTimers())

  it('limits requests per second with Retry-After until the next token', () => {
    const q = new FunctionQuota('f', resolveQuota({ requestsPerSecond: 0.5, burst: 2 }, 'q'))
    q.admit().finish(1)
    q.admit().finish(1)
    expect(refusal(() => q.admit())).toEqual({ quota: 'requestsPerSecond', retryAfterSeconds: 2 })
    vi.advanceTimersByTime(2_000)
    expect(refusal(() => q.admit())).toBeUndefined()
    expect(q.stats().refused).toBe(1)
  })

  it('limits calls in progress; a cancelled call frees its slot and its execution', () => {
    const q = new FunctionQuota('f', resolveQuota({ concurrency: 2, dailyExecutions: 10 }, 'q'))
    const a = q.admit()
    const b = q.admit()
    expect(refusal(() => q.admit())?.quota).toBe('concurrency')
    a.finish(5)
    b.cancel()
    expect(q.stats()).toMatchObject({ inflight: 0, executionsToday: 1 })
  })

  it('counts executions and execution seconds per UTC day, refusing until midnight', () => {
    const q = new FunctionQuota('f', resolveQuota({ dailyExecutions: 2, dailyExecutionSeconds: 100 }, 'q'))
    q.admit().finish(30_000)
    q.admit().finish(80_000)
    // 60 s before midnight UTC: both limits are reached, the first one checked answers.
    expect(refusal(() => q.admit())).toEqual({ quota: 'dailyExecutions', retryAfterSeconds: 60 })
    vi.advanceTimersByTime(60_000)
    expect(refusal(() => q.admit())).toBeUndefined()
    expect(q.stats()).toMatchObject({ executionsToday: 1, executionSecondsToday: 0 })
  })

  it('refuses by execution seconds, and lets the call that crosses them finish', () => {
    const q = new FunctionQuota('f', resolveQuota({ dailyExecutionSeconds: 1 }, 'q'))
    const running = q.admit()
    running.finish(1_500)
    expect(refusal(() => q.admit())?.quota).toBe('dailyExecutionSeconds')
  })

  it('keeps its counters when reconfigured (a redeploy)', () => {
    const q = new FunctionQuota('f', resolveQuota({ dailyExecutions: 1 }, 'q'))
    q.admit().finish(1)
    q.configure(resolveQuota({ dailyExecutions: 2 }, 'q'))
    expect(refusal(() => q.admit())).toBeUndefined()
    expect(refusal(() => q.admit())?.quota).toBe('dailyExecutions')
  })

  it('validates with the option named', () => {
    expect(() => resolveQuota({ concurrency: 0 }, 'options.quota')).toThrow(
      /options\.quota\.concurrency must be an integer from 1/,
    )
    expect(() => resolveQuota({ burst: 5 }, 'options.quota')).toThrow(
      /options\.quota\.burst needs options\.quota\.requestsPerSecond/,
    )
    expect(() => resolveQuota({ rps: 5 }, 'options.quota')).toThrow(/options\.quota\.rps/)
  })
})

describe('client rate limits', () => {
  it('count IPv4-mapped addresses as IPv4 and IPv6 clients per /64', () => {
    expect(clientKey('::ffff:10.1.2.3')).toBe('10.1.2.3')
    expect(clientKey('2001:db8:1:2:aaaa::1')).toBe(clientKey('2001:db8:1:2:ffff::9'))
    expect(clientKey('2001:db8:1:2::1')).not.toBe(clientKey('2001:db8:1:3::1'))
  })

  it('refuse a client past its burst, not the others, and forget the least recently seen', () => {
    let now = 0
    const limiter = new ClientRateLimiter(
      { requestsPerSecond: 1, burst: 2, maxClients: 2 },
      { now: () => now, wallNow: () => now, setTimeout: () => 0, clearTimeout: () => undefined },
    )
    expect(limiter.check('1.1.1.1')).toBeUndefined()
    expect(limiter.check('1.1.1.1')).toBeUndefined()
    const refused = limiter.check('1.1.1.1')
    expect(refused?.code).toBe('ERR_RATE_LIMITED')
    expect(refused?.retryAfterSeconds).toBe(1)
    expect(limiter.check('2.2.2.2')).toBeUndefined()
    expect(limiter.check(undefined)).toBeUndefined()
    limiter.check('3.3.3.3') // evicts 1.1.1.1, the least recently seen
    expect(limiter.size).toBe(2)
    expect(limiter.check('1.1.1.1')).toBeUndefined() // a fresh, full bucket
    now += 1_000
    expect(limiter.check('2.2.2.2')).toBeUndefined()
  })

  it('need requestsPerSecond', () => {
    expect(() => resolveClientRateLimit({ burst: 3 }, 'options.rateLimit')).toThrow(
      /options\.rateLimit\.requestsPerSecond is required/,
    )
    expect(resolveClientRateLimit(undefined, 'options.rateLimit')).toBeUndefined()
  })
})
