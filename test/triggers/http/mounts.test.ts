import { createServer, type RequestListener, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import express from 'express'
import Koa from 'koa'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { FnboxError, isFnboxError } from '../../../src/errors.js'
import {
  createExpressMiddleware,
  createKoaMiddleware,
  type FetchHandler,
  type FetchHandlerContext,
  type HttpMountOptions,
} from '../../../src/triggers/http/index.js'

// ---------------------------------------------------------------------------------------------
// Harness: real servers on 127.0.0.1:0, requests with the global fetch (undici).

const servers = new Set<Server>()

async function listen(listener: RequestListener): Promise<string> {
  const server = createServer(listener)
  servers.add(server)
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  return `http://127.0.0.1:${port}`
}

afterEach(async () => {
  for (const server of servers) {
    server.closeAllConnections()
    await new Promise<void>((resolve) => server.close(() => resolve()))
  }
  servers.clear()
})

interface Mount {
  name: string
  /** Starts a server with the handler mounted at `/fn`; returns its origin. */
  start(handler: FetchHandler, options?: HttpMountOptions): Promise<string>
}

/** Status a route registered after the mount answers with, to prove `next()` was (not) called. */
const NEXT_STATUS = 418

const mounts: Mount[] = [
  {
    name: 'Express',
    start(handler, options) {
      const app = express()
      app.use('/fn', createExpressMiddleware(handler, options))
      app.use((req, res) => void res.status(NEXT_STATUS).send(`next:${req.path}`))
      return listen(app)
    },
  },
  {
    name: 'Koa',
    start(handler, options) {
      const app = new Koa()
      app.silent = true
      app.use(createKoaMiddleware(handler, { ...options, prefix: '/fn' }))
      app.use((ctx) => {
        ctx.status = NEXT_STATUS
        ctx.body = `next:${ctx.path}`
      })
      return listen(app.callback())
    },
  },
]

interface Seen {
  method: string
  url: string
  path: string
  clientAddress: string | undefined
  headers: Headers
  body: string
  signal: AbortSignal
}

/** A fake runtime that records what it saw and answers with `respond`. */
function recorder(respond: (request: Request, context: FetchHandlerContext) => Response = () => new Response('ok')) {
  const seen: Seen[] = []
  const handler: FetchHandler = async (request, context) => {
    seen.push({
      method: request.method,
      url: request.url,
      path: context.path,
      clientAddress: context.clientAddress,
      headers: request.headers,
      body: await request.text(),
      signal: context.signal,
    })
    return respond(request, context)
  }
  return { seen, handler }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))
const encoder = new TextEncoder()

/** A request init with a streamed (chunked) body; Node 20's RequestInit type lacks `duplex`. */
function streamedUpload(method: string, body: ReadableStream<Uint8Array>): RequestInit {
  return { method, body, duplex: 'half' } as RequestInit
}

function deferred<T = void>() {
  let resolve!: (value: T) => void
  const promise = new Promise<T>((r) => (resolve = r))
  return { promise, resolve }
}

// ---------------------------------------------------------------------------------------------

