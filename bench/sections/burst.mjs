import { createRuntime } from 'fnbox'
import { report, pct } from '../shared.mjs'

// (j) burst: 0 -> 500 concurrent requests on a function with pool.max 8. Every request must end
// served (200) or refused with 503 + Retry-After, none lost; how long the pool takes to reach
// max, and to get back to min once idle. Baseline: the same burst on a pool pre-warmed at max.
export default async function benchBurst() {
  console.log('\n(j) burst: 0 -> 500 concurrent requests, pool.max 8, maxQueue 200 (autoscaled vs pre-warmed at max)')
  const N = 500
  const IDLE_MS = 2000
  const INTERVAL_MS = 100
  const code = `export default { async fetch() { await new Promise((r) => setTimeout(r, 20)); return new Response('ok') } }`
  const runtime = await createRuntime({ pool: { scaleIntervalMs: INTERVAL_MS } })
  const scale = []
  runtime.on('pool:scale', (e) => scale.push({ ...e, at: performance.now() }))
  const burst = async (name, pool) => {
    const d0 = performance.now()
    await runtime.deploy(name, {
      code: `${code}\n// ${name}`,
      pool: { max: 8, maxQueue: 200, idleTimeoutMs: IDLE_MS, ...pool },
    })
    while (runtime.stats().functions[name].instances < (pool.min ?? 1) && performance.now() - d0 < 10_000) {
      await new Promise((r) => setTimeout(r, 1))
    }
    const fillMs = performance.now() - d0
    await new Promise((r) => setTimeout(r, 300)) // blank engines refilled, the pool at rest
    const t0 = performance.now()
    let unsettled = N
    const outcomes = await Promise.race([
      Promise.all(
        Array.from({ length: N }, async () => {
          const s0 = performance.now()
          try {
            const res = await runtime.fetch(new Request(`http://x/${name}`))
            await res.text()
            return { status: res.status, retryAfter: res.headers.get('retry-after'), ms: performance.now() - s0 }
          } catch {
            return { status: 'threw' }
          } finally {
            unsettled--
          }
        }),
      ),
      new Promise((r) => setTimeout(() => r(null), 60_000)),
    ])
    const end = performance.now()
    const served = outcomes?.filter((o) => o.status === 200) ?? []
    const refused = outcomes?.filter((o) => o.status === 503 && /^[1-9]\d*$/.test(o.retryAfter ?? '')) ?? []
    const other = (outcomes?.length ?? 0) - served.length - refused.length
    const atMax = scale.find((e) => e.function === name && e.at >= t0 && e.to === 8)
    const lat = served.map((o) => o.ms).sort((a, b) => a - b)
    return { served: served.length, refused: refused.length, other, lost: unsettled, t0, end, atMax, lat, fillMs }
  }
  const auto = await burst('burst', { min: 0 })
  const fixed = await burst('fixedburst', { min: 8 })
  report('j', 'autoscaled: served (200)', auto.served, N)
  report('j', 'autoscaled: refused 503 + Retry-After', auto.refused, N)
  report('j', 'autoscaled: lost or other answers', auto.lost + auto.other, undefined, '= 0')
  report('j', 'pre-warmed: served (200)', fixed.served, N)
  report('j', 'pre-warmed: lost or other answers', fixed.lost + fixed.other, undefined, '= 0')
  // Baseline: deploying the pre-warmed pool, i.e. making the same 8 instances with no traffic.
  report('j', 'time to reach max 8 under the burst (ms)', auto.atMax ? auto.atMax.at - auto.t0 : NaN, fixed.fillMs)
  report('j', 'burst answered in (ms): autoscaled vs pre-warmed', auto.end - auto.t0, fixed.end - fixed.t0)
  report('j', 'served latency p50 (ms)', pct(auto.lat, 50), pct(fixed.lat, 50))
  report('j', 'served latency p99 (ms)', pct(auto.lat, 99), pct(fixed.lat, 99))
  // Back to min: from the last answer until the pool is at 0 again (idleTimeoutMs 2 s).
  const deadline = performance.now() + IDLE_MS * 5
  while (runtime.stats().functions.burst.instances > 0 && performance.now() < deadline) {
    await new Promise((r) => setTimeout(r, 10))
  }
  const atMin = scale.find((e) => e.function === 'burst' && e.at >= auto.end && e.to === 0)
  report(
    'g',
    'time back to min 0 after the burst (ms)',
    atMin ? atMin.at - auto.end : NaN,
    IDLE_MS,
    `idleTimeoutMs + <= ${INTERVAL_MS} ms`,
  )
  await runtime.close()
}
