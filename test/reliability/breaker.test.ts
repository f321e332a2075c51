import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { isFnboxError } from 'fnbox'
import { BucketRotation, CircuitBreaker, resolveBreaker, type BreakerState } from '../../src/reliability/breaker.js'
import { ManualClock } from '../../src/clock.js'

const OPTIONS = {
  errorThresholdPercentage: 50,
  volumeThreshold: 4,
  rollingWindowMs: 10_000,
  resetTimeoutMs: 5_000,
  timeoutMs: undefined,
}

describe('CircuitBreaker on an injected clock', () => {
  it('opens, half-opens and counts its window on the clock it is given, not on the global timers', () => {
    const clock = new ManualClock(Date.UTC(2026, 0, 1))
    const rotation = new BucketRotation(clock)
    const states: BreakerState[] = []
    const breaker = new CircuitBreaker('function f', OPTIONS, { rotation, clock, onState: (s) => states.push(s) })
    try {
      for (let i = 0; i < 4; i++) breaker.settle(breaker.admit(), 'failure')
      expect(breaker.state).toBe('open')
      expect(breaker.stats().retryAfterMs).toBe(5_000)
      clock.advance(4_999)
      expect(breaker.state).toBe('open')
      expect(breaker.stats().retryAfterMs).toBe(1)
      clock.advance(1)
      expect(breaker.state).toBe('halfOpen')
      breaker.settle(breaker.admit(), 'success')
      expect(breaker.state).toBe('closed')
      expect(states).toEqual(['open', 'halfOpen', 'closed'])
      // The window's buckets turn on the clock too: the four failures leave it, and three new
      // ones stay under the volume threshold (with them in it, the first would open it again).
      clock.advance(OPTIONS.rollingWindowMs + 1_000)
      for (let i = 0; i < 3; i++) breaker.settle(breaker.admit(), 'failure')
      expect(breaker.state).toBe('closed')
      expect(breaker.stats().failures).toBe(3)
    } finally {
      breaker.shutdown()
      rotation.close()
    }
  })
})