describe.each(mounts)('the $name mount', (mount) => {
  it('passes a GET with its method, full URL, relative path and headers to the handler', async () => {
    const { seen, handler } = recorder()
    const origin = await mount.start(handler)

    const res = await fetch(`${origin}/fn/hello/x?y=1`, { headers: { 'x-trace': 'abc' } })

    expect(res.status).toBe(200)
    expect(await res.text()).toBe('ok')
    expect(seen).toHaveLength(1)
    const [call] = seen
    expect(call?.method).toBe('GET')
    expect(call?.url).toBe(`${origin}/fn/hello/x?y=1`)
    expect(call?.path).toBe('/hello/x')
    expect(call?.headers.get('x-trace')).toBe('abc')
    expect(call?.headers.get('host')).toBe(new URL(origin).host)
    expect(call?.clientAddress).toBe('127.0.0.1')
    expect(call?.body).toBe('')
  })

  it('gives the mount root the path /', async () => {
    const { seen, handler } = recorder()
    const origin = await mount.start(handler)

    await (await fetch(`${origin}/fn?q=1`)).text()

    expect(seen[0]?.path).toBe('/')
    expect(seen[0]?.url).toBe(`${origin}/fn?q=1`)
  })

  it('passes a POST with its JSON body to the handler', async () => {
    const { seen, handler } = recorder()
    const origin = await mount.start(handler)

    const res = await fetch(`${origin}/fn/echo`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'Ada', n: 1 }),
    })

    expect(res.status).toBe(200)
    await res.text()
    expect(seen[0]?.method).toBe('POST')
    expect(seen[0]?.path).toBe('/echo')
    expect(seen[0]?.headers.get('content-type')).toBe('application/json')
    expect(JSON.parse(seen[0]?.body ?? '')).toEqual({ name: 'Ada', n: 1 })
  })

  it('sends back status, status text, headers, every Set-Cookie and the body', async () => {
    const { handler } = recorder(() => {
      const headers = new Headers({ 'content-type': 'text/plain; charset=utf-8', 'x-fn': 'yes' })
      headers.append('set-cookie', 'a=1; Path=/')
      headers.append('set-cookie', 'b=2; Path=/; HttpOnly')
      return new Response('created!', { status: 201, statusText: 'Made It', headers })
    })
    const origin = await mount.start(handler)

    const res = await fetch(`${origin}/fn/make`)

    expect(res.status).toBe(201)
    expect(res.statusText).toBe('Made It')
    expect(res.headers.get('content-type')).toBe('text/plain; charset=utf-8')
    expect(res.headers.get('x-fn')).toBe('yes')
    expect(res.headers.getSetCookie()).toEqual(['a=1; Path=/', 'b=2; Path=/; HttpOnly'])
    expect(await res.text()).toBe('created!')
  })

  it('answers a HEAD request without a body', async () => {
    const { seen, handler } = recorder(() => new Response(null, { headers: { 'x-fn': 'head' } }))
    const origin = await mount.start(handler)

    const res = await fetch(`${origin}/fn/thing`, { method: 'HEAD' })

    expect(res.status).toBe(200)
    expect(res.headers.get('x-fn')).toBe('head')
    expect(await res.text()).toBe('')
    expect(seen[0]?.method).toBe('HEAD')
  })

  it('keeps a 404 from the runtime instead of falling through to next()', async () => {
    const { handler } = recorder(() => Response.json({ error: { code: 'ERR_NOT_FOUND' } }, { status: 404 }))
    const origin = await mount.start(handler)

    const res = await fetch(`${origin}/fn/nope`)

    expect(res.status).toBe(404)
    expect(await res.json()).toEqual({ error: { code: 'ERR_NOT_FOUND' } })
  })

  it('refuses an oversized Content-Length with 413 without calling the handler', async () => {
    const { seen, handler } = recorder()
    const onError = vi.fn()
    const origin = await mount.start(handler, { maxRequestBytes: 1024, onError })

    const res = await fetch(`${origin}/fn/upload`, { method: 'POST', body: 'x'.repeat(4096) })

    expect(res.status).toBe(413)
    const body = (await res.json()) as { error: { code: string; message: string } }
    expect(body.error.code).toBe('ERR_REQUEST_TOO_LARGE')
    expect(body.error.message).toContain('1024')
    expect(seen).toHaveLength(0)
    const error: unknown = onError.mock.calls[0]?.[0]
    expect(isFnboxError(error, 'ERR_REQUEST_TOO_LARGE') && error.details).toEqual({ limit: 1024, value: 4096 })
    expect(onError.mock.calls[0]?.[1]).toBeUndefined()

    // The connection (and the mount) still work afterwards.
    const next = await fetch(`${origin}/fn/small`, { method: 'POST', body: 'tiny' })
    expect(next.status).toBe(200)
    expect(seen[0]?.body).toBe('tiny')
  })

  it('refuses an oversized chunked body with 413 without calling the handler', async () => {
    const { seen, handler } = recorder()
    const origin = await mount.start(handler, { maxRequestBytes: 1024 })
    let sent = 0
    const upload = new ReadableStream<Uint8Array>({
      async pull(controller) {
        if (sent >= 4) return controller.close()
        await sleep(10)
        controller.enqueue(encoder.encode('y'.repeat(512)))
        sent++
      },
    })

    const res = await fetch(`${origin}/fn/upload`, streamedUpload('POST', upload))

    expect(res.status).toBe(413)
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe('ERR_REQUEST_TOO_LARGE')
    expect(seen).toHaveLength(0)
  })

  it('accepts a chunked body under the limit', async () => {
    const { seen, handler } = recorder()
    const origin = await mount.start(handler, { maxRequestBytes: 1024 })
    const upload = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(encoder.encode('part1,'))
        controller.enqueue(encoder.encode('part2'))
        controller.close()
      },
    })

    const res = await fetch(`${origin}/fn/upload`, streamedUpload('PUT', upload))

    expect(res.status).toBe(200)
    expect(seen[0]?.body).toBe('part1,part2')
    expect(seen[0]?.headers.get('content-length')).toBe('11')
    expect(seen[0]?.headers.has('transfer-encoding')).toBe(false)
  })

  it('maps a FnboxError to its status and Retry-After', async () => {
    const handler: FetchHandler = async () => {
      throw new FnboxError('ERR_QUEUE_FULL', 'Queue of "hello" is full (64/64)', { retryAfterSeconds: 2 })
    }
    const origin = await mount.start(handler)

    const res = await fetch(`${origin}/fn/hello`)

    expect(res.status).toBe(503)
    expect(res.headers.get('retry-after')).toBe('2')
    expect(await res.json()).toEqual({
      error: { code: 'ERR_QUEUE_FULL', message: 'Queue of "hello" is full (64/64)' },
    })
  })

  it('maps any other error to an opaque 500 and reports it to onError', async () => {
    const secret = new Error('db password is hunter2')
    const handler: FetchHandler = async () => {
      throw secret
    }
    const onError = vi.fn()
    const origin = await mount.start(handler, { onError })

    const res = await fetch(`${origin}/fn/hello`)
    const text = await res.text()

    expect(res.status).toBe(500)
    expect(JSON.parse(text)).toEqual({ error: { code: 'ERR_INTERNAL', message: 'Internal error' } })
    expect(text).not.toContain('hunter2')
    expect(text).not.toContain('at ')
    expect(onError).toHaveBeenCalledTimes(1)
    expect(onError.mock.calls[0]?.[0]).toBe(secret)
    expect(onError.mock.calls[0]?.[1]).toBeInstanceOf(Request)
  })

  it('lets onError replace the error answer', async () => {
    const handler: FetchHandler = async () => {
      throw new Error('nope')
    }
    const origin = await mount.start(handler, {
      onError: () => new Response('custom', { status: 502, headers: { 'x-custom': '1' } }),
    })

    const res = await fetch(`${origin}/fn/hello`)

    expect(res.status).toBe(502)
    expect(res.headers.get('x-custom')).toBe('1')
    expect(await res.text()).toBe('custom')
  })

  it('streams a response to the client chunk by chunk', async () => {
    const enqueuedAt: number[] = []
    const handler: FetchHandler = async () => {
      const body = new ReadableStream<Uint8Array>({
        start(controller) {
          void (async () => {
            for (let i = 0; i < 3; i++) {
              if (i > 0) await sleep(150)
              controller.enqueue(encoder.encode(`chunk${i};`))
              enqueuedAt.push(performance.now())
            }
            controller.close()
          })()
        },
      })
      return new Response(body, { headers: { 'content-type': 'text/plain' } })
    }
    const origin = await mount.start(handler)

    const res = await fetch(`${origin}/fn/stream`)
    const reader = res.body!.getReader()
    const first = await reader.read()
    const firstAt = performance.now()
    const lastEnqueuedBeforeFirstRead = enqueuedAt.length === 3
    let text = new TextDecoder().decode(first.value)
    for (;;) {
      const { done, value } = await reader.read()
      if (done) break
      text += new TextDecoder().decode(value)
    }

    expect(text).toBe('chunk0;chunk1;chunk2;')
    expect(lastEnqueuedBeforeFirstRead).toBe(false)
    expect(firstAt).toBeLessThan(enqueuedAt[2]!)
    expect(res.headers.get('content-type')).toBe('text/plain')
  })

  it('sends the response head before a slow first chunk', async () => {
    let enqueuedAt = Infinity
    const handler: FetchHandler = async () =>
      new Response(
        new ReadableStream<Uint8Array>({
          async pull(controller) {
            await sleep(300)
            controller.enqueue(encoder.encode('late'))
            enqueuedAt = performance.now()
            controller.close()
          },
        }),
        { status: 202 },
      )
    const origin = await mount.start(handler)

    const res = await fetch(`${origin}/fn/slow`)
    const headAt = performance.now()

    expect(res.status).toBe(202)
    expect(headAt).toBeLessThan(enqueuedAt)
    expect(await res.text()).toBe('late')
    expect(res.headers.has('content-type')).toBe(false)
  })

  it('cancels the response stream and aborts the signal when the client disconnects', { timeout: 5_000 }, async () => {
    const cancelled = deferred<unknown>()
    const aborted = deferred()
    let signal: AbortSignal | undefined
    let requestSignal: AbortSignal | undefined
    let produced = 0
    const handler: FetchHandler = async (request, context) => {
      signal = context.signal
      requestSignal = request.signal
      context.signal.addEventListener('abort', () => aborted.resolve())
      return new Response(
        new ReadableStream<Uint8Array>({
          async pull(controller) {
            await sleep(20)
            controller.enqueue(encoder.encode(`tick${produced++};`))
          },
          cancel(reason) {
            cancelled.resolve(reason)
          },
        }),
      )
    }
    const onError = vi.fn()
    const origin = await mount.start(handler, { onError })
    const controller = new AbortController()

    const res = await fetch(`${origin}/fn/forever`, { signal: controller.signal })
    const reader = res.body!.getReader()
    const first = await reader.read()
    expect(new TextDecoder().decode(first.value)).toMatch(/^tick0;/)
    controller.abort()

    await cancelled.promise
    await aborted.promise
    expect(signal?.aborted).toBe(true)
    expect(requestSignal?.aborted).toBe(true)
    const producedAtCancel = produced
    await sleep(100)
    expect(produced).toBeLessThanOrEqual(producedAtCancel + 1)
    // A client leaving is not a server error.
    expect(onError).not.toHaveBeenCalled()
  })

  it('breaks the connection off when the response stream errors mid-way', async () => {
    const boom = new Error('stream exploded')
    const onError = vi.fn()
    const handler: FetchHandler = async () =>
      new Response(
        new ReadableStream<Uint8Array>({
          start(controller) {
            controller.enqueue(encoder.encode('partial'))
            setTimeout(() => controller.error(boom), 50)
          },
        }),
      )
    const origin = await mount.start(handler, { onError })

    const res = await fetch(`${origin}/fn/broken`)

    expect(res.status).toBe(200)
    await expect(res.text()).rejects.toThrow()
    await vi.waitFor(() => expect(onError).toHaveBeenCalledWith(boom, expect.any(Request)))
  })

  it('uses X-Forwarded-* only with trustProxy', async () => {
    const headers = { 'x-forwarded-proto': 'https', 'x-forwarded-for': '203.0.113.7, 10.0.0.1' }
    const plain = recorder()
    const trusting = recorder()
    const plainOrigin = await mount.start(plain.handler)
    const trustingOrigin = await mount.start(trusting.handler, { trustProxy: true })

    await (await fetch(`${plainOrigin}/fn/a`, { headers })).text()
    await (await fetch(`${trustingOrigin}/fn/a`, { headers })).text()

    expect(plain.seen[0]?.url).toBe(`${plainOrigin}/fn/a`)
    expect(plain.seen[0]?.clientAddress).toBe('127.0.0.1')
    expect(trusting.seen[0]?.url).toBe(`https://${new URL(trustingOrigin).host}/fn/a`)
    expect(trusting.seen[0]?.clientAddress).toBe('203.0.113.7')
  })

  it('rejects invalid options with a message naming the option', () => {
    const { handler } = recorder()
    const create = mount.name === 'Express' ? createExpressMiddleware : createKoaMiddleware
    expect(() => create(handler, { maxRequestBytes: -1 })).toThrow(/options\.maxRequestBytes/)
    expect(() => create(handler, { trustProxy: 'yes' as unknown as boolean })).toThrow(/options\.trustProxy/)
    expect(() => create(handler, { onError: 42 as never })).toThrow(/options\.onError/)
    expect(() => create(42 as unknown as FetchHandler)).toThrow(/handler/)
    try {
      create(handler, { maxRequestBytes: 1.5 })
    } catch (error) {
      expect(isFnboxError(error, 'ERR_INVALID_OPTION')).toBe(true)
    }
  })
})

