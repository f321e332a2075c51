/**
 * Guest `fetch` end to end: a real runtime, real guests, real local upstream servers that count
 * every TCP connection and every HTTP request they get. Loopback is where these servers live, so
 * every test here also exercises the SSRF guard and the allow-list.
 */
import { createServer, type IncomingHttpHeaders, type RequestListener, type Server } from 'node:http'
import type { AddressInfo, Socket } from 'node:net'
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { createRuntime, isFnboxError, type Runtime } from 'fnbox'
import { waitFor } from '../../helpers/wait.js'

// ---------------------------------------------------------------------------------------------
// Upstream servers: one port, listening on 127.0.0.1 and (when the host has IPv6) on [::1].

interface Hit {
  method: string
  url: string
  headers: IncomingHttpHeaders
  body: string
  /** Set when the request's socket closed. */
  closedAt?: number
}

interface Upstream {
  port: number
  origin: string
  hits: Hit[]
  connections: number
  reset(): void
  close(): Promise<void>
}

async function startUpstream(route: (hit: Hit, ...args: Parameters<RequestListener>) => void): Promise<Upstream> {
  const upstream: Upstream = {
    port: 0,
    origin: '',
    hits: [],
    connections: 0,
    reset() {
      upstream.hits.length = 0
      upstream.connections = 0
    },
    async close() {
      for (const server of servers) {
        server.closeAllConnections()
        await new Promise<void>((resolve) => server.close(() => resolve()))
      }
    },
  }
  const listener: RequestListener = (req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      const hit: Hit = {
        method: req.method ?? '',
        url: req.url ?? '',
        headers: req.headers,
        body: Buffer.concat(chunks).toString('utf8'),
      }
      upstream.hits.push(hit)
      res.once('close', () => (hit.closedAt = Date.now()))
      route(hit, req, res)
    })
  }
  const servers: Server[] = []
  const listen = (host: string, port: number): Promise<Server | undefined> =>
    new Promise((resolve) => {
      const server = createServer(listener)
      server.on('connection', (_socket: Socket) => void upstream.connections++)
      server.once('error', () => resolve(undefined))
      server.listen(port, host, () => resolve(server))
    })
  const v4 = await listen('127.0.0.1', 0)
  if (!v4) throw new Error('cannot listen on 127.0.0.1')
  servers.push(v4)
  upstream.port = (v4.address() as AddressInfo).port
  upstream.origin = `http://127.0.0.1:${upstream.port}`
  const v6 = await listen('::1', upstream.port)
  if (v6) servers.push(v6)
  return upstream
}

let up: Upstream
/** A server no function may reach: the target of the redirect test. */
let other: Upstream
let runtime: Runtime
let hostWide: Runtime

/** The guest: every export reports a failed fetch as data, so the test sees what the guest saw. */
const GUEST = `
  function failure(e) {
    return { ok: false, error: String(e), name: e && e.name, message: String(e && e.message), typeError: e instanceof TypeError }
  }
  export async function get(url, init) {
    try {
      const res = await fetch(url, init)
      return { ok: true, status: res.status, redirected: res.redirected, url: res.url, text: await res.text() }
    } catch (e) {
      return failure(e)
    }
  }
  export async function postJson(url, payload) {
    const res = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-custom': 'guest-value', 'x-multi': 'one' },
      body: JSON.stringify(payload),
    })
    return {
      status: res.status,
      statusText: res.statusText,
      upstreamHeader: res.headers.get('x-upstream'),
      contentType: res.headers.get('content-type'),
      json: await res.json(),
    }
  }
  export async function streamTimes(url) {
    const res = await fetch(url)
    const reader = res.body.getReader()
    const decoder = new TextDecoder()
    const chunks = []
    for (;;) {
      const { done, value } = await reader.read()
      if (done) break
      chunks.push({ at: Date.now(), text: decoder.decode(value, { stream: true }) })
    }
    return chunks
  }
  export async function streamAcked(url, ackUrl) {
    const res = await fetch(url)
    const reader = res.body.getReader()
    const decoder = new TextDecoder()
    const first = await reader.read()
    // The upstream sends the rest only once this request arrives: a buffered body never gets here.
    await (await fetch(ackUrl)).text()
    let rest = ''
    for (;;) {
      const { done, value } = await reader.read()
      if (done) break
      rest += decoder.decode(value, { stream: true })
    }
    return { first: decoder.decode(first.value), rest }
  }
  export async function abortBeforeResponse(url, afterMs) {
    const controller = new AbortController()
    const started = Date.now()
    setTimeout(() => controller.abort(), afterMs)
    try {
      await fetch(url, { signal: controller.signal })
      return { ok: true }
    } catch (e) {
      return { ...failure(e), ms: Date.now() - started }
    }
  }
  export async function abortWhileReading(url) {
    const controller = new AbortController()
    const res = await fetch(url, { signal: controller.signal })
    const reader = res.body.getReader()
    const first = new TextDecoder().decode((await reader.read()).value)
    controller.abort()
    try {
      await reader.read()
      return { ok: true, first }
    } catch (e) {
      return { ...failure(e), first }
    }
  }
  export async function hang(url) {
    const res = await fetch(url)
    return res.status
  }
`

