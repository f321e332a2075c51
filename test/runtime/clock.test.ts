/**
 * One clock: the clock given to createRuntime({ clock }) is the time of the pools, breakers,
 * quotas, the memory KV's expiries and log times. A ManualClock moves them all, and nothing
 * here sleeps.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createRuntime, isFnboxError, ManualClock, type LogEvent, type Runtime } from 'fnbox'

const T0 = Date.UTC(2026, 0, 1, 23, 59, 0)

describe("the runtime's clock", () => {
  let runtime: Runtime
  let clock: ManualClock

  beforeAll(async () => {
    clock = new ManualClock(T0)
    runtime = await createRuntime({ clock, threads: 1, storage: 'memory', limits: { memoryMb: 32 } })
  })
  afterAll(async () => {
    await runtime.close()
  })

  const refusal = async (promise: Promise<unknown>): Promise<string | undefined> => {
    try {
      await promise
      return undefined
    } catch (err) {
      return isFnboxError(err) ? err.code : String(err)
    }
  }

  it("expires the memory KV's entries when the clock passes their ttl", async () => {
    await runtime.kv.set('session', 'abc', { ttl: 10 })
    clock.advance(9_999)
    expect(await runtime.kv.get('session')).toBe('abc')
    clock.advance(1)
    expect(await runtime.kv.get('session')).toBeUndefined()
  })

  it("refills a function's rate quota on the clock, and resets its daily quota at the clock's UTC midnight", async () => {
    await runtime.deploy('rated', {
      code: `export const ping = () => 'pong'`,
      quota: { requestsPerSecond: 1, burst: 1 },
    })
    expect(await runtime.call('rated', 'ping')).toBe('pong')
    expect(await refusal(runtime.call('rated', 'ping'))).toBe('ERR_RATE_LIMITED')
    clock.advance(1_000)
    expect(await runtime.call('rated', 'ping')).toBe('pong')

    await runtime.deploy('daily', { code: `export const ping = () => 'pong'`, quota: { dailyExecutions: 1 } })
    expect(await runtime.call('daily', 'ping')).toBe('pong')
    expect(await refusal(runtime.call('daily', 'ping'))).toBe('ERR_RATE_LIMITED')
    const nextDay = Date.UTC(2026, 0, 3) - clock.wallNow()
    clock.advance(nextDay)
    expect(await runtime.call('daily', 'ping')).toBe('pong')
  })

  it("opens a function's breaker, and half-opens it when the clock passes resetTimeoutMs", async () => {
    await runtime.deploy('flaky', {
      code: `export const run = () => { throw new Error('down') }`,
      breaker: { volumeThreshold: 2, resetTimeoutMs: 60_000 },
    })
    expect(await refusal(runtime.call('flaky', 'run'))).toBe('ERR_GUEST_EXCEPTION')
    expect(await refusal(runtime.call('flaky', 'run'))).toBe('ERR_GUEST_EXCEPTION')
    expect(runtime.stats().functions.flaky?.breaker).toMatchObject({ state: 'open', retryAfterMs: 60_000 })
    expect(await refusal(runtime.call('flaky', 'run'))).toBe('ERR_CIRCUIT_OPEN')
    clock.advance(59_999)
    expect(runtime.stats().functions.flaky?.breaker?.state).toBe('open')
    clock.advance(1)
    expect(runtime.stats().functions.flaky?.breaker?.state).toBe('halfOpen')
  })

  it("dates log events with the clock's wall time", async () => {
    await runtime.deploy('logger', { code: `export const run = () => { console.log('hello') }` })
    const logs: LogEvent[] = []
    runtime.on('log', (event) => logs.push(event))
    await runtime.call('logger', 'run')
    expect(logs).toMatchObject([{ message: 'hello', time: clock.wallNow() }])
  })
})

describe('options.clock', () => {
  it('must have now(), wallNow(), setTimeout() and clearTimeout()', async () => {
    const incomplete = { now: () => 0, setTimeout: () => 0, clearTimeout: () => undefined }
    const err = await createRuntime({ clock: incomplete as never }).catch((e: unknown) => e)
    expect(isFnboxError(err, 'ERR_INVALID_OPTION')).toBe(true)
    expect((err as Error).message).toMatch(/options\.clock.*wallNow\(\)/)
  })
})

describe('ManualClock', () => {
  it('fires the timers due, in time order, as it advances', () => {
    const clock = new ManualClock(100)
    const fired: string[] = []
    clock.setTimeout(() => fired.push('b'), 20)
    clock.setTimeout(() => fired.push('a'), 10)
    const cancelled = clock.setTimeout(() => fired.push('never'), 15)
    clock.clearTimeout(cancelled)
    clock.advance(9)
    expect(fired).toEqual([])
    clock.advance(11)
    expect(fired).toEqual(['a', 'b'])
    expect(clock.now()).toBe(120)
    expect(clock.wallNow()).toBe(120)
    expect(clock.pending).toBe(0)
  })
})
