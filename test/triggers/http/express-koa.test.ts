/**
 * End to end over real HTTP: one real runtime (QuickJS on executor threads, no fakes) mounted on
 * Express (`app.use('/fn', runtime.express())`) and on Koa (`app.use(runtime.koa({ prefix: '/fn' }))`),
 * each served on 127.0.0.1:0 and driven with the global fetch.
 */
import { createHash, randomBytes } from 'node:crypto'
import { createServer, type RequestListener, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import express from 'express'
import Koa from 'koa'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { createRuntime, type LogEvent, type Runtime } from 'fnbox'
import { sleep, waitFor } from '../../helpers/wait.js'

let runtime: Runtime

/** Host internals a client must never see in an error body. */
const HOST_INTERNALS = /\/work\/|node_modules|node:internal|file:\/\/|\bat \S+ \(/

beforeAll(async () => {
  runtime = await createRuntime({ threads: 2, limits: { memoryMb: 32, timeoutMs: 5000 } })
  await Promise.all([
    runtime.deploy('echo', {
      code: `export default {
        async fetch(request, ctx) {
          const url = new URL(request.url)
          const text = request.method === 'GET' ? null : await request.text()
          return Response.json({
            method: request.method,
            url: request.url,
            originalUrl: ctx.originalUrl,
            mountPath: ctx.mountPath,
            query: Object.fromEntries(url.searchParams),
            contentType: request.headers.get('content-type'),
            json: text ? JSON.parse(text) : null,
            fn: ctx.functionName,
          })
        },
      }`,
    }),
    runtime.deploy('methods', {
      code: `export function GET(request) { return new Response('GET ' + new URL(request.url).pathname) }
             export async function POST(request) { return new Response('POST ' + await request.text()) }
             export function helper() { return 'not HTTP' }`,
    }),
    runtime.deploy('digest', {
      code: `export default {
        async fetch(request) {
          const bytes = await request.arrayBuffer()
          const hash = new Uint8Array(await crypto.subtle.digest('SHA-256', bytes))
          return Response.json({ size: bytes.byteLength, sha256: [...hash].map((b) => b.toString(16).padStart(2, '0')).join('') })
        },
      }`,
    }),
    runtime.deploy('small', {
      code: `export default { fetch: async (r) => new Response(String((await r.arrayBuffer()).byteLength)) }`,
      limits: { maxRequestBytes: 1000 },
    }),
    runtime.deploy('hang', {
      code: `export default { fetch: () => new Promise(() => {}) }`,
      limits: { timeoutMs: 300 },
    }),
    runtime.deploy('slow', {
      code: `export default { async fetch() { await new Promise(r => setTimeout(r, 600)); return new Response('slow done') } }`,
      pool: { max: 1, maxQueue: 0 },
    }),
    runtime.deploy('thrower', {
      code: `export default { fetch() { throw new TypeError('guest-secret-detail 8c1f') } }`,
    }),
    runtime.deploy('chunks', {
      code: `export default {
        fetch() {
          const enc = new TextEncoder()
          const body = new ReadableStream({
            async start(controller) {
              controller.enqueue(enc.encode('one;'))
              await new Promise(r => setTimeout(r, 150))
              controller.enqueue(enc.encode('two;'))
              await new Promise(r => setTimeout(r, 150))
              controller.enqueue(enc.encode('three;'))
              controller.close()
            },
          })
          return new Response(body, { headers: { 'content-type': 'text/plain' } })
        },
      }`,
    }),
    // An endless stream: every pull logs a tick, waits 40 ms and enqueues a chunk. Its long
    // timeout means only a cancel (the client leaving) can end it within the test.
    runtime.deploy('endless', {
      code: `export default {
        fetch(request, ctx) {
          let n = 0
          const enc = new TextEncoder()
          const body = new ReadableStream({
            async pull(controller) {
              n++
              console.log('tick ' + n)
              await new Promise(r => setTimeout(r, 40))
              controller.enqueue(enc.encode('chunk ' + n + '\\n'))
            },
            cancel() { console.log('cancelled') },
          })
          return new Response(body, { headers: { 'x-request-id': ctx.requestId } })
        },
      }`,
      limits: { timeoutMs: 20_000 },
    }),
    runtime.deploy('headers', {
      code: `export default {
        fetch() {
          const headers = new Headers({ 'x-custom': 'from-guest', 'content-type': 'application/json' })
          headers.append('set-cookie', 'a=1; Path=/')
          headers.append('set-cookie', 'b=2; HttpOnly')
          return new Response(JSON.stringify({ created: true }), { status: 201, statusText: 'Made', headers })
        },
      }`,
    }),
  ])
})

afterAll(async () => {
  await runtime?.close({ timeoutMs: 2000 })
})

// ---------------------------------------------------------------------------------------------
// The two mounts.

interface Mount {
  name: string
  start(): Promise<{ server: Server; base: string }>
}

async function listen(listener: RequestListener): Promise<{ server: Server; base: string }> {
  const server = createServer(listener)
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  return { server, base: `http://127.0.0.1:${port}` }
}

const mounts: Mount[] = [
  {
    name: 'Express',
    start() {
      const app = express()
      app.use('/fn', runtime.express())
      app.use((_req, res) => void res.status(418).send('not fnbox'))
      return listen(app)
    },
  },
  {
    name: 'Koa',
    start() {
      const app = new Koa()
      app.silent = true
      app.use(runtime.koa({ prefix: '/fn' }))
      app.use((ctx) => {
        ctx.status = 418
        ctx.body = 'not fnbox'
      })
      return listen(app.callback())
    },
  },
]

interface ErrorBody {
  error: { code: string; message: string }
}

describe.each(mounts)('$name mount over real HTTP', (mount) => {
  let server: Server
  let base: string

  beforeAll(async () => {
    ;({ server, base } = await mount.start())
  })
  afterAll(async () => {
    server.closeAllConnections()
    await new Promise<void>((resolve) => server.close(() => resolve()))
  })

  it('routes a GET with a query to export default { fetch }; the guest sees its URL relative to its mount, and the original in ctx', async () => {
    const res = await fetch(`${base}/fn/echo/sub/path?name=Ada&n=2`)
    expect(res.status).toBe(200)
    expect(res.headers.get('content-type')).toContain('application/json')
    expect(await res.json()).toEqual({
      method: 'GET',
      url: `${base}/sub/path?name=Ada&n=2`,
      originalUrl: `${base}/fn/echo/sub/path?name=Ada&n=2`,
      mountPath: '/fn/echo',
      query: { name: 'Ada', n: '2' },
      contentType: null,
      json: null,
      fn: 'echo',
    })
  })

  it('echoes a POSTed JSON body', async () => {
    const payload = { a: 1, list: [1, 2, 3], nested: { ok: true }, text: 'héllo ✓' }
    const res = await fetch(`${base}/fn/echo`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(payload),
    })
    expect(res.status).toBe(200)
    expect(await res.json()).toMatchObject({
      method: 'POST',
      url: `${base}/`,
      originalUrl: `${base}/fn/echo`,
      mountPath: '/fn/echo',
      contentType: 'application/json',
      json: payload,
    })
  })

  it('routes per-method exports, and answers 405 with Allow for a method without one', async () => {
    const get = await fetch(`${base}/fn/methods/x`)
    expect(get.status).toBe(200)
    expect(await get.text()).toBe('GET /x')
    const post = await fetch(`${base}/fn/methods`, { method: 'POST', body: 'payload' })
    expect(post.status).toBe(200)
    expect(await post.text()).toBe('POST payload')
    const del = await fetch(`${base}/fn/methods`, { method: 'DELETE' })
    expect(del.status).toBe(405)
    expect(del.headers.get('allow')).toContain('GET')
    expect(del.headers.get('allow')).toContain('POST')
    await del.arrayBuffer()
  })

  it('answers 404 JSON for an unknown function (and does not fall through to the next route)', async () => {
    const res = await fetch(`${base}/fn/no-such-function?x=1`)
    expect(res.status).toBe(404)
    expect(res.headers.get('content-type')).toContain('application/json')
    expect(((await res.json()) as ErrorBody).error.code).toBe('ERR_NOT_FOUND')
  })

  it("reads a request body once: the runtime takes the mount's bytes, never the Request's stream", async () => {
    // 300 KB sent chunked: many socket reads, gathered by the mount into one buffer.
    const payload = randomBytes(300 * 1024)
    const reads = vi.spyOn(Request.prototype, 'body', 'get')
    try {
      const res = await fetch(`${base}/fn/digest`, {
        method: 'POST',
        body: new ReadableStream({
          start(controller) {
            for (let i = 0; i < payload.length; i += 16 * 1024) controller.enqueue(payload.subarray(i, i + 16 * 1024))
            controller.close()
          },
        }),
        duplex: 'half',
      } as RequestInit)
      expect(res.status).toBe(200)
      expect(await res.json()).toEqual({
        size: payload.length,
        sha256: createHash('sha256').update(payload).digest('hex'),
      })
      // The host never opened the request's body stream: no second buffering of the body.
      expect(reads).not.toHaveBeenCalled()
    } finally {
      reads.mockRestore()
    }
  })

  it("answers 413 for a body over the function's limits.maxRequestBytes", async () => {
    const atLimit = await fetch(`${base}/fn/small`, { method: 'POST', body: 'x'.repeat(1000) })
    expect(atLimit.status).toBe(200)
    expect(await atLimit.text()).toBe('1000')
    // 5000 bytes pass the mount's own maxRequestBytes (default 1 MiB) and hit the function's 1000.
    const res = await fetch(`${base}/fn/small`, { method: 'POST', body: 'x'.repeat(5000) })
    expect(res.status).toBe(413)
    expect(((await res.json()) as ErrorBody).error.code).toBe('ERR_REQUEST_TOO_LARGE')
  })

  it('answers 504 for a function that hangs past its timeoutMs', async () => {
    const started = Date.now()
    const res = await fetch(`${base}/fn/hang`)
    expect(res.status).toBe(504)
    expect(((await res.json()) as ErrorBody).error.code).toBe('ERR_TIMEOUT')
    expect(Date.now() - started).toBeLessThan(3000)
  })

  it('answers 503 with Retry-After when the pool is full (pool.max 1, pool.maxQueue 0)', async () => {
    const first = fetch(`${base}/fn/slow`)
    // The first request holds the only instance before the second one arrives.
    const busy = await waitFor(() => runtime.stats().functions.slow?.inUse === 1, 3000)
    const second = await fetch(`${base}/fn/slow`)
    const firstRes = await first
    // The first request finds the instance idle: it must be served, not refused.
    const firstBody = await firstRes.text()
    expect({ status: firstRes.status, body: firstBody }).toEqual({ status: 200, body: 'slow done' })
    expect(busy).toBe(true)
    expect(second.status).toBe(503)
    expect(second.headers.get('retry-after')).toMatch(/^\d+$/)
    expect(((await second.json()) as ErrorBody).error.code).toBe('ERR_QUEUE_FULL')
  })

  it('answers 500 for a guest exception without the guest message or host paths', async () => {
    const res = await fetch(`${base}/fn/thrower`)
    expect(res.status).toBe(500)
    const body = await res.text()
    expect(body).not.toContain('guest-secret-detail')
    expect(body).not.toContain('8c1f')
    expect(body).not.toMatch(HOST_INTERNALS)
    expect((JSON.parse(body) as ErrorBody).error.code).toBe('ERR_GUEST_EXCEPTION')
  })

  it('streams a guest ReadableStream to the client in pieces, not buffered', async () => {
    const res = await fetch(`${base}/fn/chunks`)
    expect(res.status).toBe(200)
    const reader = res.body!.getReader()
    const decoder = new TextDecoder()
    const arrivals: { at: number; text: string }[] = []
    for (;;) {
      const { done, value } = await reader.read()
      if (done) break
      arrivals.push({ at: Date.now(), text: decoder.decode(value, { stream: true }) })
    }
    expect(arrivals.map((a) => a.text).join('')).toBe('one;two;three;')
    expect(arrivals.length).toBeGreaterThanOrEqual(2)
    // The guest waits 2 x 150 ms between its first and last chunk; a buffered body arrives at once.
    expect(arrivals.at(-1)!.at - arrivals[0]!.at).toBeGreaterThanOrEqual(250)
  })

  it('stops the guest when the client aborts mid-stream', async () => {
    const logs: LogEvent[] = []
    const onLog = (e: LogEvent): void => void logs.push(e)
    runtime.on('log', onLog)
    try {
      const controller = new AbortController()
      const res = await fetch(`${base}/fn/endless`, { signal: controller.signal })
      expect(res.status).toBe(200)
      const requestId = res.headers.get('x-request-id')!
      expect(requestId).toMatch(/^[0-9a-f-]{36}$/)
      const ticks = (): number => logs.filter((e) => e.requestId === requestId && e.message.startsWith('tick')).length
      const reader = res.body!.getReader()
      let received = ''
      while (!received.includes('chunk 3')) {
        const { done, value } = await reader.read()
        if (done) throw new Error('the endless stream ended')
        received += new TextDecoder().decode(value)
      }
      expect(runtime.stats().functions.endless?.inUse).toBe(1)
      controller.abort()
      await reader.closed.catch(() => undefined)

      // The invocation ends and its instance is given back long before its 20 s timeout ...
      expect(await waitFor(() => runtime.stats().functions.endless?.inUse === 0, 3000)).toBe(true)
      // ... and the guest's stream stops being pulled.
      await sleep(100)
      const afterAbort = ticks()
      await sleep(400)
      expect(ticks()).toBe(afterAbort)
      // The function still serves the next client.
      const again = new AbortController()
      const next = await fetch(`${base}/fn/endless`, { signal: again.signal })
      expect(next.status).toBe(200)
      again.abort()
      await next.body?.cancel().catch(() => undefined)
      expect(await waitFor(() => runtime.stats().functions.endless?.inUse === 0, 3000)).toBe(true)
    } finally {
      runtime.off('log', onLog)
    }
  })

  it('passes the status, status text, custom headers and every Set-Cookie the guest set', async () => {
    const res = await fetch(`${base}/fn/headers`)
    expect(res.status).toBe(201)
    expect(res.statusText).toBe('Made')
    expect(res.headers.get('x-custom')).toBe('from-guest')
    expect(res.headers.get('content-type')).toBe('application/json')
    expect(res.headers.getSetCookie()).toEqual(['a=1; Path=/', 'b=2; HttpOnly'])
    expect(await res.json()).toEqual({ created: true })
  })

  it('leaves paths outside the mount to the app', async () => {
    const res = await fetch(`${base}/elsewhere`)
    expect(res.status).toBe(418)
    expect(await res.text()).toBe('not fnbox')
  })
})
