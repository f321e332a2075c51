import { lookup } from 'node:dns/promises'
import { createServer } from 'node:http'
import type { IncomingMessage, Server, ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { FnboxError, isFnboxError } from '../../../src/errors.js'
import { createGuardedFetch, createNetPolicy } from '../../../src/host/net/index.js'
import type {
  DnsLookup,
  GuardedFetch,
  GuardedRequestInit,
  GuardedResponse,
  NetPolicy,
} from '../../../src/host/net/index.js'

// ---- a real upstream: node:http on loopback, counting what reaches it ------------------------

interface Hit {
  method: string
  path: string
  /** Settles when the server sees the connection of this request close. */
  closed: Promise<void>
}

const hits: Hit[] = []
const connections = { count: 0 }
const timeline = { lastChunkWrittenAt: 0 }

const routes: Record<string, (req: IncomingMessage, res: ServerResponse, url: URL) => void> = {
  '/echo': (req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      res.setHeader('content-type', 'application/json')
      res.end(
        JSON.stringify({
          method: req.method,
          path: req.url,
          headers: req.headers,
          body: Buffer.concat(chunks).toString(),
        }),
      )
    })
  },
  '/redirect': (req, res, url) => {
    req.resume()
    res.statusCode = Number(url.searchParams.get('status') ?? 302)
    res.setHeader('location', url.searchParams.get('to') ?? '/echo')
    res.end('moved')
  },
  '/loop': (req, res) => {
    req.resume()
    res.writeHead(302, { location: '/loop' }).end()
  },
  // Three chunks 100 ms apart: a buffering proxy would deliver all three at once.
  '/stream': (_req, res) => {
    res.write('one-')
    setTimeout(() => {
      res.write('two-')
      setTimeout(() => {
        timeline.lastChunkWrittenAt = performance.now()
        res.end('three')
      }, 100)
    }, 100)
  },
  '/big': (_req, res) => {
    const chunk = Buffer.alloc(1000, 'x')
    let sent = 0
    const next = (): void => {
      if (res.destroyed) return
      if (sent++ === 5) return void res.end()
      res.write(chunk)
      setTimeout(next, 20)
    }
    next()
  },
  '/hang': () => {},
  '/stall': (_req, res) => {
    res.writeHead(200)
    res.write('partial')
  },
}

function handle(req: IncomingMessage, res: ServerResponse): void {
  const url = new URL(req.url ?? '/', 'http://upstream')
  const closed = new Promise<void>((resolve) => req.socket.once('close', () => resolve()))
  hits.push({ method: req.method ?? '', path: url.pathname, closed })
  const route = routes[url.pathname]
  if (route) route(req, res, url)
  else res.writeHead(404).end()
}

async function listen(host: string): Promise<Server> {
  const server = createServer(handle)
  server.on('connection', () => connections.count++)
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(0, host, () => resolve())
  })
  return server
}

const portOf = (server: Server): number => (server.address() as AddressInfo).port

async function ipv6Loopback(): Promise<Server | null> {
  try {
    return await listen('::1')
  } catch {
    return null
  }
}

let server: Server
let other: Server // a second upstream, target of redirects
let server6: Server | null
let port: number
let otherPort: number
const origin = (): string => `http://127.0.0.1:${port}`

beforeAll(async () => {
  server = await listen('127.0.0.1')
  other = await listen('127.0.0.1')
  server6 = await ipv6Loopback()
  port = portOf(server)
  otherPort = portOf(other)
})

afterAll(async () => {
  for (const s of [server, other, server6]) {
    s?.closeAllConnections()
    await new Promise((resolve) => s?.close(resolve) ?? resolve(undefined))
  }
})

let guarded: GuardedFetch
beforeEach(() => {
  hits.length = 0
  connections.count = 0
  timeline.lastChunkWrittenAt = 0
  guarded = createGuardedFetch()
})
afterEach(async () => {
  await guarded.close()
})

// ---- helpers --------------------------------------------------------------------------------

const GET: GuardedRequestInit = { method: 'GET', headers: [], redirect: 'follow' }

