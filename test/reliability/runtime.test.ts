/**
 * The reliability policies wired into a real runtime: breakers, quotas, shedding and call
 * retries on real sandboxes; credential failover and deadlines against real local upstreams.
 */
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import express from 'express'
import Koa from 'koa'
import { afterEach, describe, expect, it, vi } from 'vitest'
import {
  createRuntime,
  isFnboxError,
  type BreakerEvent,
  type CredentialEvent,
  type InvokeEvent,
  type LogEvent,
  type Runtime,
} from 'fnbox'
import { waitFor } from '../helpers/wait.js'

const runtimes: Runtime[] = []
const servers: Server[] = []
afterEach(async () => {
  vi.useRealTimers()
  await Promise.all(runtimes.splice(0).map((r) => r.close()))
  for (const s of servers.splice(0)) {
    s.closeAllConnections()
    await new Promise((resolve) => s.close(resolve))
  }
})

async function runtime(options: Parameters<typeof createRuntime>[0] = {}): Promise<Runtime> {
  const r = await createRuntime({ threads: 1, storage: 'memory', shedding: false, ...options })
  runtimes.push(r)
  return r
}

async function listen(handler: Parameters<typeof createServer>[1]): Promise<string> {
  const server = createServer(handler)
  servers.push(server)
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`
}

const codeOf = (p: Promise<unknown>): Promise<string> =>
  p.then(
    () => 'ok',
    (e: unknown) => (isFnboxError(e) ? e.code : String(e)),
  )

describe('the function breaker', () => {
  const FLAKY = `
    import { kv } from 'fnbox:host'
    let runs = 0
    export async function work() {
      runs++
      if (await kv.get('broken')) throw new Error('boom')
      return runs
    }
    export default { fetch: async () => { runs++; return new Response(await kv.get('broken') ? 'no' : 'yes', { status: await kv.get('broken') ? 500 : 200 }) } }
  `

  it('opens on failures, answers 503 + Retry-After without a sandbox while open, probes once, closes', async () => {
    const r = await runtime({ breaker: { volumeThreshold: 5, resetTimeoutMs: 300 } })
    const events: string[] = []
    const invokes: InvokeEvent[] = []
    for (const e of ['breaker:open', 'breaker:halfOpen', 'breaker:close'] as const) {
      r.on(e, (ev: BreakerEvent) => events.push(`${e}:${ev.target}:${ev.name}`))
    }
    r.on('invoke', (e) => invokes.push(e))
    await r.kv.set('broken', true)
    await r.deploy('flaky', { code: FLAKY })
    for (let i = 0; i < 5; i++) expect(await codeOf(r.call('flaky', 'work'))).toBe('ERR_GUEST_EXCEPTION')
    expect(events).toEqual(['breaker:open:function:flaky'])
    expect(r.stats().functions.flaky!.breaker).toMatchObject({ state: 'open', failures: 5 })

    const refused = await Promise.all(Array.from({ length: 100 }, () => codeOf(r.call('flaky', 'work'))))
    expect(new Set(refused)).toEqual(new Set(['ERR_CIRCUIT_OPEN']))
    const res = await r.fetch(new Request('http://localhost/flaky'))
    expect(res.status).toBe(503)
    expect(Number(res.headers.get('retry-after'))).toBeGreaterThanOrEqual(1)
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe('ERR_CIRCUIT_OPEN')
    expect(invokes).toHaveLength(5)
    // No refused call acquired a sandbox.
    expect(r.stats().functions.flaky).toMatchObject({ acquired: 5, inUse: 0, queued: 0 })

    await r.kv.set('broken', false)
    expect(await waitFor(() => events.includes('breaker:halfOpen:function:flaky'), 5_000)).toBe(true)
    const probe = r.call('flaky', 'work')
    expect(await codeOf(r.call('flaky', 'work'))).toBe('ERR_CIRCUIT_OPEN') // only one probe
    expect(await probe).toBe(6) // the sixth run: none of the refused calls ran
    await waitFor(() => events.length === 3, 1_000)
    expect(events).toEqual([
      'breaker:open:function:flaky',
      'breaker:halfOpen:function:flaky',
      'breaker:close:function:flaky',
    ])
    expect(r.stats().functions.flaky!.breaker!.state).toBe('closed')
  })

  it('counts a 5xx answer as a failure, but not client errors such as 413', async () => {
    const r = await runtime({ breaker: { volumeThreshold: 3 }, limits: { maxRequestBytes: 10 } })
    await r.deploy('flaky', { code: FLAKY })
    for (let i = 0; i < 20; i++) {
      const res = await r.fetch(new Request('http://localhost/flaky', { method: 'POST', body: 'x'.repeat(100) }))
      expect(res.status).toBe(413)
    }
    expect(r.stats().functions.flaky!.breaker).toMatchObject({ state: 'closed', failures: 0, successes: 0 })
    await r.kv.set('broken', true)
    for (let i = 0; i < 3; i++) expect((await r.fetch(new Request('http://localhost/flaky'))).status).toBe(500)
    // A fetch invocation ends (and is counted) just after its response is handed over.
    expect(await waitFor(() => r.stats().functions.flaky!.breaker!.state === 'open', 2_000)).toBe(true)
  })

  it('is off with breaker: false, per function', async () => {
    const r = await runtime({ breaker: { volumeThreshold: 2 } })
    await r.kv.set('broken', true)
    await r.deploy('flaky', { code: FLAKY, breaker: false })
    for (let i = 0; i < 10; i++) expect(await codeOf(r.call('flaky', 'work'))).toBe('ERR_GUEST_EXCEPTION')
    expect(r.stats().functions.flaky!.breaker).toBeNull()
  })

  it('breaker.timeoutMs cancels the slow invocation, not the others in flight', async () => {
    const r = await runtime({ pool: { max: 4 } })
    await r.deploy('slow', {
      code: `export async function wait(ms) { await new Promise((r) => setTimeout(r, ms)); return ms }`,
      breaker: { timeoutMs: 300 },
    })
    const started = Date.now()
    const [slow, quick] = await Promise.allSettled([r.call('slow', 'wait', 20_000), r.call('slow', 'wait', 50)])
    expect(slow.status === 'rejected' && isFnboxError(slow.reason, 'ERR_TIMEOUT')).toBe(true)
    expect(Date.now() - started).toBeLessThan(5_000)
    expect(quick).toEqual({ status: 'fulfilled', value: 50 })
    expect(r.stats().functions.slow!.breaker).toMatchObject({ timeouts: 1, failures: 1, successes: 1 })
  })
})

describe('quotas', () => {
  const HELLO = `export const hi = () => 'hi'; export default { fetch: () => new Response('hi') }
    export async function wait(ms) { await new Promise((r) => setTimeout(r, ms)); return ms }`

  it('rate-limit per function before a sandbox is touched: 429 + Retry-After', async () => {
    vi.useFakeTimers({ toFake: ['Date'] }) // the bucket refills only when we say so
    const r = await runtime()
    const invokes: InvokeEvent[] = []
    r.on('invoke', (e) => invokes.push(e))
    await r.deploy('hello', { code: HELLO, quota: { requestsPerSecond: 1, burst: 2 } })
    expect(await codeOf(r.call('hello', 'hi'))).toBe('ok')
    expect((await r.fetch(new Request('http://localhost/hello'))).status).toBe(200)
    const res = await r.fetch(new Request('http://localhost/hello'))
    expect(res.status).toBe(429)
    expect(res.headers.get('retry-after')).toBe('1')
    expect(((await res.json()) as { error: { message: string } }).error.message).toMatch(
      /quota\.requestsPerSecond \(1\)/,
    )
    await waitFor(() => invokes.length >= 2, 2_000) // the fetch's invoke event follows its response
    expect(invokes).toHaveLength(2)
    vi.setSystemTime(Date.now() + 1_000)
    expect(await codeOf(r.call('hello', 'hi'))).toBe('ok')
    expect(r.stats().functions.hello!.quota).toMatchObject({ refused: 1, executionsToday: 3 })
  })

  it('limit concurrency and daily executions, and keep counting across redeploys', async () => {
    const r = await runtime()
    await r.deploy('hello', { code: HELLO, quota: { concurrency: 1, dailyExecutions: 3 } })
    const first = r.call('hello', 'wait', 200)
    expect(await codeOf(r.call('hello', 'hi'))).toBe('ERR_RATE_LIMITED')
    await first
    await r.deploy('hello', { code: HELLO + '\n// v2', quota: { concurrency: 1, dailyExecutions: 3 } })
    expect(await codeOf(r.call('hello', 'hi'))).toBe('ok')
    expect(await codeOf(r.call('hello', 'hi'))).toBe('ok')
    const err = await r.call('hello', 'hi').catch((e: unknown) => e)
    expect(isFnboxError(err, 'ERR_RATE_LIMITED') && err.details.quota).toBe('dailyExecutions')
    expect((err as { retryAfterSeconds: number }).retryAfterSeconds).toBeGreaterThan(0)
  })

  it('the Express mount rate-limits per client address before any other work', async () => {
    vi.useFakeTimers({ toFake: ['Date'] })
    const r = await runtime()
    const invokes: InvokeEvent[] = []
    r.on('invoke', (e) => invokes.push(e))
    await r.deploy('hello', { code: HELLO })
    const app = express()
    app.use('/fn', r.express({ rateLimit: { requestsPerSecond: 1, burst: 2 } }))
    const base = await new Promise<string>((resolve) => {
      const s = app.listen(0, '127.0.0.1', () => resolve(`http://127.0.0.1:${(s.address() as AddressInfo).port}`))
      servers.push(s)
    })
    const statuses: number[] = []
    for (let i = 0; i < 3; i++) statuses.push((await fetch(`${base}/fn/hello`)).status)
    const limited = await fetch(`${base}/fn/hello`, { method: 'POST', body: 'x'.repeat(10_000_000) })
    expect(statuses).toEqual([200, 200, 429])
    expect(limited.status).toBe(429) // refused before its 10 MB body was read (the limit is 1 MiB)
    expect(limited.headers.get('retry-after')).toBe('1')
    await waitFor(() => invokes.length >= 2, 2_000)
    expect(invokes).toHaveLength(2)
  })
  it('the Koa mount does the same', async () => {
    vi.useFakeTimers({ toFake: ['Date'] })
    const r = await runtime()
    await r.deploy('hello', { code: HELLO })
    const app = new Koa()
    app.use(r.koa({ prefix: '/fn', rateLimit: { requestsPerSecond: 1, burst: 1 } }))
    const server = app.listen(0, '127.0.0.1')
    servers.push(server)
    await new Promise((resolve) => server.once('listening', resolve))
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
    const first = await fetch(`${base}/fn/hello`)
    const second = await fetch(`${base}/fn/hello`)
    expect([first.status, second.status]).toEqual([200, 429])
    expect(second.headers.get('retry-after')).toBe('1')
    vi.setSystemTime(Date.now() + 1_000)
    expect((await fetch(`${base}/fn/hello`)).status).toBe(200)
  })
})

