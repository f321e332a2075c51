/**
 * Clients that go away at every point of an exchange, many times over, through Express, Koa and
 * `runtime.fetch`: no uncaught exception or unhandled rejection may reach the process, every
 * instance is given back, and the host keeps serving. Chunks travel between threads, so some
 * are always in flight when a client leaves: the races this file hunts for.
 */
import { createServer, type RequestListener, type Server } from 'node:http'
import { connect, type AddressInfo } from 'node:net'
import express from 'express'
import Koa from 'koa'
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { createRuntime, type InvokeEvent, type Runtime } from 'fnbox'
import { sleep, waitFor } from '../../helpers/wait.js'

/** What reached the process's last-resort handlers during a test. */
const escaped: unknown[] = []
const onEscape = (error: unknown): void => void escaped.push(error)

let runtime: Runtime
const servers: Server[] = []
let express_: number
let koa_: number
let upstream: Server
let upstreamPort: number
/** Upstream responses whose socket closed: a guest's cancel reached the upstream. */
const upstreamClosed: string[] = []

const STREAM = `
  const enc = new TextEncoder()
  const tick = (ms) => new Promise((r) => setTimeout(r, ms))
  export default {
    async fetch(request, ctx) {
      const url = new URL(request.url)
      const mode = url.searchParams.get('mode')
      if (mode === 'slowHead') {
        await tick(40)
        return new Response('late head')
      }
      if (mode === 'waitUntil') {
        // The body ends at once; the invocation goes on for 60 ms.
        ctx.waitUntil(tick(60))
        return new Response(new ReadableStream({
          start(c) { c.enqueue(enc.encode('a;')); c.enqueue(enc.encode('b;')); c.close() },
        }))
      }
      if (mode === 'proxy') {
        // An upstream body passed through to the client as it arrives.
        const res = await fetch(url.searchParams.get('to'))
        return new Response(res.body)
      }
      let n = 0
      return new Response(new ReadableStream({
        async pull(c) {
          await tick(1)
          c.enqueue(enc.encode('chunk ' + n++ + ';'))
          if (n === 400) c.close()
        },
      }))
    },
  }
`

/** A guest's own fetches: it leaves a response body, loses its upstream, abandons a request body. */
const FETCHER = `
  const outcome = async (work) => {
    try {
      return { ok: true, value: await work() }
    } catch (e) {
      return { ok: false, name: e.name, message: String(e.message) }
    }
  }
  export const cancelMidBody = (url, reads) => outcome(async () => {
    const reader = (await fetch(url)).body.getReader()
    for (let i = 0; i < reads; i++) await reader.read()
    await reader.cancel('enough')
    return reads
  })
  export const readAll = (url) => outcome(async () => (await (await fetch(url)).text()).length)
  export const abortRequestBody = (url, afterMs) => outcome(async () => {
    const controller = new AbortController()
    const body = new ReadableStream({
      async pull(c) {
        await new Promise((r) => setTimeout(r, 2))
        c.enqueue(new TextEncoder().encode('part;'))
      },
    })
    setTimeout(() => controller.abort(), afterMs)
    return (await fetch(url, { method: 'POST', body, signal: controller.signal, duplex: 'half' })).status
  })
  export const failingRequestBody = (url) => outcome(async () => {
    let n = 0
    const body = new ReadableStream({
      pull(c) {
        if (n++ === 3) throw new Error('the body broke')
        c.enqueue(new TextEncoder().encode('part;'))
      },
    })
    return (await fetch(url, { method: 'POST', body, duplex: 'half' })).status
  })
`

/**
 * The body is complete, then the invocation fails: its waitUntil work never settles and the
 * time limit ends it. The client keeps its complete body.
 */
const LATE_FAILURE = `
  export default {
    fetch(request, ctx) {
      ctx.waitUntil(new Promise(() => {}))
      return new Response(new ReadableStream({ start(c) { c.enqueue(new TextEncoder().encode('done')); c.close() } }))
    },
  }
`

async function listen(listener: RequestListener): Promise<number> {
  const server = createServer(listener)
  servers.push(server)
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return (server.address() as AddressInfo).port
}