interface GuestResult {
  ok: boolean
  status?: number
  text?: string
  redirected?: boolean
  error?: string
  name?: string
  message?: string
  typeError?: boolean
  ms?: number
  first?: string
}

/** Ends the open `/stream-acked` response: called when the guest's `/ack` arrives. */
let acked: (() => void) | undefined

beforeAll(async () => {
  other = await startUpstream((_hit, _req, res) => res.end('you should not see this'))
  up = await startUpstream((hit, _req, res) => {
    const path = hit.url.split('?')[0]
    if (path === '/hello') {
      res.setHeader('content-type', 'application/json')
      res.end(JSON.stringify({ hello: 'upstream' }))
    } else if (path === '/echo') {
      res.writeHead(201, 'Created Here', { 'content-type': 'application/json', 'x-upstream': 'yes' })
      res.end(JSON.stringify({ method: hit.method, headers: hit.headers, body: JSON.parse(hit.body) as unknown }))
    } else if (path === '/stream') {
      res.writeHead(200, { 'content-type': 'text/plain' })
      res.flushHeaders()
      const parts = ['a;', 'b;', 'c;']
      const timers: NodeJS.Timeout[] = []
      res.write(parts[0])
      timers.push(setTimeout(() => res.write(parts[1]), 200))
      timers.push(setTimeout(() => res.end(parts[2]), 400))
      res.once('close', () => timers.forEach(clearTimeout))
    } else if (path === '/stream-acked') {
      res.writeHead(200, { 'content-type': 'text/plain' })
      res.flushHeaders()
      res.write('a;')
      acked = () => res.end('b;c;')
    } else if (path === '/ack') {
      acked?.()
      res.end('ok')
    } else if (path === '/slow') {
      const timer = setTimeout(() => res.end('too late'), 3000)
      res.once('close', () => clearTimeout(timer))
    } else if (path === '/never') {
      // Never answers.
    } else if (path === '/redirect') {
      res.writeHead(302, { location: `http://127.0.0.1:${other.port}/stolen` })
      res.end()
    } else {
      res.statusCode = 404
      res.end('no route')
    }
  })

  runtime = await createRuntime({ threads: 2, limits: { memoryMb: 32, timeoutMs: 5000 } })
  // The same guest three times: without allowedHosts, with the upstream allowed, and with a
  // short timeout for the upstream that never answers.
  await runtime.deploy('guarded', { code: GUEST })
  await runtime.deploy('allowed', { code: GUEST, allowedHosts: [`127.0.0.1:${up.port}`] })
  await runtime.deploy('hanging', { code: GUEST, allowedHosts: [`127.0.0.1:${up.port}`], limits: { timeoutMs: 500 } })

  hostWide = await createRuntime({
    threads: 1,
    limits: { memoryMb: 32, timeoutMs: 5000 },
    allowedHosts: [`127.0.0.1:${up.port}`],
  })
  await hostWide.deploy('plain', { code: GUEST })
})

afterAll(async () => {
  await runtime?.close({ timeoutMs: 2000 })
  await hostWide?.close({ timeoutMs: 2000 })
  await up?.close()
  await other?.close()
})