describe('load shedding', () => {
  it('refuses lower-priority functions first while calls pile up, and serves critical ones', async () => {
    const r = await runtime({ shedding: { maxQueued: 3, intervalMs: 20 } })
    const levels: number[] = []
    r.on('load:level', (e) => levels.push(e.level))
    const code = `export async function wait(ms) { await new Promise((r) => setTimeout(r, ms)); return ms }
      export const ping = () => 'pong'`
    await r.deploy('busy', { code, pool: { max: 1 }, priority: 'critical' })
    for (const p of ['low', 'normal', 'high', 'critical'] as const) await r.deploy(p, { code, priority: p })
    const backlog = Array.from({ length: 6 }, () => r.call('busy', 'wait', 250))
    expect(await waitFor(() => r.stats().load!.level === 3, 3_000)).toBe(true)
    expect(levels.slice(0, 3)).toEqual([1, 2, 3])
    const served = await Promise.all(
      (['low', 'normal', 'high', 'critical'] as const).map((p) => codeOf(r.call(p, 'ping'))),
    )
    expect(served).toEqual(['ERR_OVERLOADED', 'ERR_OVERLOADED', 'ERR_OVERLOADED', 'ok'])
    const res = await r.fetch(new Request('http://localhost/low'))
    expect(res.status).toBe(503)
    expect(res.headers.get('retry-after')).toBe('1')
    await Promise.all(backlog)
    expect(await waitFor(() => r.stats().load!.level === 0, 3_000)).toBe(true)
    expect(await codeOf(r.call('low', 'ping'))).toBe('ok')
  })
})

