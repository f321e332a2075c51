import { afterEach, describe, expect, it } from 'vitest'
import { isFnboxError } from 'fnbox'
import { createTestRuntime, TestClock, type TestRuntime } from 'fnbox/testing'

const START = Date.UTC(2026, 0, 1)
let t: TestRuntime | undefined

afterEach(async () => {
  await t?.close()
  t = undefined
})

describe('createTestRuntime: the manual clock', () => {
  it('is the time guests read from Date.now(), new Date() and Date()', async () => {
    t = await createTestRuntime({ clock: new Date(START) })
    await t.deploy('time', {
      code: `export const now = () => ({ now: Date.now(), date: new Date().toISOString(), text: Date(), given: new Date(5).getTime(), utc: Date.UTC(2020, 0) })`,
    })
    const before = (await t.call('time', 'now')) as Record<string, unknown>
    expect(before).toEqual({
      now: START,
      date: '2026-01-01T00:00:00.000Z',
      text: expect.stringMatching(/^Thu Jan 01 2026 00:00:00 GMT/),
      given: 5,
      utc: Date.UTC(2020, 0),
    })
    await t.clock.advance('1h30m')
    const after = (await t.call('time', 'now')) as Record<string, unknown>
    expect(after.now).toBe(START + 90 * 60_000)
    expect(t.clock.now()).toBe(START + 90 * 60_000)
  })

  it('fires a guest setTimeout when the clock reaches it, not before', async () => {
    t = await createTestRuntime({ clock: START })
    await t.deploy('wait', {
      code: `export const wait = (ms) => new Promise((resolve) => setTimeout(() => resolve(Date.now()), ms))`,
    })
    let settled: unknown
    const call = t.call('wait', 'wait', 60_000).then((v) => (settled = v))
    await t.clock.advance('59s')
    expect(settled).toBeUndefined()
    await t.clock.advance('1s')
    await call
    expect(settled).toBe(START + 60_000)
  })

  it('runs a guest setInterval once per period, each run at its own time', async () => {
    t = await createTestRuntime({ clock: START })
    await t.deploy('tick', {
      code: `export function run(n) {
        return new Promise((resolve) => {
          const seen = []
          const id = setInterval(() => {
            seen.push(Date.now() - ${START})
            if (seen.length === n) { clearInterval(id); resolve(seen) }
          }, 1000)
        })
      }`,
    })
    const result = t.call('tick', 'run', 5)
    await t.clock.advance('10s')
    expect(await result).toEqual([1000, 2000, 3000, 4000, 5000])
  })

  it('waits for host calls a timer starts before it fires the next timer', async () => {
    t = await createTestRuntime({ clock: START })
    await t.deploy('steps', {
      code: `import { kv } from 'fnbox:host'
      export function run() {
        return new Promise((resolve) => {
          setTimeout(async () => {
            await kv.set('a', Date.now())
            setTimeout(async () => resolve({ a: await kv.get('a'), b: Date.now() }), 500)
          }, 1000)
        })
      }`,
    })
    const result = t.call('steps', 'run')
    await t.clock.advance(1500)
    expect(await result).toEqual({ a: START + 1000, b: START + 1500 })
  })

  it('expires kv entries when the clock passes their ttl, for guests and the host', async () => {
    t = await createTestRuntime({ clock: START })
    await t.deploy('cache', {
      code: `import { kv } from 'fnbox:host'
      export const put = () => kv.set('k', 'v', { ttl: 60 })
      export const read = async () => (await kv.get('k')) ?? 'gone'`,
    })
    await t.call('cache', 'put')
    await t.clock.advance('59s')
    expect(await t.call('cache', 'read')).toBe('v')
    expect(await t.kv.get('k')).toBe('v')
    await t.clock.advance('1s')
    expect(await t.call('cache', 'read')).toBe('gone')
    expect(await t.kv.get('k')).toBeUndefined()
  })

  it('reads durations as ms or unit strings and names a bad one', async () => {
    const clock = new TestClock(0)
    await clock.advance(250)
    await clock.advance('1.5s')
    await clock.advance('2m 3s')
    expect(clock.now()).toBe(250 + 1500 + 123_000)
    await expect(clock.advance('ten minutes')).rejects.toMatchObject({
      code: 'ERR_INVALID_OPTION',
      message: expect.stringContaining("'10m'"),
    })
    await expect(clock.advance(-1)).rejects.toMatchObject({ code: 'ERR_INVALID_OPTION' })
  })

  it('fires host timers in order, each at its own time', async () => {
    const clock = new TestClock(0)
    const seen: [string, number][] = []
    clock.setTimeout(() => seen.push(['b', clock.now()]), 200)
    clock.setTimeout(() => seen.push(['a', clock.now()]), 100)
    const dropped = clock.setTimeout(() => seen.push(['x', clock.now()]), 150)
    clock.clearTimeout(dropped)
    clock.setTimeout(() => clock.setTimeout(() => seen.push(['c', clock.now()]), 50), 120)
    await clock.advance(199)
    expect(seen).toEqual([
      ['a', 100],
      ['c', 170],
    ])
    await clock.advance(1)
    expect(seen.at(-1)).toEqual(['b', 200])
  })
})

