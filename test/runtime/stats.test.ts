import { describe, expect, it } from 'vitest'
import { createRuntime } from 'fnbox'
import { RecentWindow } from '../../src/observability/window.js'

describe('RecentWindow', () => {
  it('gives percentiles of the recent samples only', () => {
    const w = new RecentWindow(4)
    expect(w.percentile(50)).toBe(0)
    for (const v of [10, 20, 30, 40]) w.record(v)
    expect(w.percentile(50)).toBe(20)
    expect(w.percentile(99)).toBe(40)
    w.record(1000) // pushes out the oldest (10)
    expect(w.percentile(0)).toBe(20)
    expect(w.percentile(99)).toBe(1000)
  })
})

describe('runtime.stats()', () => {
  it('reports how long calls waited for an instance', async () => {
    const runtime = await createRuntime({ threads: 1 })
    try {
      await runtime.deploy('waiter', {
        code: `export async function run() { await new Promise((r) => setTimeout(r, 150)) }`,
        pool: { max: 1 },
      })
      await Promise.all([1, 2, 3].map(() => runtime.call('waiter', 'run')))
      const { acquireWaitMs } = runtime.stats().functions.waiter!
      // One call got the instance at once, one waited for it (~150 ms), one for both (~300 ms).
      expect(acquireWaitMs.p50).toBeGreaterThanOrEqual(140)
      expect(acquireWaitMs.p99).toBeGreaterThanOrEqual(290)
      expect(acquireWaitMs.p99).toBeLessThan(2000)
    } finally {
      await runtime.close()
    }
  })
})
