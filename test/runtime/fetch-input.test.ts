/** `runtime.fetch` takes what global `fetch` takes: a string, a URL or a Request, and init. */
import { afterAll, beforeAll, expect, it } from 'vitest'
import { createRuntime, isFnboxError, type Runtime } from 'fnbox'

let runtime: Runtime
beforeAll(async () => {
  runtime = await createRuntime({ threads: 1, storage: 'memory' })
  await runtime.deploy('echo', {
    code: `export default { fetch: async (r) => Response.json({ method: r.method, url: r.url, type: r.headers.get('content-type'), body: await r.text() }) }`,
  })
})
afterAll(() => runtime.close())

it('takes a URL string, as global fetch does', async () => {
  const res = await runtime.fetch('http://localhost/echo/a?b=1')
  expect(await res.json()).toEqual({ method: 'GET', url: 'http://localhost/a?b=1', type: null, body: '' })
})

it('takes a URL object and init (method, headers, body)', async () => {
  const res = await runtime.fetch(new URL('http://localhost/echo/notes'), {
    method: 'POST',
    headers: { 'content-type': 'text/plain' },
    body: 'hi',
  })
  expect(await res.json()).toEqual({ method: 'POST', url: 'http://localhost/notes', type: 'text/plain', body: 'hi' })
})

it('takes a Request, and a Request with init overriding it', async () => {
  const request = new Request('http://localhost/echo/x', { method: 'PUT', body: 'one' })
  expect(await (await runtime.fetch(request)).json()).toMatchObject({ method: 'PUT', body: 'one' })
  const again = new Request('http://localhost/echo/x', { method: 'PUT', body: 'two' })
  expect(await (await runtime.fetch(again, { method: 'PATCH' })).json()).toMatchObject({ method: 'PATCH', body: 'two' })
})

it('cancels the call when init.signal aborts', async () => {
  await runtime.deploy('slow', {
    code: `export default { fetch: () => new Promise(() => {}) }`,
    limits: { timeoutMs: 20_000 },
  })
  const controller = new AbortController()
  const answer = runtime.fetch('http://localhost/slow', { signal: controller.signal })
  controller.abort()
  const res = await answer
  expect(res.status).toBeGreaterThanOrEqual(400)
})

it('refuses a relative URL with ERR_INVALID_ARGUMENT saying what it takes', async () => {
  const err = await runtime.fetch('/echo').catch((e: unknown) => e)
  expect(isFnboxError(err, 'ERR_INVALID_ARGUMENT')).toBe(true)
  expect((err as Error).message).toContain('absolute URL')
})