describe('runtime.call retries', () => {
  const FLAKY = `let n = 0
    export function flaky() { n++; if (n < 3) throw new Error('try again'); return n }
    export const count = () => n`

  it('are off by default, and never retry guest exceptions unless asked', async () => {
    const r = await runtime()
    await r.deploy('off', { code: FLAKY })
    await r.deploy('default', { code: FLAKY, retry: { minDelayMs: 1, maxDelayMs: 5 } })
    expect(await codeOf(r.call('off', 'flaky'))).toBe('ERR_GUEST_EXCEPTION')
    expect(await codeOf(r.call('default', 'flaky'))).toBe('ERR_GUEST_EXCEPTION')
    expect(await r.call('off', 'count')).toBe(1)
    expect(await r.call('default', 'count')).toBe(1)
  })

  it('retry the errors they list, with backoff', async () => {
    const r = await runtime()
    await r.deploy('asked', { code: FLAKY, retry: { on: ['ERR_GUEST_EXCEPTION'], minDelayMs: 1, maxDelayMs: 5 } })
    expect(await r.call('asked', 'flaky')).toBe(3)
  })

  it('retry a rate-limited call after its Retry-After', async () => {
    vi.useFakeTimers({ toFake: ['Date'] })
    const r = await runtime()
    await r.deploy('limited', {
      code: FLAKY,
      quota: { requestsPerSecond: 1, burst: 1 },
      retry: { maxDelayMs: 2_000, jitter: false },
    })
    expect(await r.call('limited', 'count')).toBe(0)
    const pending = r.call('limited', 'count')
    await new Promise((resolve) => setTimeout(resolve, 50)) // the first attempt is refused; the retry waits on a real timer
    vi.setSystemTime(Date.now() + 1_000)
    expect(await pending).toBe(0)
    expect(r.stats().functions.limited!.quota.refused).toBe(1)
  })
})