describe('the Express mount with body parsers', () => {
  it('still delivers a body that express.json() already consumed', async () => {
    const { seen, handler } = recorder()
    const app = express()
    app.use(express.json())
    app.use('/fn', createExpressMiddleware(handler))
    const origin = await listen(app)

    const res = await fetch(`${origin}/fn/echo`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'Ada' }),
    })

    expect(res.status).toBe(200)
    expect(JSON.parse(seen[0]?.body ?? '')).toEqual({ name: 'Ada' })
    expect(seen[0]?.headers.get('content-length')).toBe(String(seen[0]?.body.length))
  })

  it('re-encodes a form that express.urlencoded() consumed', async () => {
    const { seen, handler } = recorder()
    const app = express()
    app.use(express.urlencoded())
    app.use('/fn', createExpressMiddleware(handler))
    const origin = await listen(app)

    await fetch(`${origin}/fn/form`, { method: 'POST', body: new URLSearchParams({ a: '1', b: 'two words' }) })

    expect(seen[0]?.headers.get('content-type')).toMatch(/^application\/x-www-form-urlencoded/)
    expect(Object.fromEntries(new URLSearchParams(seen[0]?.body))).toEqual({ a: '1', b: 'two words' })
  })

  it('applies maxRequestBytes to a parsed body too', async () => {
    const { seen, handler } = recorder()
    const app = express()
    app.use(express.text())
    app.use('/fn', createExpressMiddleware(handler, { maxRequestBytes: 10 }))
    const origin = await listen(app)

    const res = await fetch(`${origin}/fn/t`, {
      method: 'POST',
      headers: { 'content-type': 'text/plain' },
      body: 'more than ten bytes',
    })

    expect(res.status).toBe(413)
    expect(seen).toHaveLength(0)
  })

  it('is a named function', () => {
    expect(createExpressMiddleware(recorder().handler).name).toBe('fnboxExpress')
    expect(createKoaMiddleware(recorder().handler).name).toBe('fnboxKoa')
  })
})

