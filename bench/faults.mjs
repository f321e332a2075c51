// Fault injection: guests call a local "LLM" upstream with two API keys. Key B is always
// healthy; key A goes through failure patterns, one after the other in time: down (connections
// reset), slow (no answer for 3 s), a burst of 429s (Retry-After: 1), then flapping (503 and 200
// by turns of 200 ms). The same paced guest traffic runs twice:
//   - without fnbox's policies: the guest holds both keys (granted secrets) and picks one at
//     random for each request, no retries (what a function does on its own);
//   - with them: the host declares the upstream with both keys; fnbox injects a key, fails over,
//     benches the failing key, times attempts out, retries what is safe.
// It reports the share of guest requests that got a 200.
import { createServer } from 'node:http'
import { createRuntime } from 'fnbox'

const KEYS = { FAULT_KEY_A: 'sk-fault-a', FAULT_KEY_B: 'sk-fault-b' }

/** Key A's pattern at `ms` after the upstream started. */
function patternAt(ms) {
  if (ms < 500) return 'down'
  if (ms < 1_000) return 'slow'
  if (ms < 2_000) return 'rateLimited'
  return Math.floor((ms - 2_000) / 200) % 2 === 0 ? 'flapFailed' : 'ok'
}

/**
 * Key A's pattern for its `n`-th request (from 0): the same phases by count instead of time, so
 * every run meets each of them whatever the machine's pace (what the test uses).
 */
function patternOf(n) {
  if (n < 10) return 'down'
  if (n < 20) return 'slow'
  if (n < 30) return 'rateLimited'
  return n % 2 === 0 ? 'flapFailed' : 'ok'
}

/**
 * The upstream; key A's behaviour follows {@link patternAt} (`timed`), or {@link patternOf}
 * (`counted`).
 */
export async function startFaultyUpstream({ pattern = 'timed', slowMs = 3_000 } = {}) {
  const counts = { down: 0, slow: 0, rateLimited: 0, flapFailed: 0, ok: 0 }
  let t0 = performance.now()
  let keyARequests = 0
  const server = createServer((req, res) => {
    req.resume()
    req.on('end', () => {
      const auth = req.headers.authorization ?? ''
      if (auth === `Bearer ${KEYS.FAULT_KEY_A}`) {
        const phase = pattern === 'counted' ? patternOf(keyARequests++) : patternAt(performance.now() - t0)
        if (phase !== 'ok') counts[phase]++
        if (phase === 'down') {
          req.socket.destroy()
          return
        }
        if (phase === 'slow') {
          const t = setTimeout(() => res.writeHead(200).end('{"late":true}'), slowMs)
          res.on('close', () => clearTimeout(t))
          return
        }
        if (phase === 'rateLimited') {
          res.writeHead(429, { 'retry-after': '1', 'content-type': 'application/json' }).end('{"error":"rate limited"}')
          return
        }
        if (phase === 'flapFailed') {
          res.writeHead(503, { 'content-type': 'application/json' }).end('{"error":"unavailable"}')
          return
        }
      } else if (auth !== `Bearer ${KEYS.FAULT_KEY_B}`) {
        res.writeHead(401).end('{"error":"bad key"}')
        return
      }
      counts.ok++
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"answer":42}')
    })
  })
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve))
  const origin = `http://127.0.0.1:${server.address().port}`
  return {
    origin,
    counts,
    /** The patterns start over from now. */
    restart: () => {
      t0 = performance.now()
      keyARequests = 0
    },
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections()
        server.close(resolve)
      }),
  }
}

const GUEST_WITHOUT = `
  import { secrets } from 'fnbox:host'
  export async function ask(url) {
    const key = secrets.get(Math.random() < 0.5 ? 'FAULT_KEY_A' : 'FAULT_KEY_B')
    try {
      const res = await fetch(url, { method: 'POST', headers: { authorization: 'Bearer ' + key }, body: '{"q":1}' })
      await res.text()
      return res.status
    } catch {
      return 0
    }
  }`

const GUEST_WITH = `
  export async function ask(url) {
    try {
      const res = await fetch(url, { method: 'POST', body: '{"q":1}' })
      await res.text()
      return res.status
    } catch {
      return 0
    }
  }`

/**
 * Runs `requests` guest calls, started at `ratePerSecond` (at most `concurrency` at once),
 * against a fresh faulty upstream, with or without the policies. Resolves with the guests'
 * success rate and what the upstream saw. `pattern`, `timeoutMs` (each call's),
 * `headTimeoutMs` (the upstream's, with the policies), `slowMs` (how late key A's slow phase
 * answers) and `breaker` (the function's) default to the bench's settings.
 */
export async function runFaultScenario({
  policies,
  requests = 400,
  ratePerSecond = 100,
  concurrency = 32,
  pattern = 'timed',
  timeoutMs = 2_000,
  headTimeoutMs = 250,
  slowMs = 3_000,
  breaker = true,
}) {
  const upstream = await startFaultyUpstream({ pattern, slowMs })
  const runtime = await createRuntime({
    threads: 1,
    storage: 'memory',
    secrets: { key: 'cd'.repeat(32) },
    shedding: false,
    ...(breaker ? {} : { breaker: false }),
    ...(policies
      ? {
          upstreams: {
            llm: {
              origin: upstream.origin,
              auth: { header: 'authorization', scheme: 'Bearer', secrets: Object.keys(KEYS), cooldownMs: 100 },
              timeoutMs: headTimeoutMs,
              retry: { retries: 2, minDelayMs: 20, maxDelayMs: 1_000, nonIdempotent: true },
            },
          },
        }
      : { egress: { retry: false, breaker: false }, allowedHosts: [new URL(upstream.origin).host] }),
  })
  try {
    for (const [name, value] of Object.entries(KEYS)) await runtime.secrets.set(name, value)
    await runtime.deploy('agent', {
      code: policies ? GUEST_WITH : GUEST_WITHOUT,
      limits: { timeoutMs },
      pool: { max: concurrency },
      ...(policies ? { upstreams: ['llm'] } : { secrets: Object.keys(KEYS) }),
    })
    let next = 0
    let ok = 0
    const failures = {}
    upstream.restart()
    const started = performance.now()
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (next < requests) {
          const at = started + (next++ * 1000) / ratePerSecond
          const wait = at - performance.now()
          if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait))
          const status = await runtime.call('agent', 'ask', `${upstream.origin}/v1/chat`).catch((e) => e.code)
          if (status === 200) ok++
          else failures[status] = (failures[status] ?? 0) + 1
        }
      }),
    )
    return {
      successRate: ok / requests,
      /** What the guests that did not get a 200 got: a status, 0 (fetch failed) or an error code. */
      failures,
      seconds: (performance.now() - started) / 1000,
      upstream: { ...upstream.counts },
      stats: runtime.stats().upstreams.llm,
    }
  } finally {
    await runtime.close()
    await upstream.close()
  }
}