describe('credentials and deadlines against a real upstream', () => {
  const GUEST = `
    import { secrets } from 'fnbox:host'
    export async function ask(url) {
      const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"q":1}' })
      const headers = [...res.headers]
      const body = await res.text()
      console.log('status', res.status, JSON.stringify(headers), body)
      const request = new Request(url, { method: 'POST' })
      console.log('my request headers', JSON.stringify([...request.headers]))
      return { status: res.status, headers, body, secret1: secrets.get('UP_KEY_1') ?? null, secret2: secrets.get('UP_KEY_2') ?? null }
    }
    export async function hang(url) {
      const started = Date.now()
      try { await fetch(url) } catch (e) { return { ms: Date.now() - started, message: e.message } }
    }
  `

  it('fails over to the second key on 429; the guest never sees either key', async () => {
    const seen: IncomingHttpHeaders[] = []
    const origin = await listen((req, res) => {
      seen.push(req.headers)
      req.resume()
      if (req.headers.authorization === 'Bearer k1-very-secret') {
        res.writeHead(429, { 'retry-after': '30', 'content-type': 'application/json' })
        res.end('{"error":"slow down"}')
      } else {
        res.writeHead(200, { 'content-type': 'application/json', 'x-upstream': 'yes' })
        res.end('{"answer":42}')
      }
    })
    const r = await runtime({
      secrets: { key: 'ab'.repeat(32) },
      upstreams: {
        llm: { origin, auth: { header: 'authorization', scheme: 'Bearer', secrets: ['UP_KEY_1', 'UP_KEY_2'] } },
      },
    })
    const logs: LogEvent[] = []
    const benched: CredentialEvent[] = []
    r.on('log', (e) => logs.push(e))
    r.on('upstream:credential', (e) => benched.push(e))
    await r.secrets.set('UP_KEY_1', 'k1-very-secret')
    await r.secrets.set('UP_KEY_2', 'k2-very-secret')
    await r.deploy('agent', { code: GUEST, upstreams: ['llm'] })

    const out = await r.call<{ status: number; body: string }>('agent', 'ask', `${origin}/v1/chat`)
    expect(out).toMatchObject({ status: 200, body: '{"answer":42}', secret1: null, secret2: null })
    expect(seen.map((h) => h.authorization)).toEqual(['Bearer k1-very-secret', 'Bearer k2-very-secret'])
    const visible = JSON.stringify(out) + JSON.stringify(logs) + JSON.stringify(benched) + JSON.stringify(r.stats())
    expect(visible).not.toMatch(/very-secret/)
    expect(logs.length).toBeGreaterThan(1)
    expect(benched).toEqual([
      { upstream: 'llm', secret: 'UP_KEY_1', reason: 'rateLimited', status: 429, cooldownMs: 30_000 },
    ])
    expect(r.stats().upstreams.llm).toMatchObject({ declared: true, failovers: 1, requests: 1 })

    // A function not granted the upstream gets no key (and, being loopback, is not even allowed).
    await r.deploy('stranger', { code: GUEST })
    expect(await codeOf(r.call('stranger', 'ask', `${origin}/v1/chat`))).toBe('ERR_GUEST_EXCEPTION')
    expect(seen).toHaveLength(2)
  })

  it('drops an injected credential header when a redirect leaves the upstream origin', async () => {
    const elsewhere: IncomingHttpHeaders[] = []
    const other = await listen((req, res) => {
      elsewhere.push(req.headers)
      res.end('landed')
    })
    const atUpstream: IncomingHttpHeaders[] = []
    const origin = await listen((req, res) => {
      atUpstream.push(req.headers)
      res.writeHead(302, { location: `${other}/landing` }).end()
    })
    const r = await runtime({
      secrets: { key: 'ab'.repeat(32) },
      allowedHosts: [new URL(other).host],
      upstreams: { api: { origin, auth: { header: 'x-api-key', secrets: ['UP_KEY_1'] } } },
    })
    await r.secrets.set('UP_KEY_1', 'k1-very-secret')
    await r.deploy('agent', {
      code: `export async function go(url) { const res = await fetch(url); return { url: res.url, text: await res.text() } }`,
      upstreams: ['api'],
    })
    expect(await r.call('agent', 'go', `${origin}/start`)).toEqual({ url: `${other}/landing`, text: 'landed' })
    expect(atUpstream[0]!['x-api-key']).toBe('k1-very-secret')
    expect(elsewhere[0]!['x-api-key']).toBeUndefined()
  })

  it('cuts a fetch short at the invocation deadline, though the egress timeout is a minute', async () => {
    let closedAfter: number | undefined
    const origin = await listen((req) => {
      const t = Date.now()
      req.socket.once('close', () => (closedAfter = Date.now() - t))
    })
    const r = await runtime({ egress: { timeoutMs: 60_000 }, allowedHosts: [new URL(origin).host] })
    await r.deploy('waiter', { code: GUEST, limits: { timeoutMs: 700 } })
    const started = Date.now()
    expect(await codeOf(r.call('waiter', 'hang', origin))).toBe('ERR_TIMEOUT')
    expect(Date.now() - started).toBeLessThan(3_000)
    expect(await waitFor(() => closedAfter !== undefined, 3_000)).toBe(true)
    expect(closedAfter!).toBeLessThan(3_000)
  })
})