describe('CircuitBreaker', () => {
  let rotation: BucketRotation
  let states: BreakerState[]
  let breaker: CircuitBreaker

  beforeEach(() => {
    vi.useFakeTimers()
    rotation = new BucketRotation()
    states = []
    breaker = new CircuitBreaker('function f', OPTIONS, { rotation, onState: (s) => states.push(s) })
  })
  afterEach(() => {
    breaker.shutdown()
    rotation.close()
    vi.useRealTimers()
  })

  /** opossum counts a success on a promise: let it settle. */
  const flush = async (): Promise<void> => {
    await vi.advanceTimersByTimeAsync(0)
  }
  const fail = (n: number): void => {
    for (let i = 0; i < n; i++) breaker.settle(breaker.admit(), 'failure')
  }
  const succeed = async (n: number): Promise<void> => {
    for (let i = 0; i < n; i++) breaker.settle(breaker.admit(), 'success')
    await flush()
  }
  const refused = (): boolean => {
    try {
      breaker.settle(breaker.admit(), 'neutral')
      return false
    } catch (err) {
      expect(isFnboxError(err, 'ERR_CIRCUIT_OPEN')).toBe(true)
      return true
    }
  }

  it('stays closed below the volume threshold, however many of the calls failed', () => {
    fail(3)
    expect(breaker.state).toBe('closed')
    fail(1)
    expect(breaker.state).toBe('open')
    expect(states).toEqual(['open'])
  })

  it('opens only when the error rate is above the threshold', async () => {
    await succeed(5)
    fail(5) // 50%: not above 50
    expect(breaker.state).toBe('closed')
    fail(1) // 6/11
    expect(breaker.state).toBe('open')
    expect(breaker.stats()).toMatchObject({ state: 'open', failures: 6, successes: 5, opens: 1 })
  })

  it('forgets failures that left the rolling window', () => {
    fail(3)
    vi.advanceTimersByTime(10_000) // every bucket turned over
    expect(breaker.stats().failures).toBe(0)
    fail(3)
    expect(breaker.state).toBe('closed')
  })

  it('does not count neutral outcomes, in the rate or the volume', () => {
    for (let i = 0; i < 20; i++) breaker.settle(breaker.admit(), 'neutral')
    fail(3)
    expect(breaker.state).toBe('closed')
    expect(breaker.stats()).toMatchObject({ successes: 0, failures: 3 })
  })

  it('refuses every call while open, with Retry-After until the reset', () => {
    fail(4)
    vi.advanceTimersByTime(2_000)
    let error: unknown
    try {
      breaker.admit()
    } catch (err) {
      error = err
    }
    expect(isFnboxError(error, 'ERR_CIRCUIT_OPEN')).toBe(true)
    expect((error as { retryAfterSeconds: number }).retryAfterSeconds).toBe(3)
    expect(breaker.stats().retryAfterMs).toBe(3_000)
    expect(refused()).toBe(true)
    expect(breaker.stats().rejected).toBe(2)
  })

  it('lets exactly one probe through when half-open, and closes when it succeeds', async () => {
    fail(4)
    vi.advanceTimersByTime(5_000)
    expect(breaker.state).toBe('halfOpen')
    const probe = breaker.admit()
    expect(probe.probe).toBe(true)
    for (let i = 0; i < 10; i++) expect(refused()).toBe(true)
    breaker.settle(probe, 'success')
    expect(breaker.state).toBe('closed') // the probe's success closes it at once
    expect(refused()).toBe(false)
    expect(states).toEqual(['open', 'halfOpen', 'closed'])
    await succeed(3)
  })

  it('re-opens when the probe fails, with a fresh reset timer', () => {
    fail(4)
    vi.advanceTimersByTime(5_000)
    vi.advanceTimersByTime(1_000) // half-open for a while before the probe comes
    breaker.settle(breaker.admit(), 'timeout')
    expect(breaker.state).toBe('open')
    expect(breaker.stats()).toMatchObject({ opens: 2, timeouts: 1, retryAfterMs: 5_000 })
    vi.advanceTimersByTime(4_999)
    expect(breaker.state).toBe('open')
    vi.advanceTimersByTime(1)
    expect(breaker.state).toBe('halfOpen')
    expect(states).toEqual(['open', 'halfOpen', 'open', 'halfOpen'])
  })

  it('a neutral probe hands the probe to the next call', async () => {
    fail(4)
    vi.advanceTimersByTime(5_000)
    breaker.settle(breaker.admit(), 'neutral')
    expect(breaker.state).toBe('halfOpen')
    const next = breaker.admit()
    expect(next.probe).toBe(true)
    breaker.settle(next, 'success')
    await flush()
    expect(breaker.state).toBe('closed')
  })

  it('still reaches half-open after 100 simultaneous failures, and their stragglers do not re-open it', async () => {
    const inFlight = Array.from({ length: 100 }, () => breaker.admit())
    for (const t of inFlight.slice(0, 60)) breaker.settle(t, 'failure')
    expect(breaker.state).toBe('open')
    expect(states).toEqual(['open'])
    vi.advanceTimersByTime(5_000)
    expect(breaker.state).toBe('halfOpen')
    // The other 40 were admitted before the breaker opened: their failures are old news.
    for (const t of inFlight.slice(60)) breaker.settle(t, 'failure')
    expect(breaker.state).toBe('halfOpen')
    const probe = breaker.admit()
    breaker.settle(probe, 'success')
    await flush()
    expect(breaker.state).toBe('closed')
    expect(states).toEqual(['open', 'halfOpen', 'closed'])
  })

  it('execute(): a timed-out call has its own signal aborted, and other calls go on', async () => {
    const signals: AbortSignal[] = []
    const work = (ms: number) => (signal: AbortSignal) => {
      signals.push(signal)
      return new Promise<string>((resolve) => setTimeout(() => resolve(`done in ${ms}`), ms))
    }
    const timeoutError = (): Error => new Error('timed out')
    const slow = breaker.execute(work(5_000), { timeoutMs: 1_000, timeoutError })
    const quick = breaker.execute(work(500), { timeoutMs: 1_000, timeoutError })
    const slowResult = slow.catch((e: Error) => e.message)
    await vi.advanceTimersByTimeAsync(500)
    await expect(quick).resolves.toBe('done in 500')
    await vi.advanceTimersByTimeAsync(500)
    expect(await slowResult).toBe('timed out')
    expect(signals[0]!.aborted).toBe(true)
    expect(signals[1]!.aborted).toBe(false)
    expect(breaker.stats()).toMatchObject({ timeouts: 1, failures: 1, successes: 1 })
  })

  it('execute() refuses while open without running the work', async () => {
    fail(4)
    let ran = 0
    const attempt = breaker.execute(async () => ran++, { timeoutError: () => new Error('t') })
    await expect(attempt).rejects.toMatchObject({ code: 'ERR_CIRCUIT_OPEN' })
    expect(ran).toBe(0)
  })
})

describe('breaker options', () => {
  it('fills defaults, inherits from the base, and false turns it off', () => {
    const base = resolveBreaker({ volumeThreshold: 20 }, 'options.breaker', undefined)!
    expect(base).toMatchObject({ errorThresholdPercentage: 50, volumeThreshold: 20, resetTimeoutMs: 10_000 })
    expect(resolveBreaker({ resetTimeoutMs: 100 }, 'options.breaker', base)).toMatchObject({
      volumeThreshold: 20,
      resetTimeoutMs: 100,
    })
    expect(resolveBreaker(undefined, 'options.breaker', base)).toBe(base)
    expect(resolveBreaker(false, 'options.breaker', base)).toBeUndefined()
  })

  it('names the option and the value it refuses (volumeThreshold 0 would open on the first failure)', () => {
    expect(() => resolveBreaker({ volumeThreshold: 0 }, 'options.breaker', undefined)).toThrow(
      /options\.breaker\.volumeThreshold must be an integer from 1 to 1000000 \(got 0\)/,
    )
    expect(() => resolveBreaker({ errorThreshold: 5 }, 'options.breaker', undefined)).toThrow(
      /options\.breaker\.errorThreshold/,
    )
    expect(() => resolveBreaker(true, 'options.breaker', undefined)).toThrow(/an object or false/)
  })
})
