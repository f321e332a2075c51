import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import {
  maximumDelayMs,
  minimumDelayMs,
  resolveCallRetry,
  resolveRetry,
  retrying,
  type ResolvedRetry,
} from '../../src/reliability/backoff.js'
import { ManualClock } from '../helpers/manual-clock.js'

class Retryable extends Error {
  constructor(readonly retryAfterMs?: number) {
    super('retryable')
  }
}

const POLICY: ResolvedRetry = { retries: 3, minDelayMs: 100, maxDelayMs: 1000, factor: 2, jitter: true }

/** Runs `retrying` on fake time, recording when each attempt started. */
async function run(
  policy: ResolvedRetry,
  failures: (n: number) => unknown,
  hooks: Partial<Parameters<typeof retrying>[2]> = {},
) {
  const starts: number[] = []
  const t0 = Date.now()
  const done = retrying(
    async (n) => {
      starts.push(Date.now() - t0)
      const failure = failures(n)
      if (failure) throw failure
      return n
    },
    policy,
    {
      retryable: (e) => e instanceof Retryable,
      retryAfterMs: (e) => (e instanceof Retryable ? e.retryAfterMs : undefined),
      ...hooks,
    },
  ).then(
    (value): { value?: number; error?: unknown } => ({ value }),
    (error: unknown): { value?: number; error?: unknown } => ({ error }),
  )
  await vi.runAllTimersAsync()
  return { ...(await done), starts }
}

describe('retrying on an injected clock', () => {
  it('waits its backoff on the clock it is given, not on the global timers', async () => {
    const clock = new ManualClock()
    const attempts: number[] = []
    const done = retrying(
      async (n) => {
        attempts.push(clock.now())
        if (n < 3) throw new Retryable()
        return n
      },
      { ...POLICY, jitter: false },
      { retryable: (e) => e instanceof Retryable, clock },
    )
    const settle = async (): Promise<void> => {
      for (let i = 0; i < 10; i++) await Promise.resolve()
    }
    await settle()
    expect(attempts).toEqual([0])
    clock.advance(99)
    await settle()
    expect(attempts).toEqual([0])
    clock.advance(1)
    await settle()
    expect(attempts).toEqual([0, 100])
    clock.advance(200)
    expect(await done).toBe(3)
    expect(attempts).toEqual([0, 100, 300])
  })
})

describe('retrying (p-retry with fnbox backoff)', () => {
  beforeEach(() => vi.useFakeTimers())
  afterEach(() => vi.useRealTimers())

  it('retries up to `retries` times, each delay within [min, 2 x min] x factor^n, capped', async () => {
    for (let trial = 0; trial < 20; trial++) {
      const { error, starts } = await run(POLICY, () => new Retryable())
      expect(error).toBeInstanceOf(Retryable)
      expect(starts).toHaveLength(4)
      for (let n = 0; n < 3; n++) {
        const delay = starts[n + 1]! - starts[n]!
        expect(delay).toBeGreaterThanOrEqual(minimumDelayMs(POLICY, n))
        expect(delay).toBeLessThanOrEqual(maximumDelayMs(POLICY, n))
      }
    }
    expect([minimumDelayMs(POLICY, 0), minimumDelayMs(POLICY, 2), maximumDelayMs(POLICY, 3)]).toEqual([100, 400, 1000])
  })

  it('without jitter the delays are exact', async () => {
    const { starts } = await run({ ...POLICY, jitter: false }, () => new Retryable())
    expect(starts).toEqual([0, 100, 300, 700])
  })

  it('stops at the first success', async () => {
    const { value, starts } = await run(POLICY, (n) => (n < 3 ? new Retryable() : undefined))
    expect(value).toBe(3)
    expect(starts).toHaveLength(3)
  })

  it('never retries a failure the hooks call not retryable (a 4xx, a guest exception)', async () => {
    const { error, starts } = await run(POLICY, () => new Error('400 Bad Request'))
    expect((error as Error).message).toBe('400 Bad Request')
    expect(starts).toEqual([0])
  })

  it('waits at least the Retry-After a failure asks for', async () => {
    const { starts } = await run({ ...POLICY, jitter: false }, (n) => (n === 1 ? new Retryable(700) : undefined))
    expect(starts).toEqual([0, 700])
  })

  it('gives a failure back when its Retry-After is longer than maxDelayMs', async () => {
    const { error, starts } = await run(POLICY, () => new Retryable(5_000))
    expect(error).toBeInstanceOf(Retryable)
    expect(starts).toEqual([0])
  })

  it('does not start a wait that would not leave time for the next attempt', async () => {
    const { starts } = await run(POLICY, () => new Retryable(), { maxWaitMs: () => 250 })
    // Retry 0 waits at most 200 (< 250); retry 1 could wait 400.
    expect(starts).toHaveLength(2)
  })

  it('fails over at once, without a delay or using up a retry, up to maxFailovers', async () => {
    const { starts } = await run({ ...POLICY, retries: 1, jitter: false }, () => new Retryable(), {
      failover: () => true,
      maxFailovers: 2,
    })
    // Two immediate failovers, then the one retry after its backoff, then nothing left.
    expect(starts).toEqual([0, 0, 0, 100])
  })

  it('stops waiting when the signal aborts', async () => {
    const controller = new AbortController()
    const starts: number[] = []
    const done = retrying(
      async () => {
        starts.push(Date.now())
        throw new Retryable(600)
      },
      POLICY,
      { retryable: () => true, retryAfterMs: () => 600, signal: controller.signal },
    ).catch((e: unknown) => e)
    await vi.advanceTimersByTimeAsync(300)
    controller.abort(new Error('caller gave up'))
    expect(((await done) as Error).message).toBe('caller gave up')
    expect(starts).toHaveLength(1)
  })
})

describe('retry options', () => {
  it('validate with the option named', () => {
    expect(resolveRetry({ retries: 5 }, 'options.egress.retry')).toMatchObject({ retries: 5, minDelayMs: 100 })
    expect(() => resolveRetry({ retries: -1 }, 'options.egress.retry')).toThrow(/options\.egress\.retry\.retries/)
    expect(() => resolveRetry({ minDelayMs: 500, maxDelayMs: 100 }, 'r')).toThrow(/r\.maxDelayMs must be at least/)
  })

  it('call retries are off unless asked for, and never on guest exceptions by default', () => {
    expect(resolveCallRetry(undefined, 'options.retry', undefined)).toBeUndefined()
    const on = resolveCallRetry({}, 'options.retry', undefined)!
    expect(on.on.has('ERR_EXECUTOR_LOST')).toBe(true)
    expect(on.on.has('ERR_GUEST_EXCEPTION')).toBe(false)
    expect(on.on.has('ERR_TIMEOUT')).toBe(false)
    expect(resolveCallRetry(false, 'options.retry', on)).toBeUndefined()
    expect(resolveCallRetry({ on: ['ERR_GUEST_EXCEPTION'] }, 'options.retry', on)!.on).toEqual(
      new Set(['ERR_GUEST_EXCEPTION']),
    )
    expect(() => resolveCallRetry({ on: ['nope'] }, 'options.retry', undefined)).toThrow(/options\.retry\.on\[0\]/)
  })
})