describe('the Koa mount prefix', () => {
  async function start() {
    const { seen, handler } = recorder()
    const app = new Koa()
    app.use(createKoaMiddleware(handler, { prefix: '/fn/' }))
    app.use((ctx) => {
      ctx.status = NEXT_STATUS
      ctx.body = `next:${ctx.path}`
    })
    return { seen, origin: await listen(app.callback()) }
  }

  it('passes paths outside the prefix to next()', async () => {
    const { seen, origin } = await start()

    const other = await fetch(`${origin}/other`)
    const sibling = await fetch(`${origin}/fnx/hello`)

    expect(other.status).toBe(NEXT_STATUS)
    expect(await other.text()).toBe('next:/other')
    expect(sibling.status).toBe(NEXT_STATUS)
    expect(await sibling.text()).toBe('next:/fnx/hello')
    expect(seen).toHaveLength(0)
  })

  it('serves paths on the prefix segment boundary', async () => {
    const { seen, origin } = await start()

    expect((await fetch(`${origin}/fn/hello`)).status).toBe(200)
    expect((await fetch(`${origin}/fn`)).status).toBe(200)

    expect(seen.map((call) => call.path)).toEqual(['/hello', '/'])
  })

  it('rejects a prefix that is not a path', () => {
    expect(() => createKoaMiddleware(recorder().handler, { prefix: 'fn' })).toThrow(/options\.prefix/)
  })

  it('lets upstream middleware change headers after next() on a streamed response', async () => {
    const app = new Koa()
    app.use(async (ctx, next) => {
      await next()
      ctx.set('x-response-time', '5ms')
    })
    const body = () =>
      new ReadableStream<Uint8Array>({
        start(controller) {
          controller.enqueue(encoder.encode('streamed'))
          controller.close()
        },
      })
    app.use(createKoaMiddleware(recorder(() => new Response(body())).handler, { prefix: '/fn' }))
    const origin = await listen(app.callback())

    const res = await fetch(`${origin}/fn/x`)

    expect(res.headers.get('x-response-time')).toBe('5ms')
    expect(await res.text()).toBe('streamed')
  })

  it('keeps Set-Cookie headers set by middleware before it', async () => {
    const app = new Koa()
    app.use(async (ctx, next) => {
      ctx.cookies.set('session', 'abc')
      await next()
    })
    app.use(
      createKoaMiddleware(recorder(() => new Response('ok', { headers: { 'set-cookie': 'fn=1' } })).handler, {
        prefix: '/fn',
      }),
    )
    const origin = await listen(app.callback())

    const res = await fetch(`${origin}/fn/x`)

    expect(res.headers.getSetCookie()).toEqual([expect.stringMatching(/^session=abc/), 'fn=1'])
  })
})