function policy(allowedHosts: readonly string[], extra: Partial<NetPolicy> = {}): NetPolicy {
  return createNetPolicy({ allowedHosts, timeoutMs: 5_000, maxResponseBytes: 1 << 20, ...extra })
}

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise
  } catch (err) {
    return err
  }
  throw new Error('expected a rejection')
}

async function fnboxRejection(promise: Promise<unknown>, code: FnboxError['code']): Promise<FnboxError> {
  const err = await rejection(promise)
  if (!isFnboxError(err, code)) throw new Error(`expected ${code}, got ${String(err)}`, { cause: err })
  return err
}

async function text(res: GuardedResponse): Promise<string> {
  const decoder = new TextDecoder()
  let out = ''
  for await (const chunk of res.body ?? []) out += decoder.decode(chunk, { stream: true })
  return out + decoder.decode()
}

async function json(res: GuardedResponse): Promise<{
  method: string
  path: string
  headers: Record<string, string>
  body: string
}> {
  return JSON.parse(await text(res))
}

/** A resolver with fixed answers for `*.test` names, the system's for the rest. */
function fakeDns(table: Record<string, string[]>): DnsLookup & { calls: string[] } {
  const calls: string[] = []
  const resolve = async (hostname: string) => {
    calls.push(hostname)
    const answer = table[hostname]
    if (!answer) return lookup(hostname, { all: true })
    return answer.map((address) => ({ address, family: address.includes(':') ? 6 : 4 }))
  }
  return Object.assign(resolve, { calls })
}

// ---- the SSRF guard -------------------------------------------------------------------------

describe('the SSRF guard', () => {
  const anyPublicHost = ['*']

  it.each([
    ['http://127.1:PORT/echo', 'loopback'],
    ['http://2130706433:PORT/echo', 'loopback'],
    ['http://0x7f.1:PORT/echo', 'loopback'],
    ['http://[::1]:PORT6/echo', 'loopback'],
    ['http://[::ffff:7f00:1]:PORT/echo', 'loopback'],
    ['http://[::ffff:127.0.0.1]:PORT/echo', 'loopback'],
    ['http://169.254.169.254/latest/meta-data/', 'linkLocal'],
    ['http://0.0.0.0:PORT/echo', 'unspecified'],
    ['http://10.0.0.1:PORT/echo', 'private'],
    ['http://localhost:PORT/echo', 'loopback'],
    ['http://LocalHost:PORT/echo', 'loopback'],
  ])('refuses %s (%s) and the server sees no request', async (template, reason) => {
    const url = template.replace('PORT6', String(server6 ? portOf(server6) : port)).replace('PORT', String(port))
    const err = await fnboxRejection(guarded.fetch(url, GET, policy(anyPublicHost)), 'ERR_HOST_FORBIDDEN')
    expect(err.details).toMatchObject({ reason })
    expect(err.details.host).toEqual(expect.any(String))
    expect(hits).toHaveLength(0)
  })

  it('refuses a name when any one of its addresses is private, at connect time', async () => {
    const dnsLookup = fakeDns({ 'mixed.test': ['93.184.216.34', '127.0.0.1'] })
    const gf = createGuardedFetch({ dnsLookup })
    try {
      const err = await fnboxRejection(
        gf.fetch(`http://mixed.test:${port}/echo`, GET, policy(['*.test'])),
        'ERR_HOST_FORBIDDEN',
      )
      expect(err).toBeInstanceOf(FnboxError) // our error, not undici's "fetch failed"
      expect(err.details).toEqual({ host: 'mixed.test', address: '127.0.0.1', reason: 'loopback', policy: 'ssrfGuard' })
      expect(err.message).not.toContain('127.0.0.1') // the guest does not learn internal addresses
      expect(dnsLookup.calls).toEqual(['mixed.test'])
      expect(hits).toHaveLength(0)
    } finally {
      await gf.close()
    }
  })

  it('refuses a redirect from an allowed server to a loopback URL that is not allowed', async () => {
    const allowed = [`127.0.0.1:${port}`, '*']
    for (const to of [`http://localhost:${otherPort}/echo`, `http://127.0.0.1:${otherPort}/echo`]) {
      const url = `${origin()}/redirect?to=${encodeURIComponent(to)}`
      await fnboxRejection(guarded.fetch(url, GET, policy(allowed)), 'ERR_HOST_FORBIDDEN')
    }
    expect(hits.map((h) => h.path)).toEqual(['/redirect', '/redirect']) // none reached `other`
  })

  it('refuses a host outside the allow-list before any DNS or connection', async () => {
    const dnsLookup = fakeDns({})
    const gf = createGuardedFetch({ dnsLookup })
    try {
      const err = await fnboxRejection(
        gf.fetch(`http://localhost:${port}/echo`, GET, policy(['api.example.com', '*.example.com'])),
        'ERR_HOST_FORBIDDEN',
      )
      expect(err.details).toEqual({ host: 'localhost', reason: 'notAllowed', policy: 'allowedHosts' })
      expect(dnsLookup.calls).toEqual([])
      expect(hits).toHaveLength(0)
    } finally {
      await gf.close()
    }
  })

  it.each(['file:///etc/passwd', 'ftp://example.com/x', 'data:text/plain,hi', 'ws://example.com/'])(
    'refuses the protocol of %s',
    async (url) => {
      const err = await fnboxRejection(guarded.fetch(url, GET, policy(['*'])), 'ERR_HOST_FORBIDDEN')
      expect(err.details).toMatchObject({ reason: 'unsupportedProtocol' })
    },
  )
})

