import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { isFnboxError } from 'fnbox'
import {
  DEFAULT_SHEDDING,
  LoadShedder,
  resolvePriority,
  resolveShedding,
  type LoadSample,
  type Priority,
} from '../../src/reliability/shedding.js'

describe('LoadShedder', () => {
  let sample: LoadSample
  let shedder: LoadShedder
  const levels: number[] = []

  beforeEach(() => {
    vi.useFakeTimers()
    sample = { eventLoopDelayMs: 0, heapUsedRatio: 0.1, queued: 0 }
    levels.length = 0
    shedder = new LoadShedder(
      { ...DEFAULT_SHEDDING, intervalMs: 100 },
      { sample: () => sample, onLevel: (e) => levels.push(e.level) },
    )
  })
  afterEach(() => {
    shedder.stop()
    vi.useRealTimers()
  })

  const served = (): Priority[] =>
    (['low', 'normal', 'high', 'critical'] as const).filter((p) => {
      try {
        shedder.check(p, `fn-${p}`)
        return true
      } catch (err) {
        expect(isFnboxError(err, 'ERR_OVERLOADED')).toBe(true)
        expect((err as { retryAfterSeconds: number }).retryAfterSeconds).toBe(1)
        return false
      }
    })

  it('serves everyone while the host is calm', () => {
    vi.advanceTimersByTime(1_000)
    expect(served()).toEqual(['low', 'normal', 'high', 'critical'])
  })

  it('refuses lower priorities first, one step per overloaded sample, never critical', () => {
    sample = { ...sample, eventLoopDelayMs: 800 } // past 500 ms
    vi.advanceTimersByTime(100)
    expect(served()).toEqual(['normal', 'high', 'critical'])
    vi.advanceTimersByTime(100)
    expect(served()).toEqual(['high', 'critical'])
    vi.advanceTimersByTime(100)
    expect(served()).toEqual(['critical'])
    vi.advanceTimersByTime(1_000)
    expect(served()).toEqual(['critical'])
    expect(shedder.stats()).toMatchObject({ level: 3, shedding: ['low', 'normal', 'high'], eventLoopDelayMs: 800 })
  })

  it('each signal counts: heap and queue depth too', () => {
    sample = { eventLoopDelayMs: 0, heapUsedRatio: 0.95, queued: 0 }
    vi.advanceTimersByTime(100)
    expect(shedder.stats().level).toBe(1)
    sample = { eventLoopDelayMs: 0, heapUsedRatio: 0.1, queued: 6_000 }
    vi.advanceTimersByTime(100)
    expect(shedder.stats().level).toBe(2)
  })

  it('holds between 70% and 100% of a limit, and steps back down once calm', () => {
    sample = { ...sample, queued: 10_000 }
    vi.advanceTimersByTime(200)
    sample = { ...sample, queued: 4_000 } // 80% of maxQueued: hold
    vi.advanceTimersByTime(500)
    expect(shedder.stats().level).toBe(2)
    sample = { ...sample, queued: 100 }
    vi.advanceTimersByTime(100)
    expect(served()).toEqual(['normal', 'high', 'critical'])
    vi.advanceTimersByTime(100)
    expect(served()).toEqual(['low', 'normal', 'high', 'critical'])
    expect(levels).toEqual([1, 2, 1, 0])
    expect(shedder.stats().refused).toBe(1)
  })
})

describe('shedding options', () => {
  it('validate with the option named', () => {
    expect(resolveShedding(false, 'options.shedding')).toBeUndefined()
    expect(resolveShedding(undefined, 'options.shedding')).toBe(DEFAULT_SHEDDING)
    expect(resolveShedding({ maxQueued: 10 }, 'options.shedding')).toMatchObject({ maxQueued: 10, intervalMs: 500 })
    expect(() => resolveShedding({ maxHeapUsedRatio: 2 }, 'options.shedding')).toThrow(
      /options\.shedding\.maxHeapUsedRatio/,
    )
    expect(() => resolvePriority('urgent', 'options.priority', 'normal')).toThrow(/one of low, normal, high, critical/)
    expect(resolvePriority(undefined, 'options.priority', 'normal')).toBe('normal')
  })
})
