/**
 * The test clock holds host retry backoffs too: a guest fetch answered 503 is retried after a
 * backoff on `t.clock`, so a test that advances nothing waits. It does not wait silently: after
 * a while with the clock unmoved, a process warning (once per clock) names the wait and how to
 * move on. An IP-literal allowed host (`127.0.0.1:port`) behaves as any other host here: it was
 * reported to hang because its upstream answered 503 / refused the connection, and the retries
 * waited on the clock.
 */
import { afterEach, beforeEach, expect, it } from 'vitest'
import { createTestRuntime, type TestRuntime } from 'fnbox/testing'

let t: TestRuntime
beforeEach(async () => {
  t = await createTestRuntime()
  await t.deploy('f', {
    allowedHosts: ['127.0.0.1:4567'],
    code: `export async function go() { const r = await fetch('http://127.0.0.1:4567/x'); return r.status }`,
  })
})
afterEach(() => t.close())

function nextWarning(): Promise<Error & { code?: string }> {
  return new Promise((resolve) => {
    const listener = (warning: Error & { code?: string }) => {
      if (warning.name !== 'FnboxTestClockWarning') return
      process.off('warning', listener)
      resolve(warning)
    }
    process.on('warning', listener)
  })
}

it('a retried fetch to an IP-literal host waits on the test clock, says so, and goes on when it moves', async () => {
  t.upstream.get('http://127.0.0.1:4567').intercept({ path: '/x' }).reply(503, 'busy').persist()
  const warning = nextWarning()
  let status: unknown
  const call = t.call('f', 'go').then((s) => (status = s))
  const { message, code } = await warning
  expect(code).toBe('FNBOX_UNADVANCED_WAIT')
  expect(message).toMatch(/^a retry of a guest fetch to http:\/\/127\.0\.0\.1:4567 waits \d+ ms on the test clock/)
  expect(message).toContain("await t.clock.advance('")
  expect(status).toBeUndefined() // still held by the backoff
  await t.clock.advance('1m') // every retry's backoff (2 retries by default)
  await call
  expect(status).toBe(503)
  expect(t.upstream.getCallHistory()?.calls()).toHaveLength(3)
})

it('answers at once without advancing when the host answers (no retry, no wait)', async () => {
  t.upstream.get('http://127.0.0.1:4567').intercept({ path: '/x' }).reply(200, 'ok')
  expect(await t.call('f', 'go')).toBe(200)
})