// ---- destinations the allow-list names ------------------------------------------------------

describe('explicitly allowed destinations', () => {
  it('reaches 127.0.0.1:PORT when allowed as IP:port', async () => {
    const res = await guarded.fetch(`${origin()}/echo`, GET, policy([`127.0.0.1:${port}`]))
    expect(res.status).toBe(200)
    expect((await json(res)).method).toBe('GET')
  })

  it('reaches localhost:PORT when allowed as host:port', async () => {
    const res = await guarded.fetch(`http://localhost:${port}/echo`, GET, policy([`localhost:${port}`]))
    expect(res.status).toBe(200)
    expect(await json(res)).toMatchObject({ path: '/echo' })
  })

  it('still refuses another port of an allowed host:port', async () => {
    await fnboxRejection(
      guarded.fetch(`http://127.0.0.1:${otherPort}/echo`, GET, policy([`127.0.0.1:${port}`])),
      'ERR_HOST_FORBIDDEN',
    )
  })

  it('reaches [::1] when allowed as [::1]', async (ctx) => {
    if (!server6) return ctx.skip('this machine has no IPv6 loopback')
    const res = await guarded.fetch(`http://[::1]:${portOf(server6)}/echo`, GET, policy(['[::1]']))
    expect(res.status).toBe(200)
    expect(await json(res)).toMatchObject({ method: 'GET' })
  })

  it('refuses a public name listed exactly when it resolves to a private address', async () => {
    // Whoever answers for a public name's DNS must not be able to point it into the network.
    const dnsLookup = fakeDns({ 'api.example.com': ['127.0.0.1'], 'cdn.example.net': ['10.1.2.3'] })
    const gf = createGuardedFetch({ dnsLookup })
    try {
      for (const host of ['api.example.com', 'cdn.example.net']) {
        const err = await fnboxRejection(
          gf.fetch(`http://${host}:${port}/echo`, GET, policy([host])),
          'ERR_HOST_FORBIDDEN',
        )
        expect(err.details).toMatchObject({ host, policy: 'ssrfGuard' })
      }
      expect(hits).toHaveLength(0)
    } finally {
      await gf.close()
    }
  })

  it.each(['db', 'db.internal', 'printer.local', 'app.localhost', 'nas.home.arpa'])(
    'reaches a local name listed exactly (%s) at the private address it resolves to',
    async (host) => {
      const gf = createGuardedFetch({ dnsLookup: fakeDns({ [host]: ['127.0.0.1'] }) })
      try {
        const res = await gf.fetch(`http://${host}:${port}/echo`, GET, policy([host]))
        expect(await json(res)).toMatchObject({ headers: { host: `${host}:${port}` } })
        // Under a wildcard the same name stays guarded.
        const wild = host.includes('.') ? `*.${host.split('.').slice(1).join('.')}` : '*'
        await fnboxRejection(gf.fetch(`http://${host}:${port}/echo`, GET, policy([wild])), 'ERR_HOST_FORBIDDEN')
      } finally {
        await gf.close()
      }
    },
  )

  it('resolves a name when connecting, once per connection', async () => {
    const dnsLookup = fakeDns({ 'api.test': ['127.0.0.1'] })
    const gf = createGuardedFetch({ dnsLookup })
    try {
      for (let i = 0; i < 3; i++) {
        const res = await gf.fetch(`http://api.test:${port}/echo`, GET, policy([`api.test:${port}`]))
        expect(await json(res)).toMatchObject({ headers: { host: `api.test:${port}` } })
      }
      // Resolved by the connector for each new connection, never per request.
      expect(dnsLookup.calls).toHaveLength(connections.count)
      expect(connections.count).toBeLessThan(3) // kept-alive connections are reused
    } finally {
      await gf.close()
    }
  })
})