beforeAll(async () => {
  process.on('uncaughtException', onEscape)
  process.on('unhandledRejection', onEscape)
  upstream = createServer((req, res) => {
    req.resume()
    if (req.url === '/cut') {
      // Half a body, then the connection drops.
      res.writeHead(200, { 'content-length': '1000' })
      res.write('x'.repeat(300))
      setTimeout(() => res.destroy(), 5)
      return
    }
    // An endless body, a chunk every 2 ms, until the client (the host's guarded fetch) leaves.
    res.writeHead(200, { 'content-type': 'text/plain' })
    const timer = setInterval(() => res.write('up;'), 2)
    res.once('close', () => {
      clearInterval(timer)
      upstreamClosed.push(req.url ?? '')
    })
  })
  await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve))
  upstreamPort = (upstream.address() as AddressInfo).port

  runtime = await createRuntime({ threads: 2, storage: 'memory', limits: { memoryMb: 32, timeoutMs: 10_000 } })
  await runtime.deploy('stream', { code: STREAM, allowedHosts: [`127.0.0.1:${upstreamPort}`] })
  await runtime.deploy('fetcher', { code: FETCHER, allowedHosts: [`127.0.0.1:${upstreamPort}`] })
  // Room for the head on a loaded machine; the waitUntil work then runs into the limit.
  await runtime.deploy('late', { code: LATE_FAILURE, limits: { timeoutMs: 2000 } })
  const app = express()
  app.use('/fn', runtime.express())
  express_ = await listen(app)
  const koa = new Koa()
  koa.silent = true
  koa.use(runtime.koa({ prefix: '/fn' }))
  koa_ = await listen(koa.callback())
})

afterAll(async () => {
  for (const server of [...servers, upstream]) {
    server?.closeAllConnections()
    await new Promise<void>((resolve) => server?.close(() => resolve()) ?? resolve())
  }
  await runtime?.close({ timeoutMs: 2000 })
  process.off('uncaughtException', onEscape)
  process.off('unhandledRejection', onEscape)
})

beforeEach(() => {
  escaped.length = 0
  upstreamClosed.length = 0
})

afterEach(async () => {
  // Every instance comes back, and the host still answers in full.
  expect(await waitFor(() => (runtime.stats().functions.stream?.inUse ?? 0) === 0, 5000)).toBe(true)
  const res = await runtime.fetch(new Request('http://localhost/stream?mode=slowHead'))
  expect(await res.text()).toBe('late head')
  expect(escaped).toEqual([])
})

/** When a raw client destroys its socket. */
type Leave =
  | { after: 'ms'; ms: number }
  /** After `count` data events: 1 is the head (and maybe a first chunk). */
  | { after: 'data'; count: number }

/** Sends `GET path` over a raw socket and destroys it at `leave`; resolves once it is closed. */
function rawLeave(port: number, path: string, leave: Leave): Promise<void> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1', () => {
      socket.write(`GET ${path} HTTP/1.1\r\nhost: localhost\r\n\r\n`)
      if (leave.after === 'ms') setTimeout(() => socket.destroy(), leave.ms)
    })
    let seen = 0
    socket.on('data', () => {
      if (leave.after === 'data' && ++seen === leave.count) socket.destroy()
    })
    socket.on('error', () => undefined)
    socket.on('close', () => resolve())
  })
}

/** Runs `times` attempts, `concurrency` at a time. */
async function repeat(times: number, concurrency: number, attempt: (i: number) => Promise<void>): Promise<void> {
  let next = 0
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < times) await attempt(next++)
    }),
  )
}

const REPEAT = 30

const leaves: Array<{ point: string; path: string; leave: Leave }> = [
  { point: 'before the response head', path: '/fn/stream?mode=slowHead', leave: { after: 'ms', ms: 5 } },
  { point: 'right after the head', path: '/fn/stream', leave: { after: 'data', count: 1 } },
  { point: 'mid-body, after the third chunk', path: '/fn/stream', leave: { after: 'data', count: 3 } },
  { point: 'mid-body, later', path: '/fn/stream', leave: { after: 'data', count: 12 } },
  { point: 'during waitUntil work', path: '/fn/stream?mode=waitUntil', leave: { after: 'data', count: 1 } },
  {
    point: 'while the body is an upstream fetch',
    path: '/fn/stream?mode=proxy&to=',
    leave: { after: 'data', count: 3 },
  },
]

