/**
 * The egress policy of guest `fetch`, row by row as the README's table states it, through real
 * runtimes and a local upstream. Public destinations are stood in for by `*.invalid` names
 * (RFC 6761: they never resolve): a fetch the policy lets through fails on DNS with
 * `ERR_FETCH_FAILED`, one it refuses gets `ERR_HOST_FORBIDDEN` before any lookup. Rows about
 * what a name resolves to are in test/host/net/guarded-fetch.test.ts (a fake resolver).
 */
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createRuntime, type DeployOptions, type Runtime, type RuntimeOptions } from 'fnbox'

const GUEST = `
  export async function get(url) {
    try {
      const res = await fetch(url)
      return { ok: true, status: res.status, text: await res.text() }
    } catch (e) {
      return { ok: false, name: e.name, code: e.code, details: e.details, message: e.message }
    }
  }
`

interface Outcome {
  ok: boolean
  status?: number
  text?: string
  name?: string
  code?: string
  details?: Record<string, unknown>
  message?: string
}

let upstream: Server
let port: number
let hits = 0
const runtimes: Runtime[] = []

beforeAll(async () => {
  upstream = createServer((req, res) => {
    hits++
    const url = new URL(req.url ?? '/', 'http://upstream')
    if (url.pathname === '/redirect') res.writeHead(302, { location: url.searchParams.get('to')! }).end()
    else res.end('hello from upstream')
  })
  await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve))
  port = (upstream.address() as AddressInfo).port
})

afterAll(async () => {
  await Promise.all(runtimes.map((r) => r.close({ timeoutMs: 1000 })))
  upstream.closeAllConnections()
  await new Promise<void>((resolve) => upstream.close(() => resolve()))
})

/** A runtime with one function `f` deployed with `deploy`; returns a fetch through the guest. */
async function guest(
  options: RuntimeOptions,
  deploy: Omit<DeployOptions, 'code'> = {},
): Promise<(url: string) => Promise<Outcome>> {
  const runtime = await createRuntime({ threads: 1, storage: 'memory', limits: { memoryMb: 32 }, ...options })
  runtimes.push(runtime)
  await runtime.deploy('f', { code: GUEST, ...deploy })
  return (url) => runtime.call<Outcome>('f', 'get', url)
}

const local = (): string => `http://127.0.0.1:${port}/`
const PUBLIC = 'http://api.unreachable.invalid/'
const OTHER_PUBLIC = 'http://elsewhere.invalid/'

/** Let through by the policy: it went on to DNS, which cannot resolve `.invalid`. */
const passed = (r: Outcome): void => {
  expect(r).toMatchObject({ ok: false, name: 'TypeError', code: 'ERR_FETCH_FAILED' })
}
/** Refused by `policy`, with the typed error the guest can match on. */
const refused = (r: Outcome, policy: 'allowedHosts' | 'ssrfGuard', host: string): void => {
  expect(r).toMatchObject({ ok: false, name: 'TypeError', code: 'ERR_HOST_FORBIDDEN', details: { host, policy } })
  expect(r.message).toContain(host)
  expect(JSON.stringify(r.details)).not.toContain('address') // the resolved address stays on the host
}
const reached = (r: Outcome): void => {
  expect(r).toMatchObject({ ok: true, status: 200, text: 'hello from upstream' })
}

describe('without allowedHosts (neither runtime nor deploy)', () => {
  it('any public destination is let through', async () => {
    passed(await (await guest({}))(PUBLIC))
  })

  it('a private or loopback address is refused by the SSRF guard', async () => {
    const before = hits
    refused(await (await guest({}))(local()), 'ssrfGuard', '127.0.0.1')
    expect(hits).toBe(before)
  })
})