// ---- requests -------------------------------------------------------------------------------

describe('requests', () => {
  const allowed = (): NetPolicy => policy([`127.0.0.1:${port}`, `localhost:${port}`])

  it('sends a POST body and the guest headers, without the forbidden ones', async () => {
    const init: GuardedRequestInit = {
      method: 'POST',
      headers: [
        ['content-type', 'text/plain'],
        ['x-custom', 'kept'],
        ['Host', 'evil.internal'],
        ['connection', 'upgrade'],
        ['keep-alive', 'timeout=999'],
        ['transfer-encoding', 'gzip'],
        ['upgrade', 'websocket'],
        ['proxy-authorization', 'Basic Zm9vOmJhcg=='],
        ['proxy-connection', 'keep-alive'],
        ['te', 'trailers'],
        ['trailer', 'x-after'],
        ['content-length', '1'],
      ],
      body: new TextEncoder().encode('hello upstream'),
      redirect: 'follow',
    }
    const echoed = await json(await guarded.fetch(`${origin()}/echo`, init, allowed()))
    expect(echoed.method).toBe('POST')
    expect(echoed.body).toBe('hello upstream')
    expect(echoed.headers).toMatchObject({
      'content-type': 'text/plain',
      'x-custom': 'kept',
      host: `127.0.0.1:${port}`,
      'content-length': '14',
    })
    for (const name of ['proxy-authorization', 'proxy-connection', 'keep-alive', 'upgrade', 'te', 'trailer']) {
      expect(echoed.headers).not.toHaveProperty(name)
    }
    expect(echoed.headers['transfer-encoding']).toBeUndefined()
  })

  const post = (headers: [string, string][] = []): GuardedRequestInit => ({
    method: 'POST',
    headers: [['content-type', 'text/plain'], ...headers],
    body: new TextEncoder().encode('payload'),
    redirect: 'follow',
  })

  it('turns a POST into a GET without body on 303', async () => {
    const res = await guarded.fetch(`${origin()}/redirect?status=303&to=/echo`, post(), allowed())
    const echoed = await json(res)
    expect(echoed).toMatchObject({ method: 'GET', body: '' })
    expect(echoed.headers['content-type']).toBeUndefined()
    expect(res.redirected).toBe(true)
    expect(res.url).toBe(`${origin()}/echo`)
    expect(hits.map((h) => `${h.method} ${h.path}`)).toEqual(['POST /redirect', 'GET /echo'])
  })

  it('turns a POST into a GET on 302, keeps it on 307', async () => {
    const on302 = await json(await guarded.fetch(`${origin()}/redirect?status=302&to=/echo`, post(), allowed()))
    expect(on302).toMatchObject({ method: 'GET', body: '' })
    const on307 = await json(await guarded.fetch(`${origin()}/redirect?status=307&to=/echo`, post(), allowed()))
    expect(on307).toMatchObject({ method: 'POST', body: 'payload' })
  })

  it('drops credentials when a redirect leaves the origin', async () => {
    const to = encodeURIComponent(`http://localhost:${port}/echo`)
    const init = post([
      ['authorization', 'Bearer secret'],
      ['x-keep', '1'],
    ])
    const echoed = await json(await guarded.fetch(`${origin()}/redirect?status=307&to=${to}`, init, allowed()))
    expect(echoed.headers.authorization).toBeUndefined()
    expect(echoed.headers['x-keep']).toBe('1')
  })

  it("rejects a redirect under redirect: 'error'", async () => {
    const err = await fnboxRejection(
      guarded.fetch(`${origin()}/redirect?to=/echo`, { ...GET, redirect: 'error' }, allowed()),
      'ERR_FETCH_FAILED',
    )
    expect(err.details).toMatchObject({ reason: 'redirect' })
    expect(hits.map((h) => h.path)).toEqual(['/redirect'])
  })

  it("returns the 3xx itself under redirect: 'manual'", async () => {
    const res = await guarded.fetch(
      `${origin()}/redirect?status=301&to=/echo`,
      { ...GET, redirect: 'manual' },
      allowed(),
    )
    expect(res.status).toBe(301)
    expect(res.redirected).toBe(false)
    expect(res.headers).toContainEqual(['location', '/echo'])
    expect(await text(res)).toBe('moved')
  })

  it('rejects an unknown redirect mode as an invalid option', async () => {
    const init = { ...GET, redirect: 'sometimes' as GuardedRequestInit['redirect'] }
    await fnboxRejection(guarded.fetch(`${origin()}/echo`, init, allowed()), 'ERR_INVALID_OPTION')
    expect(hits).toHaveLength(0)
  })

  it('gives up after maxRedirects', async () => {
    const err = await fnboxRejection(
      guarded.fetch(`${origin()}/loop`, GET, policy([`127.0.0.1:${port}`], { maxRedirects: 2 })),
      'ERR_FETCH_FAILED',
    )
    expect(err.details).toMatchObject({ reason: 'tooManyRedirects', limit: 2 })
    expect(hits).toHaveLength(3)
  })

  it('refuses a body larger than maxRequestBytes before sending anything', async () => {
    const err = await fnboxRejection(
      guarded.fetch(`${origin()}/echo`, post(), policy([`127.0.0.1:${port}`], { maxRequestBytes: 3 })),
      'ERR_FETCH_FAILED',
    )
    expect(err.details).toMatchObject({ limit: 3, value: 7 })
    expect(hits).toHaveLength(0)
  })
})

