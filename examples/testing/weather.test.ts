// The unit tests of functions/weather.ts: a manual clock (no sleeping), a mocked API (no
// network), memory storage. Run: npx vitest run examples/testing
//
// One test runtime for the file: starting one (its executor thread) is most of what a test
// costs, ~0.2-0.5 s. Each test deploys the function into a data scope of its own, so no kv
// entry of one test is seen by another, and reads the clock where the last test left it.
import { afterAll, afterEach, beforeAll, beforeEach, expect, it } from 'vitest'
import { bundle } from 'fnbox'
import { createTestRuntime, type TestRuntime } from 'fnbox/testing'

let t: TestRuntime
let weather: Awaited<ReturnType<typeof bundle>>
let test = 0
let start: number

beforeAll(async () => {
  t = await createTestRuntime({ clock: new Date('2026-03-01T12:00:00Z') })
  weather = await bundle(new URL('./functions/weather.ts', import.meta.url).pathname)
})
afterAll(() => t.close())

beforeEach(async () => {
  await t.deploy('weather', { ...weather, scope: `test-${++test}`, allowedHosts: ['api.weather.example'] })
  start = t.clock.now()
})
afterEach(() => {
  t.upstream.assertNoPendingInterceptors()
  t.upstream.clearCallHistory()
  t.clearCaptured()
})

const at = (ms: number) => new Date(start + ms).toISOString()

it('caches the API answer for ten minutes', async () => {
  const api = t.upstream.get('https://api.weather.example')
  api.intercept({ path: '/v1/now?city=Oslo' }).reply(200, { tempC: 4 })
  api.intercept({ path: '/v1/now?city=Oslo' }).reply(200, { tempC: 6 })

  expect(await t.call('weather', 'forecast', 'Oslo')).toEqual({
    city: 'Oslo',
    tempC: 4,
    fetchedAt: at(0),
    cached: false,
  })
  await t.clock.advance('9m')
  expect(await t.call('weather', 'forecast', 'Oslo')).toMatchObject({ tempC: 4, cached: true })

  await t.clock.advance('1m') // the kv entry's ttl (600 s) is over
  expect(await t.call('weather', 'forecast', 'Oslo')).toEqual({
    city: 'Oslo',
    tempC: 6,
    fetchedAt: at(10 * 60_000),
    cached: false,
  })
  expect(t.upstream.getCallHistory()?.calls()).toHaveLength(2)
})

it('fails with the API status, and the error names it', async () => {
  t.upstream.get('https://api.weather.example').intercept({ path: '/v1/now?city=Rome' }).reply(500, 'down')
  await expect(t.call('weather', 'forecast', 'Rome')).rejects.toMatchObject({
    code: 'ERR_GUEST_EXCEPTION',
    message: expect.stringContaining('the weather API answered 500'),
  })
})

it('answers a reminder when the clock reaches it', async () => {
  let answer: unknown
  const reminder = t.call('weather', 'remind', 'stand up', 30 * 60_000).then((a) => (answer = a))
  await t.clock.advance('29m')
  expect(answer).toBeUndefined()
  await t.clock.advance('1m')
  await reminder
  expect(answer).toBe(`${at(30 * 60_000)} stand up`)
})