beforeEach(() => {
  up.reset()
  other.reset()
})

const FORBIDDEN = /forbidden|not allowed/i

describe('the allow-list', () => {
  it('refuses a loopback upstream that is not allowed: a TypeError in the guest, no hit upstream', async () => {
    const r = await runtime.call<GuestResult>('guarded', 'get', `${up.origin}/hello`)
    expect(r).toMatchObject({ ok: false, typeError: true, name: 'TypeError' })
    expect.soft(r.message).toMatch(FORBIDDEN)
    expect(r.message).not.toMatch(/\/work\/|node_modules|node:internal/)
    expect(up.hits).toHaveLength(0)
    expect(up.connections).toBe(0)
  })

  it('reaches an upstream the runtime-level allowedHosts names', async () => {
    const r = await hostWide.call<GuestResult>('plain', 'get', `${up.origin}/hello`)
    expect(r).toMatchObject({ ok: true, status: 200 })
    expect(JSON.parse(r.text!)).toEqual({ hello: 'upstream' })
    expect(up.hits.map((h) => h.url)).toEqual(['/hello'])
    // Another port on the same host is still refused.
    const refused = await hostWide.call<GuestResult>('plain', 'get', `${other.origin}/`)
    expect(refused).toMatchObject({ ok: false, typeError: true })
    expect.soft(refused.message).toMatch(FORBIDDEN)
    expect(other.hits).toHaveLength(0)
  })

  it("reaches an upstream a function's own allowedHosts names; a function without it is refused", async () => {
    const r = await runtime.call<GuestResult>('allowed', 'get', `${up.origin}/hello`)
    expect(r).toMatchObject({ ok: true, status: 200 })
    expect(up.hits).toHaveLength(1)
    const refused = await runtime.call<GuestResult>('guarded', 'get', `${up.origin}/hello`)
    expect(refused).toMatchObject({ ok: false, typeError: true })
    expect.soft(refused.message).toMatch(FORBIDDEN)
    expect(up.hits).toHaveLength(1)
  })
})

describe('the SSRF guard, from inside a guest', () => {
  const targets = (): string[] => [
    `http://127.1:${up.port}/`,
    `http://2130706433:${up.port}/`,
    `http://[::1]:${up.port}/`,
    `http://[::ffff:7f00:1]:${up.port}/`,
    `http://169.254.169.254/latest/meta-data/`,
    `http://0.0.0.0:${up.port}/`,
    `http://localhost:${up.port}/`,
  ]

  it.each([0, 1, 2, 3, 4, 5, 6])('refuses target #%i of the matrix without touching it', async (index) => {
    const url = targets()[index]!
    const r = await runtime.call<GuestResult>('guarded', 'get', url)
    expect(r, url).toMatchObject({ ok: false, typeError: true, name: 'TypeError' })
    expect.soft(r.message, url).toMatch(FORBIDDEN)
    expect(up.hits, url).toHaveLength(0)
    // Not even a TCP connection: the guard judges an address before connecting to it.
    expect(up.connections, url).toBe(0)
  })

  it('refuses the same spellings for a function that allows 127.0.0.1 on another port only', async () => {
    // `allowed` names 127.0.0.1:<up.port>; the other server's port is not covered by any spelling.
    for (const host of ['127.0.0.1', '127.1', '2130706433', '[::1]', '[::ffff:7f00:1]', '0.0.0.0', 'localhost']) {
      const url = `http://${host}:${other.port}/`
      const r = await runtime.call<GuestResult>('allowed', 'get', url)
      expect(r, url).toMatchObject({ ok: false, typeError: true })
      expect.soft(r.message, url).toMatch(FORBIDDEN)
    }
    expect(other.hits).toHaveLength(0)
    expect(other.connections).toBe(0)
  })

  it('refuses a redirect from an allowed upstream to a server that is not allowed', async () => {
    const r = await runtime.call<GuestResult>('allowed', 'get', `${up.origin}/redirect`)
    expect(r).toMatchObject({ ok: false, typeError: true })
    expect.soft(r.message).toMatch(FORBIDDEN)
    expect(up.hits.map((h) => h.url)).toEqual(['/redirect'])
    expect(other.hits).toHaveLength(0)
    expect(other.connections).toBe(0)
  })

  it("returns the 302 itself under redirect: 'manual', without following it", async () => {
    const r = await runtime.call<GuestResult>('allowed', 'get', `${up.origin}/redirect`, { redirect: 'manual' })
    expect(r).toMatchObject({ ok: true, status: 302 })
    expect(other.hits).toHaveLength(0)
  })
})