describe('with allowedHosts given', () => {
  it('only the listed destinations are reachable (runtime list)', async () => {
    const get = await guest({ allowedHosts: ['api.unreachable.invalid', `127.0.0.1:${port}`] })
    passed(await get(PUBLIC))
    reached(await get(local()))
    refused(await get(OTHER_PUBLIC), 'allowedHosts', 'elsewhere.invalid')
  })

  it('only the listed destinations are reachable (deploy list, no runtime list)', async () => {
    const get = await guest({}, { allowedHosts: ['api.unreachable.invalid'] })
    passed(await get(PUBLIC))
    refused(await get(OTHER_PUBLIC), 'allowedHosts', 'elsewhere.invalid')
  })

  it('the runtime and deploy lists add up; a function without its own list gets the runtime list', async () => {
    const options = { allowedHosts: ['api.unreachable.invalid'] }
    const both = await guest(options, { allowedHosts: [`127.0.0.1:${port}`] })
    passed(await both(PUBLIC))
    reached(await both(local()))
    refused(await both(OTHER_PUBLIC), 'allowedHosts', 'elsewhere.invalid')
    const runtimeOnly = await guest(options)
    passed(await runtimeOnly(PUBLIC))
    refused(await runtimeOnly(local()), 'allowedHosts', '127.0.0.1')
  })

  it('[] allows nothing', async () => {
    const get = await guest({ allowedHosts: [] })
    refused(await get(PUBLIC), 'allowedHosts', 'api.unreachable.invalid')
    refused(await get(local()), 'allowedHosts', '127.0.0.1')
  })

  it("'*' restores any public destination, and private ones stay refused", async () => {
    const get = await guest({}, { allowedHosts: ['*'] })
    passed(await get(PUBLIC))
    refused(await get(local()), 'ssrfGuard', '127.0.0.1')
  })

  it('a wildcard admits sub-domains only', async () => {
    const get = await guest({ allowedHosts: ['*.unreachable.invalid'] })
    passed(await get(PUBLIC))
    refused(await get('http://unreachable.invalid/'), 'allowedHosts', 'unreachable.invalid')
  })

  it('an entry with a port admits that port only', async () => {
    const get = await guest({ allowedHosts: ['api.unreachable.invalid:8443', `127.0.0.1:${port}`] })
    passed(await get('http://api.unreachable.invalid:8443/'))
    refused(await get(PUBLIC), 'allowedHosts', 'api.unreachable.invalid')
    refused(await get(`http://127.0.0.1:${port + 1}/`), 'allowedHosts', '127.0.0.1')
  })

  it('an IP entry reaches that private address, any spelling of it', async () => {
    const get = await guest({ allowedHosts: ['127.0.0.1'] })
    reached(await get(local()))
    reached(await get(`http://[::ffff:127.0.0.1]:${port}/`))
    reached(await get(`http://127.1:${port}/`))
  })

  it('a local name reaches the private address it resolves to', async () => {
    const get = await guest({ allowedHosts: [`localhost:${port}`] })
    const r = await get(`http://localhost:${port}/`)
    // localhost may resolve to ::1 first, where this upstream does not listen: either way the
    // request got past the guard.
    if (!r.ok) expect(r.code).toBe('ERR_FETCH_FAILED')
    else reached(r)
  })

  it('every redirect is checked against the list again', async () => {
    const get = await guest({ allowedHosts: [`127.0.0.1:${port}`] })
    const to = encodeURIComponent(OTHER_PUBLIC)
    refused(await get(`${local()}redirect?to=${to}`), 'allowedHosts', 'elsewhere.invalid')
  })
})

describe('declared upstreams', () => {
  const upstreams = (): RuntimeOptions['upstreams'] => ({ local: { origin: `http://127.0.0.1:${port}` } })

  it("a granted upstream's origin is reachable, even private, with or without allowedHosts", async () => {
    reached(await (await guest({ upstreams: upstreams() }, { upstreams: ['local'] }))(local()))
    const restricted = await guest({ upstreams: upstreams(), allowedHosts: [] }, { upstreams: ['local'] })
    reached(await restricted(local()))
    refused(await restricted(PUBLIC), 'allowedHosts', 'api.unreachable.invalid')
  })

  it('an upstream not granted to the function is not', async () => {
    const get = await guest({ upstreams: upstreams(), allowedHosts: ['api.unreachable.invalid'] })
    refused(await get(local()), 'allowedHosts', '127.0.0.1')
  })

  it('a redirect from a granted upstream is checked like any fetch', async () => {
    const open = await guest({ upstreams: upstreams() }, { upstreams: ['local'] })
    passed(await open(`${local()}redirect?to=${encodeURIComponent(OTHER_PUBLIC)}`))
    const restricted = await guest({ upstreams: upstreams() }, { upstreams: ['local'], allowedHosts: [] })
    const r = await restricted(`${local()}redirect?to=${encodeURIComponent(OTHER_PUBLIC)}`)
    refused(r, 'allowedHosts', 'elsewhere.invalid')
  })
})
