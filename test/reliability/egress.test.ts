/**
 * Egress policies over a scripted network (no sockets), on fake time: what is retried and when,
 * credential injection and failover, head timeouts, the upstream breaker, deadlines.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { FnboxError, isFnboxError } from 'fnbox'
import type { GuardedFetch, GuardedRequestInit, GuardedResponse, NetPolicy } from '../../src/host/net/index.js'
import { BucketRotation } from '../../src/reliability/breaker.js'
import type { CredentialEvent } from '../../src/reliability/credentials.js'
import { Deadline } from '../../src/reliability/deadline.js'
import { Egress } from '../../src/reliability/egress.js'
import { resolveEgress, resolveUpstreams } from '../../src/reliability/upstreams.js'

interface Sent {
  url: string
  method: string
  headers: [string, string][]
  at: number
  signal: AbortSignal | undefined
  timeoutMs: number
  sensitive: readonly string[] | undefined
}

type Answer = number | { status: number; headers?: [string, string][]; delayMs?: number } | FnboxError

const KEYS = { KEY_A: 'sk-aaaa-secret', KEY_B: 'sk-bbbb-secret' }

function scriptedNet(answer: (sent: Sent, n: number) => Answer) {
  const sent: Sent[] = []
  const responses: (GuardedResponse & { cancelled: boolean })[] = []
  const net: GuardedFetch = {
    async fetch(url: string, init: GuardedRequestInit, policy: NetPolicy) {
      const s: Sent = {
        url,
        method: init.method,
        headers: init.headers,
        at: Date.now(),
        signal: init.signal,
        timeoutMs: policy.timeoutMs,
        sensitive: init.sensitiveHeaders,
      }
      sent.push(s)
      const a = answer(s, sent.length)
      if (a instanceof FnboxError) throw a
      const spec = typeof a === 'number' ? { status: a } : a
      if (spec.delayMs) {
        await new Promise<void>((resolve, reject) => {
          const t = setTimeout(resolve, spec.delayMs)
          init.signal?.addEventListener('abort', () => {
            clearTimeout(t)
            reject(init.signal!.reason)
          })
        })
      }
      const res = {
        status: spec.status,
        statusText: '',
        headers: spec.headers ?? [],
        url,
        redirected: false,
        body: null,
        cancelled: false,
        cancel() {
          res.cancelled = true
        },
      }
      responses.push(res)
      return res
    },
    close: async () => undefined,
  }
  return { net, sent, responses }
}

const netError = (code: string): FnboxError =>
  new FnboxError('ERR_FETCH_FAILED', `Fetch to "api.test" failed (${code})`, { details: { host: 'api.test', code } })

const POLICY = { allowedHosts: ['*'], timeoutMs: 30_000, maxResponseBytes: 1024 }

describe('Egress', () => {
  let rotation: BucketRotation
  let egress: Egress | undefined
  const benched: CredentialEvent[] = []

  beforeEach(() => {
    vi.useFakeTimers()
    rotation = new BucketRotation()
    benched.length = 0
  })
  afterEach(() => {
    egress?.close()
    rotation.close()
    vi.useRealTimers()
  })

  function setup(answer: (sent: Sent, n: number) => Answer, options: { egress?: unknown; upstreams?: unknown } = {}) {
    const scripted = scriptedNet(answer)
    const defaults = resolveEgress(
      options.egress ?? { retry: { jitter: false, minDelayMs: 100 }, breaker: false },
      'options.egress',
    )
    egress = new Egress({
      net: scripted.net,
      defaults,
      upstreams: resolveUpstreams(options.upstreams, 'options.upstreams', defaults),
      readSecret: async (name) => KEYS[name as keyof typeof KEYS],
      rotation,
      onCredential: (e) => benched.push(e),
    })
    return scripted
  }

  const go = async (
    url: string,
    init: Partial<GuardedRequestInit> = {},
    ctx: { deadlineMs?: number; deadline?: Deadline; grants?: string[] } = {},
  ): Promise<GuardedResponse | FnboxError> => {
    const pending = egress!
      .fetch(url, { method: 'GET', headers: [], redirect: 'follow', ...init }, POLICY, {
        deadline: ctx.deadline ?? new Deadline(ctx.deadlineMs ?? 30_000),
        grants: new Set(ctx.grants ?? []),
      })
      .catch((e: FnboxError) => e)
    // Time moves only as far as the fetch needs (timers fire at their exact times).
    let settled = false
    void pending.finally(() => (settled = true))
    while (!settled) await vi.advanceTimersByTimeAsync(10)
    return pending
  }

  it('retries a GET answered 503, with the backoff between attempts', async () => {
    const { sent } = setup((_s, n) => (n < 3 ? 503 : 200))
    const res = (await go('https://api.test/x')) as GuardedResponse
    expect(res.status).toBe(200)
    expect(sent.map((s) => s.at - sent[0]!.at)).toEqual([0, 100, 300])
    expect(egress!.stats()['https://api.test']).toMatchObject({ requests: 1, retries: 2, failovers: 0 })
  })

  it('honours Retry-After on a 429', async () => {
    const { sent } = setup((_s, n) => (n === 1 ? { status: 429, headers: [['retry-after', '1']] } : 200))
    expect(((await go('https://api.test/')) as GuardedResponse).status).toBe(200)
    expect(sent[1]!.at - sent[0]!.at).toBe(1_000)
  })

  it('gives the last answer back when the retries are used up, its earlier ones cancelled', async () => {
    const { sent, responses } = setup(() => 503)
    const res = (await go('https://api.test/')) as GuardedResponse
    expect(res.status).toBe(503)
    expect(sent).toHaveLength(3)
    expect(responses.map((r) => r.cancelled)).toEqual([true, true, false])
  })

  it.each([400, 401, 403, 404, 409])('never retries a %i', async (status) => {
    const { sent } = setup(() => status)
    expect(((await go('https://api.test/')) as GuardedResponse).status).toBe(status)
    expect(sent).toHaveLength(1)
  })

  it('repeats a POST only when it is safe: not processed (503), an Idempotency-Key, or nonIdempotent', async () => {
    const egressOptions = { retry: { jitter: false, statuses: [500, 503] }, breaker: false }
    let s = setup(() => 500, { egress: egressOptions })
    await go('https://api.test/', { method: 'POST', body: new Uint8Array([1]) })
    expect(s.sent).toHaveLength(1)

    s = setup((_x, n) => (n === 1 ? 503 : 200), { egress: egressOptions })
    await go('https://api.test/', { method: 'POST', body: new Uint8Array([1]) })
    expect(s.sent).toHaveLength(2)

    s = setup((_x, n) => (n === 1 ? 500 : 200), { egress: egressOptions })
    await go('https://api.test/', { method: 'POST', headers: [['Idempotency-Key', 'k1']] })
    expect(s.sent).toHaveLength(2)

    s = setup((_x, n) => (n === 1 ? 500 : 200), {
      egress: { ...egressOptions, retry: { ...egressOptions.retry, nonIdempotent: true } },
    })
    await go('https://api.test/', { method: 'PATCH' })
    expect(s.sent).toHaveLength(2)
  })

  it('repeats a network failure before sending (refused) always, after sending (reset) only when idempotent', async () => {
    let s = setup((_x, n) => (n === 1 ? netError('ECONNRESET') : 200))
    const err = await go('https://api.test/', { method: 'POST' })
    expect(isFnboxError(err, 'ERR_FETCH_FAILED')).toBe(true)
    expect(s.sent).toHaveLength(1)

    s = setup((_x, n) => (n === 1 ? netError('ECONNREFUSED') : 200))
    expect(((await go('https://api.test/', { method: 'POST' })) as GuardedResponse).status).toBe(200)

    s = setup((_x, n) => (n === 1 ? netError('ECONNRESET') : 200))
    expect(((await go('https://api.test/')) as GuardedResponse).status).toBe(200)
    expect(s.sent).toHaveLength(2)
  })

  it('never replays a request body that is a stream', async () => {
    const { sent } = setup(() => 503)
    const stream = new ReadableStream() as unknown as Uint8Array
    await go('https://api.test/', { method: 'PUT', body: stream })
    expect(sent).toHaveLength(1)
  })

  it('hands a response over without touching its body (streams stay streams)', async () => {
    const body = (async function* () {
      yield new Uint8Array([1])
    })()
    const scripted = setup(() => 200)
    const original = scripted.net.fetch.bind(scripted.net)
    scripted.net.fetch = async (...args) => ({ ...(await original(...args)), body })
    const res = (await go('https://api.test/')) as GuardedResponse
    expect(res.body).toBe(body)
  })

  it('cancels an attempt with no response head within timeoutMs, and tries again', async () => {
    const { sent } = setup((_x, n) => (n === 1 ? { status: 200, delayMs: 10_000 } : 200), {
      egress: { timeoutMs: 500, retry: { jitter: false }, breaker: false },
    })
    const res = (await go('https://api.test/')) as GuardedResponse
    expect(res.status).toBe(200)
    expect(sent[0]!.signal!.aborted).toBe(true)
    expect(sent[1]!.signal!.aborted).toBe(false)
    expect(sent[1]!.at - sent[0]!.at).toBe(600) // 500 to the timeout, then the 100 ms backoff
  })

  it('gives every attempt only the time the invocation has left, and refuses once it is gone', async () => {
    const { sent } = setup(() => ({ status: 200, delayMs: 60_000 }))
    let cutAt = 0
    const cut = go('https://api.test/', {}, { deadlineMs: 2_000 })
    sent[0]!.signal!.addEventListener('abort', () => (cutAt = Date.now() - sent[0]!.at))
    expect(await cut).toMatchObject({ code: 'ERR_TIMEOUT' })
    // The deadline, plus the grace that lets the sandbox time out first (and a tick, for the
    // messages already received, which may move it).
    expect(cutAt).toBe(2_051)
    const err = await go('https://api.test/', {}, { deadlineMs: 0 })
    expect(isFnboxError(err, 'ERR_TIMEOUT')).toBe(true)
    expect((err as Error).message).toMatch(/fetch to "api\.test" was cut short/)
    expect(sent).toHaveLength(1)
  })

  it('lets an attempt go on when the deadline moves later (the response streams)', async () => {
    setup(() => ({ status: 200, delayMs: 5_000 }))
    const deadline = new Deadline(2_000)
    setTimeout(() => deadline.extendTo(deadline.startedAt + 600_000), 1_000)
    expect(await go('https://api.test/', {}, { deadline })).toMatchObject({ status: 200 })
  })

  it('does not wait out a Retry-After longer than the invocation has left', async () => {
    const { sent } = setup(() => ({ status: 429, headers: [['retry-after', '2']] }), {
      egress: { retry: { maxDelayMs: 5_000 }, breaker: false },
    })
    const res = (await go('https://api.test/', {}, { deadlineMs: 1_500 })) as GuardedResponse
    expect(res.status).toBe(429)
    expect(sent).toHaveLength(1)
  })

  it('opens the upstream breaker on failures; then fetches to it fail at once', async () => {
    const { sent } = setup(() => 502, { egress: { retry: false, breaker: { volumeThreshold: 3 } } })
    for (let i = 0; i < 3; i++) expect(((await go('https://api.test/')) as GuardedResponse).status).toBe(502)
    const err = await go('https://api.test/')
    expect(isFnboxError(err, 'ERR_CIRCUIT_OPEN')).toBe(true)
    expect((err as Error).message).toMatch(/upstream api\.test is open/)
    expect(sent).toHaveLength(3)
    expect(egress!.stats()['https://api.test']!.breaker).toMatchObject({ state: 'open', failures: 3 })
    // Another host is not affected.
    expect(((await go('https://other.test/')) as GuardedResponse).status).toBe(502)
  })

  it('records passive health: success rate and latency to the head', async () => {
    setup((_x, n) => (n % 4 === 0 ? 500 : { status: 200, delayMs: 40 }), { egress: { retry: false, breaker: false } })
    for (let i = 0; i < 8; i++) await go('https://api.test/')
    const { health } = egress!.stats()['https://api.test']!
    expect(health.attempts).toBe(8)
    expect(health.successRate).toBe(0.75)
    expect(health.latencyMs.p50).toBe(40)
  })

  describe('credentials', () => {
    const upstreams = {
      llm: {
        origin: 'https://api.test',
        auth: { header: 'authorization', scheme: 'Bearer', secrets: ['KEY_A', 'KEY_B'], cooldownMs: 10_000 },
        retry: { jitter: false },
        breaker: false,
      },
    }
    const authOf = (s: Sent): string | undefined => s.headers.find(([n]) => n.toLowerCase() === 'authorization')?.[1]

    it("injects the key for granted functions only, replacing the guest's own header", async () => {
      const { sent } = setup(() => 200, { upstreams })
      await go('https://api.test/v1', { headers: [['Authorization', 'Bearer guest-made-up']] }, { grants: ['llm'] })
      expect(sent[0]!.headers.filter(([n]) => n.toLowerCase() === 'authorization')).toEqual([
        ['authorization', `Bearer ${KEYS.KEY_A}`],
      ])
      expect(sent[0]!.sensitive).toEqual(['authorization'])
      await go('https://api.test/v1', { headers: [['authorization', 'Bearer mine']] }) // not granted
      expect(authOf(sent[1]!)).toBe('Bearer mine')
    })

    it('spreads requests over the keys round-robin', async () => {
      const { sent } = setup(() => 200, { upstreams })
      for (let i = 0; i < 4; i++) await go('https://api.test/', {}, { grants: ['llm'] })
      expect(sent.map(authOf)).toEqual([
        `Bearer ${KEYS.KEY_A}`,
        `Bearer ${KEYS.KEY_B}`,
        `Bearer ${KEYS.KEY_A}`,
        `Bearer ${KEYS.KEY_B}`,
      ])
    })

    it('fails over to the next key at once on 429, and benches the first for its Retry-After', async () => {
      const { sent } = setup(
        (s) => (authOf(s)!.includes('aaaa') ? { status: 429, headers: [['retry-after', '20']] } : 200),
        { upstreams },
      )
      const res = (await go('https://api.test/', { method: 'POST' }, { grants: ['llm'] })) as GuardedResponse
      expect(res.status).toBe(200)
      expect(sent.map((s) => [authOf(s), s.at - sent[0]!.at])).toEqual([
        [`Bearer ${KEYS.KEY_A}`, 0],
        [`Bearer ${KEYS.KEY_B}`, 0],
      ])
      expect(benched).toEqual([
        { upstream: 'llm', secret: 'KEY_A', reason: 'rateLimited', status: 429, cooldownMs: 20_000 },
      ])
      const stats = egress!.stats().llm!
      expect(stats.failovers).toBe(1)
      expect(stats.credentials).toMatchObject([
        { secret: 'KEY_A', healthy: false, failures: 1 },
        { secret: 'KEY_B', healthy: true, successes: 1 },
      ])
      // While KEY_A sits out, every request goes to KEY_B at first try.
      sent.length = 0
      for (let i = 0; i < 3; i++) await go('https://api.test/', {}, { grants: ['llm'] })
      expect(sent.map(authOf)).toEqual(Array(3).fill(`Bearer ${KEYS.KEY_B}`))
      vi.advanceTimersByTime(20_000)
      expect(egress!.stats().llm!.credentials![0]!.healthy).toBe(true)
    })

    it('fails over on a 5xx or a head timeout too', async () => {
      const { sent } = setup((s) => (authOf(s)!.includes('aaaa') ? { status: 200, delayMs: 60_000 } : 200), {
        upstreams: { llm: { ...upstreams.llm, timeoutMs: 1_000 } },
      })
      expect(((await go('https://api.test/', {}, { grants: ['llm'] })) as GuardedResponse).status).toBe(200)
      expect(sent).toHaveLength(2)
      expect(benched[0]).toMatchObject({ secret: 'KEY_A', reason: 'timeout' })
    })

    it.each([400, 401, 403])('never fails over on %i, and does not bench the key', async (status) => {
      const { sent } = setup(() => status, { upstreams })
      expect(((await go('https://api.test/', {}, { grants: ['llm'] })) as GuardedResponse).status).toBe(status)
      expect(sent).toHaveLength(1)
      expect(benched).toEqual([])
    })

    it('when every key is benched, uses the one that comes back first', async () => {
      const { sent } = setup(() => 429, { upstreams: { llm: { ...upstreams.llm, retry: false } } })
      const res = (await go('https://api.test/', {}, { grants: ['llm'] })) as GuardedResponse
      expect(res.status).toBe(429)
      expect(sent).toHaveLength(2) // A, then B; both benched, nothing left to try
      vi.advanceTimersByTime(1_000)
      await go('https://api.test/', {}, { grants: ['llm'] })
      expect(authOf(sent[2]!)).toBe(`Bearer ${KEYS.KEY_A}`)
    })

    it('refuses to send a granted request without any key set, naming the upstream only', async () => {
      const { sent } = setup(() => 200, {
        upstreams: { llm: { ...upstreams.llm, auth: { ...upstreams.llm.auth, secrets: ['MISSING'] } } },
      })
      const err = await go('https://api.test/', {}, { grants: ['llm'] })
      expect((err as Error).message).toBe('Fetch to "api.test": upstream llm has no credentials set')
      expect(sent).toHaveLength(0)
    })
  })

  describe('options', () => {
    it('validate upstreams with the option named', () => {
      const base = resolveEgress(undefined, 'options.egress')
      expect(() => resolveUpstreams({ x: { origin: 'https://a.test/path' } }, 'options.upstreams', base)).toThrow(
        /options\.upstreams\.x\.origin must be an origin/,
      )
      expect(() =>
        resolveUpstreams(
          { x: { origin: 'https://a.test', auth: { header: 'host', secrets: ['A'] } } },
          'options.upstreams',
          base,
        ),
      ).toThrow(/options\.upstreams\.x\.auth\.header/)
      expect(() =>
        resolveUpstreams(
          { x: { origin: 'https://a.test', auth: { header: 'x-api-key', secrets: [] } } },
          'options.upstreams',
          base,
        ),
      ).toThrow(/options\.upstreams\.x\.auth\.secrets must be a non-empty array/)
      expect(() => resolveEgress({ breaker: { timeoutMs: 5 } }, 'options.egress')).toThrow(
        /options\.egress\.breaker\.timeoutMs/,
      )
      const ups = resolveUpstreams({ x: { origin: 'http://127.0.0.1:8080', timeoutMs: 5 } }, 'options.upstreams', base)
      expect(ups.get('x')).toMatchObject({ origin: 'http://127.0.0.1:8080', hostPort: '127.0.0.1:8080', timeoutMs: 5 })
    })
  })
})