describe('createTestRuntime: upstream mock, logs and events', () => {
  it('answers guest fetch from MockAgent routes and records the calls', async () => {
    t = await createTestRuntime()
    t.upstream
      .get('https://api.example.com')
      .intercept({ path: '/v1/rate?from=USD', method: 'GET' })
      .reply(200, { eur: 0.9 }, { headers: { 'content-type': 'application/json' } })
    await t.deploy('fx', {
      code: `export async function rate() {
        const res = await fetch('https://api.example.com/v1/rate?from=USD', { headers: { 'x-key': 'k1' } })
        console.log('status', res.status)
        return res.json()
      }`,
    })
    expect(await t.call('fx', 'rate')).toEqual({ eur: 0.9 })
    const calls = t.upstream.getCallHistory()?.calls() ?? []
    expect(calls.map((c) => [c.method, c.fullUrl])).toEqual([['GET', 'https://api.example.com/v1/rate?from=USD']])
    expect(calls[0]?.headers).toMatchObject({ 'x-key': 'k1' })
    t.upstream.assertNoPendingInterceptors()
    expect(t.logs.map((l) => [l.level, l.message])).toEqual([['log', 'status 200']])
    expect(t.invocations.map((e) => [e.function, e.target, e.error])).toEqual([['fx', 'rate', undefined]])
    expect(t.events.map((e) => e.name).filter((n) => n !== 'pool:scale')).toEqual(['deploy', 'log', 'invoke'])
  })

  it('fails a guest fetch no route matches, naming the request, without opening a socket', async () => {
    t = await createTestRuntime()
    t.upstream.get('https://api.example.com').intercept({ path: '/known' }).reply(200, 'ok')
    await t.deploy('miss', {
      code: `export async function go() { try { await fetch('https://api.example.com/unknown'); return 'reached' } catch (e) { return e.name + ': ' + e.message } }`,
    })
    const out = (await t.call('miss', 'go')) as string
    expect(out).toMatch(/^TypeError: .*Mock dispatch not matched for path '\/unknown'/)
  })

  it('still applies the allow-list before the mock', async () => {
    t = await createTestRuntime({ allowedHosts: ['api.example.com'] })
    t.upstream.get('https://other.example.com').intercept({ path: '/' }).reply(200, 'no')
    await t.deploy('deny', {
      code: `export async function go() { try { await fetch('https://other.example.com/'); return 'reached' } catch (e) { return e.message } }`,
    })
    expect(await t.call('deny', 'go')).toMatch(/other\.example\.com/)
    expect(t.upstream.getCallHistory()?.calls() ?? []).toHaveLength(0)
  })

  it('closes once, and its calls fail closed after', async () => {
    t = await createTestRuntime()
    await t.deploy('f', { code: `export const f = () => 1` })
    await Promise.all([t.close(), t.close()])
    const err = await t.call('f', 'f').catch((e: unknown) => e)
    expect(isFnboxError(err, 'ERR_CLOSED')).toBe(true)
  })
})
