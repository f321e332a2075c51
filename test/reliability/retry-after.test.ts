import { describe, expect, it } from 'vitest'
import { createRuntime, isFnboxError } from 'fnbox'
import { ServiceTime } from '../../src/reliability/retry-after.js'

describe('ServiceTime', () => {
  it('falls back before anything was observed, never below one second', () => {
    const s = new ServiceTime()
    expect(s.averageMs).toBeUndefined()
    expect(s.retryAfterSeconds(10, 2)).toBe(1)
    expect(s.retryAfterSeconds(10, 2, 7.2)).toBe(8)
  })

  it('moves the average toward new samples and ignores nonsense', () => {
    const s = new ServiceTime()
    s.observe(1000)
    expect(s.averageMs).toBe(1000)
    s.observe(2000)
    expect(s.averageMs).toBe(1200)
    s.observe(Number.NaN)
    s.observe(-5)
    expect(s.averageMs).toBe(1200)
  })

  it('counts the waves the queue needs at the given concurrency', () => {
    const s = new ServiceTime()
    s.observe(1500)
    expect(s.retryAfterSeconds(0, 4)).toBe(2) // one wave of 1.5 s
    expect(s.retryAfterSeconds(3, 4)).toBe(2) // 4 calls, one wave
    expect(s.retryAfterSeconds(4, 4)).toBe(3) // 5 calls, two waves: 3 s
    expect(s.retryAfterSeconds(9, 1)).toBe(15)
    s.observe(0)
    s.observe(0)
    s.observe(0)
    s.observe(0)
    s.observe(0)
    s.observe(0)
    s.observe(0)
    s.observe(0)
    expect(s.retryAfterSeconds(0, 1)).toBe(1) // ~250 ms rounds up to the header's 1 s
  })
})

describe('Retry-After of a full queue', () => {
  it('is derived from how long the function holds its instances', async () => {
    const runtime = await createRuntime({ threads: 1 })
    try {
      await runtime.deploy('slow', {
        code: `export async function run() { await new Promise((r) => setTimeout(r, 1200)); return 1 }`,
        pool: { max: 1, maxQueue: 1 },
      })
      expect(await runtime.call('slow', 'run')).toBe(1) // one observation of ~1.2 s
      const running = runtime.call('slow', 'run')
      const queued = runtime.call('slow', 'run')
      const refused = await runtime.call('slow', 'run').catch((e: unknown) => e)
      expect(isFnboxError(refused, 'ERR_QUEUE_FULL')).toBe(true)
      // Two waves (the queued call, then this one) of ~1.2 s each: 3 s, or 4 on a machine slow
      // enough to stretch a call past 1.5 s. A constant would say 1.
      const { retryAfterSeconds } = refused as { retryAfterSeconds: number }
      expect(retryAfterSeconds).toBeGreaterThanOrEqual(3)
      expect(retryAfterSeconds).toBeLessThanOrEqual(4)
      await Promise.all([running, queued])
    } finally {
      await runtime.close()
    }
  })
})