describe.each([
  { mount: 'Express', port: () => express_ },
  { mount: 'Koa', port: () => koa_ },
])('a client leaving through the $mount mount', ({ port }) => {
  it.each(leaves)('$point: nothing escapes, the host keeps serving', async ({ path, leave }) => {
    const target = path.endsWith('to=') ? `${path}${encodeURIComponent(`http://127.0.0.1:${upstreamPort}/up`)}` : path
    await repeat(REPEAT, 6, () => rawLeave(port(), target, leave))
    if (path.includes('proxy')) {
      // The guest's upstream fetches are cancelled with the invocation.
      expect(await waitFor(() => upstreamClosed.length === REPEAT, 5000)).toBe(true)
    }
  })
})

describe('a caller leaving runtime.fetch', () => {
  const url = 'http://localhost/stream'

  it('with a signal aborted before the call: answered, nothing escapes', async () => {
    await repeat(REPEAT, 6, async () => {
      const res = await runtime.fetch(new Request(url), { signal: AbortSignal.abort() })
      await res.body?.cancel()
    })
  })

  it('with a signal aborted before the head, after it, and mid-body', async () => {
    await repeat(REPEAT, 6, async (i) => {
      const controller = new AbortController()
      const pending = runtime.fetch(new Request(i % 3 === 0 ? `${url}?mode=slowHead` : url), {
        signal: controller.signal,
      })
      if (i % 3 === 0) {
        await sleep(5)
        controller.abort()
        const res = await pending
        await res.body?.cancel()
        return
      }
      const res = await pending
      const reader = res.body!.getReader()
      if (i % 3 === 2) for (let k = 0; k < 3; k++) await reader.read()
      controller.abort()
      await reader.cancel().catch(() => undefined)
    })
  })

  it('cancelling the body at once, after a chunk, and after many', async () => {
    await repeat(REPEAT, 6, async (i) => {
      const res = await runtime.fetch(new Request(url))
      const reader = res.body!.getReader()
      for (let k = 0; k < (i % 3) * 5; k++) await reader.read()
      await reader.cancel(new Error('caller gone'))
    })
  })

  it('a body complete before waitUntil work fails stays complete', async () => {
    const ends: InvokeEvent[] = []
    const onInvoke = (e: InvokeEvent): void => void (e.function === 'late' && ends.push(e))
    runtime.on('invoke', onInvoke)
    try {
      await repeat(6, 6, async () => {
        const res = await runtime.fetch(new Request('http://localhost/late'))
        expect(await res.text()).toBe('done')
      })
      // Each invocation failed, after its body had ended: nothing more for the caller to see.
      expect(await waitFor(() => ends.length === 6, 10_000)).toBe(true)
      for (const e of ends) expect(e).toMatchObject({ status: 200, error: 'ERR_TIMEOUT' })
    } finally {
      runtime.off('invoke', onInvoke)
    }
  })
})

describe("a guest's own fetch bodies", () => {
  interface Outcome {
    ok: boolean
    value?: unknown
    name?: string
    message?: string
  }
  const up = (path: string): string => `http://127.0.0.1:${upstreamPort}${path}`

  it('the guest cancels a response body while the upstream still sends: the upstream is let go', async () => {
    await repeat(REPEAT, 6, async (i) => {
      const r = await runtime.call<Outcome>('fetcher', 'cancelMidBody', up(`/up?${i}`), i % 4)
      expect(r).toEqual({ ok: true, value: i % 4 })
    })
    expect(await waitFor(() => upstreamClosed.length === REPEAT, 5000)).toBe(true)
  })

  it('the upstream drops the connection mid-body: the guest gets a TypeError', async () => {
    await repeat(10, 5, async () => {
      const r = await runtime.call<Outcome>('fetcher', 'readAll', up('/cut'))
      expect(r).toMatchObject({ ok: false, name: 'TypeError' })
    })
  })

  it('the guest aborts a fetch while its request body stream is being read: an AbortError', async () => {
    await repeat(10, 5, async (i) => {
      const r = await runtime.call<Outcome>('fetcher', 'abortRequestBody', up('/up'), 5 + i)
      expect(r).toMatchObject({ ok: false, name: 'AbortError' })
    })
  })

  it('a request body stream that errors fails the fetch in the guest, before anything is sent', async () => {
    await repeat(10, 5, async () => {
      const r = await runtime.call<Outcome>('fetcher', 'failingRequestBody', up('/up'))
      expect(r).toMatchObject({ ok: false, message: 'the body broke' })
    })
    expect(upstreamClosed).toEqual([])
  })
})