// ---- responses, deadlines, cancellation -----------------------------------------------------

describe('responses', () => {
  const allowed = (extra: Partial<NetPolicy> = {}): NetPolicy => policy([`127.0.0.1:${port}`], extra)

  it('streams the body: the first chunk arrives before the server writes the last', async () => {
    const res = await guarded.fetch(`${origin()}/stream`, GET, allowed())
    const chunks: string[] = []
    let firstChunkAt = 0
    let lastWrittenAtFirstChunk = -1
    for await (const chunk of res.body ?? []) {
      if (chunks.length === 0) {
        firstChunkAt = performance.now()
        lastWrittenAtFirstChunk = timeline.lastChunkWrittenAt
      }
      chunks.push(Buffer.from(chunk).toString())
    }
    expect(lastWrittenAtFirstChunk).toBe(0) // the server had not written the last chunk yet
    expect(firstChunkAt).toBeLessThan(timeline.lastChunkWrittenAt)
    expect(chunks.join('')).toBe('one-two-three')
    expect(chunks.length).toBeGreaterThanOrEqual(3)
  })

  it('fails past maxResponseBytes with the limit and the value, and closes the connection', async () => {
    const res = await guarded.fetch(`${origin()}/big`, GET, allowed({ maxResponseBytes: 2500 }))
    const err = await fnboxRejection(text(res), 'ERR_FETCH_FAILED')
    expect(err.details).toMatchObject({ limit: 2500, value: 3000 })
    await hits[0]?.closed
  })

  it('times out waiting for the response head, and the server sees the connection closed', async () => {
    const started = performance.now()
    const err = await fnboxRejection(
      guarded.fetch(`${origin()}/hang`, GET, allowed({ timeoutMs: 200 })),
      'ERR_FETCH_FAILED',
    )
    expect(err.details).toMatchObject({ reason: 'timeout', limit: 200, host: '127.0.0.1' })
    expect(performance.now() - started).toBeLessThan(2_000)
    expect(hits).toHaveLength(1)
    await hits[0]?.closed
  })

  it('times out while reading a stalled body', async () => {
    const res = await guarded.fetch(`${origin()}/stall`, GET, allowed({ timeoutMs: 300 }))
    const err = await fnboxRejection(text(res), 'ERR_FETCH_FAILED')
    expect(err.details).toMatchObject({ reason: 'timeout' })
    await hits[0]?.closed
  })

  it('aborts with the caller signal before the response, rejecting with its reason', async () => {
    const controller = new AbortController()
    const pending = guarded.fetch(`${origin()}/hang`, { ...GET, signal: controller.signal }, allowed())
    while (hits.length === 0) await new Promise((resolve) => setTimeout(resolve, 5))
    const reason = new Error('caller gave up')
    controller.abort(reason)
    expect(await rejection(pending)).toBe(reason)
    await hits[0]?.closed
  })

  it('aborts the body stream with the caller signal', async () => {
    const controller = new AbortController()
    const res = await guarded.fetch(`${origin()}/stall`, { ...GET, signal: controller.signal }, allowed())
    const iterator = res.body![Symbol.asyncIterator]()
    expect((await iterator.next()).done).toBe(false)
    controller.abort()
    const err = await rejection(iterator.next())
    expect((err as Error).name).toBe('AbortError')
    await hits[0]?.closed
  })

  it('rejects at once when the signal is already aborted', async () => {
    const signal = AbortSignal.abort(new Error('too late'))
    expect(await rejection(guarded.fetch(`${origin()}/echo`, { ...GET, signal }, allowed()))).toMatchObject({
      message: 'too late',
    })
    expect(hits).toHaveLength(0)
  })

  it('closes the connection when the reader stops early or cancels', async () => {
    const res = await guarded.fetch(`${origin()}/stall`, GET, allowed())
    for await (const chunk of res.body ?? []) {
      expect(Buffer.from(chunk).toString()).toBe('partial')
      break
    }
    await hits[0]?.closed
    const second = await guarded.fetch(`${origin()}/stall`, GET, allowed())
    second.cancel()
    await hits[1]?.closed
  })

  it('maps a refused connection to ERR_FETCH_FAILED with the cause code and a safe message', async () => {
    const closed = await listen('127.0.0.1')
    const deadPort = portOf(closed)
    await new Promise((resolve) => closed.close(resolve))
    const err = await fnboxRejection(
      guarded.fetch(`http://127.0.0.1:${deadPort}/`, GET, policy([`127.0.0.1:${deadPort}`])),
      'ERR_FETCH_FAILED',
    )
    expect(err.details).toEqual({ host: '127.0.0.1', code: 'ECONNREFUSED' })
    expect(err.message).toBe('Fetch to "127.0.0.1" failed (ECONNREFUSED)')
  })

  it('refuses to fetch after close()', async () => {
    await guarded.close()
    await fnboxRejection(guarded.fetch(`${origin()}/echo`, GET, allowed()), 'ERR_CLOSED')
  })
})

describe('createNetPolicy', () => {
  it('fills defaults and parses the allow-list once', () => {
    const resolved = createNetPolicy({ allowedHosts: ['example.com'] })
    expect(resolved).toMatchObject({ timeoutMs: 30_000, maxRedirects: 20, maxResponseBytes: 10 * 1024 * 1024 })
    expect(resolved.allowedHosts.match('example.com', 443)).toBe('guarded')
    expect(createNetPolicy(resolved).allowedHosts).toBe(resolved.allowedHosts)
  })

  it.each([
    [{ allowedHosts: ['ok.com', 'bad host'] }, 'net.allowedHosts[1]'],
    [{ allowedHosts: [], timeoutMs: 0 }, 'net.timeoutMs'],
    [{ allowedHosts: [], maxResponseBytes: -1 }, 'net.maxResponseBytes'],
    [{ allowedHosts: [], maxRedirects: 1.5 }, 'net.maxRedirects'],
  ])('rejects %j naming %s', (input, option) => {
    expect(() => createNetPolicy(input)).toThrow(option)
  })
})