describe('requests and responses', () => {
  it('sends a POST with a JSON body and custom headers; the guest reads status, headers and JSON', async () => {
    const payload = { a: 1, list: [1, 2, 3], text: 'héllo ✓' }
    const r = await runtime.call<{
      status: number
      statusText: string
      upstreamHeader: string | null
      contentType: string | null
      json: { method: string; headers: Record<string, string>; body: unknown }
    }>('allowed', 'postJson', `${up.origin}/echo`, payload)
    expect(up.hits).toHaveLength(1)
    const hit = up.hits[0]!
    expect(hit.method).toBe('POST')
    expect(hit.headers['content-type']).toBe('application/json')
    expect(hit.headers['x-custom']).toBe('guest-value')
    expect(JSON.parse(hit.body)).toEqual(payload)
    expect(r).toMatchObject({
      status: 201,
      statusText: 'Created Here',
      upstreamHeader: 'yes',
      contentType: 'application/json',
    })
    expect(r.json.method).toBe('POST')
    expect(r.json.headers['x-custom']).toBe('guest-value')
    expect(r.json.body).toEqual(payload)
  })

  it('streams an upstream body to the guest chunk by chunk, not buffered', async () => {
    // The upstream holds back the rest of its body until the guest, holding only the first chunk,
    // calls /ack: a body buffered before reaching the guest would never end (no timing involved).
    const r = await runtime.call<{ first: string; rest: string }>(
      'allowed',
      'streamAcked',
      `${up.origin}/stream-acked`,
      `${up.origin}/ack`,
    )
    expect(r).toEqual({ first: 'a;', rest: 'b;c;' })
    // Chunk boundaries: the times reader sees all three parts as they are written.
    const chunks = await runtime.call<{ at: number; text: string }[]>('allowed', 'streamTimes', `${up.origin}/stream`)
    expect(chunks.map((c) => c.text).join('')).toBe('a;b;c;')
  })
})

describe('aborts and deadlines', () => {
  it('rejects with an AbortError when the guest aborts a fetch, and closes the upstream request', async () => {
    const r = await runtime.call<GuestResult>('allowed', 'abortBeforeResponse', `${up.origin}/slow`, 100)
    expect(r).toMatchObject({ ok: false, name: 'AbortError' })
    expect(r.ms).toBeLessThan(2000)
    expect(up.hits.map((h) => h.url)).toEqual(['/slow'])
    expect(await waitFor(() => up.hits[0]?.closedAt !== undefined, 2000)).toBe(true)
  })

  it('rejects a pending body read with an AbortError when the guest aborts mid-body', async () => {
    const r = await runtime.call<GuestResult>('allowed', 'abortWhileReading', `${up.origin}/stream`)
    expect(r).toMatchObject({ ok: false, name: 'AbortError', first: 'a;' })
    expect(await waitFor(() => up.hits[0]?.closedAt !== undefined, 2000)).toBe(true)
  })

  it("cuts a fetch to an upstream that never answers at the function's timeoutMs, closing the socket", async () => {
    const started = Date.now()
    const err = await runtime.call('hanging', 'hang', `${up.origin}/never`).catch((e: unknown) => e)
    expect(isFnboxError(err, 'ERR_TIMEOUT')).toBe(true)
    const failedAt = Date.now()
    expect(failedAt - started).toBeGreaterThanOrEqual(400)
    expect(failedAt - started).toBeLessThan(3000)
    expect(up.hits.map((h) => h.url)).toEqual(['/never'])
    expect(await waitFor(() => up.hits[0]?.closedAt !== undefined, 2000)).toBe(true)
    // The function is usable afterwards.
    const r = await runtime.call<GuestResult>('hanging', 'get', `${up.origin}/hello`)
    expect(r).toMatchObject({ ok: true, status: 200 })
  })
})
