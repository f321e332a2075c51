import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { Registry } from 'prom-client'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { createRuntime, isFnboxError, type Runtime } from 'fnbox'

let upstream: Server
let port = 0

beforeAll(async () => {
  upstream = createServer((req, res) => {
    res.statusCode = req.url === '/missing' ? 404 : 200
    res.end('x')
  })
  await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve))
  port = (upstream.address() as AddressInfo).port
})

afterAll(async () => {
  await new Promise((resolve) => upstream?.close(resolve))
})

type Sample = { labels: Record<string, string | number>; value: number; metricName?: string }

/** The value of one series (`metricName` picks a histogram's `_count`/`_sum`/`_bucket`), or undefined. */
async function value(
  registry: Registry,
  name: string,
  labels: Record<string, string | number>,
  metricName = name,
): Promise<number | undefined> {
  const metric = registry.getSingleMetric(name)
  if (!metric) throw new Error(`no metric ${name}`)
  const { values } = (await metric.get()) as { values: Sample[] }
  const match = values.find(
    (v) =>
      (v.metricName ?? name) === metricName &&
      Object.entries(labels).every(([k, l]) => String(v.labels[k]) === String(l)) &&
      Object.keys(v.labels).filter((k) => k !== 'le').length === Object.keys(labels).length,
  )
  return match?.value
}

describe('metrics after a scripted workload', () => {
  let runtime: Runtime
  const registry = new Registry()

  beforeAll(async () => {
    runtime = await createRuntime({ threads: 1, storage: 'memory', logger: false, metrics: { registry } })
  })

  afterAll(async () => {
    await runtime?.close()
  })

  it('count invocations by function, version, trigger and outcome, with durations, waits and host calls', async () => {
    const { version } = await runtime.deploy('work', {
      allowedHosts: [`127.0.0.1:${port}`],
      code: `
        import { kv } from 'fnbox:host'
        export default { async fetch(req) {
          await kv.set('k', 1)
          await kv.get('k')
          const found = await fetch('http://127.0.0.1:${port}/ok')
          const missing = await fetch('http://127.0.0.1:${port}/missing')
          await found.text(); await missing.text()
          return new Response('ok')
        } }
        export const add = (a, b) => a + b
        export function boom() { throw new Error('boom') }`,
    })
    for (let i = 0; i < 3; i++) expect((await runtime.fetch(new Request('http://localhost/work'))).status).toBe(200)
    expect(await runtime.call('work', 'add', 1, 2)).toBe(3)
    expect(await runtime.call('work', 'add', 3, 4)).toBe(7)
    await expect(runtime.call('work', 'boom')).rejects.toMatchObject({ code: 'ERR_GUEST_EXCEPTION' })

    // An HTTP invocation ends just after its body is complete.
    await vi.waitFor(async () => {
      expect(
        await value(registry, 'fnbox_invocations_total', { function: 'work', version, trigger: 'http', outcome: 'ok' }),
      ).toBe(3)
    })
    expect(
      await value(registry, 'fnbox_invocations_total', { function: 'work', version, trigger: 'call', outcome: 'ok' }),
    ).toBe(2)
    expect(
      await value(registry, 'fnbox_invocations_total', {
        function: 'work',
        version,
        trigger: 'call',
        outcome: 'ERR_GUEST_EXCEPTION',
      }),
    ).toBe(1)
    const durations = 'fnbox_invocation_duration_seconds'
    expect(await value(registry, durations, { function: 'work', trigger: 'http' }, `${durations}_count`)).toBe(3)
    expect(await value(registry, durations, { function: 'work', trigger: 'call' }, `${durations}_count`)).toBe(3)
    const waits = 'fnbox_pool_wait_seconds'
    expect(await value(registry, waits, { function: 'work' }, `${waits}_count`)).toBe(6)
    expect(await value(registry, 'fnbox_cold_starts_total', { function: 'work' })).toBeGreaterThanOrEqual(1)
    const host = 'fnbox_host_call_duration_seconds'
    expect(await value(registry, host, { domain: 'kv', operation: 'set' }, `${host}_count`)).toBe(3)
    expect(await value(registry, host, { domain: 'kv', operation: 'get' }, `${host}_count`)).toBe(3)
    const upstreamLabel = `127.0.0.1:${port}`
    expect(await value(registry, 'fnbox_egress_requests_total', { upstream: upstreamLabel, status: 200 })).toBe(3)
    expect(await value(registry, 'fnbox_egress_requests_total', { upstream: upstreamLabel, status: 404 })).toBe(3)

    // Gauges read at scrape time.
    expect(await value(registry, 'fnbox_instances', { function: 'work', state: 'idle' })).toBeGreaterThanOrEqual(1)
    expect(await value(registry, 'fnbox_instances', { function: 'work', state: 'in_use' })).toBe(0)
    expect(await value(registry, 'fnbox_queue_depth', { function: 'work' })).toBe(0)
    expect(await value(registry, 'fnbox_breaker_state', { function: 'work' })).toBe(0)
    expect(await value(registry, 'fnbox_executor_threads', {})).toBe(1)
    expect(await value(registry, 'fnbox_executor_memory_bytes', {})).toBeGreaterThan(0)

    // The exposition text is the registry's.
    const text = await runtime.metrics()
    expect(text).toBe(await registry.metrics())
    expect(text).toContain(
      `fnbox_invocations_total{function="work",version="${version}",trigger="http",outcome="ok"} 3`,
    )
    expect(text).toContain('# TYPE fnbox_invocation_duration_seconds histogram')
    expect(text).toContain('fnbox_pool_wait_seconds_bucket{function="work",le="+Inf"} 6')
    expect(text).toContain('fnbox_pool_wait_seconds_count{function="work"} 6')
  })

  it('count quota rejections, and refused calls as invocations with their code', async () => {
    const { version } = await runtime.deploy('limited', {
      code: `export const ping = () => 'pong'`,
      quota: { dailyExecutions: 2 },
    })
    await runtime.call('limited', 'ping')
    await runtime.call('limited', 'ping')
    const refused = await runtime.call('limited', 'ping').catch((err: unknown) => err)
    expect(isFnboxError(refused, 'ERR_RATE_LIMITED')).toBe(true)
    expect(await value(registry, 'fnbox_quota_rejections_total', { function: 'limited' })).toBe(1)
    expect(
      await value(registry, 'fnbox_invocations_total', {
        function: 'limited',
        version,
        trigger: 'call',
        outcome: 'ERR_RATE_LIMITED',
      }),
    ).toBe(1)
    const durations = 'fnbox_invocation_duration_seconds'
    expect(await value(registry, durations, { function: 'limited', trigger: 'call' }, `${durations}_count`)).toBe(2)
  })

  it('label a job run with trigger job', async () => {
    const { version } = await runtime.deploy('worker', {
      code: `import { kv } from 'fnbox:host'
        export async function resize({ n }) { await kv.set('resized:' + n, true) }`,
      jobs: { resize: 'resize' },
    })
    await runtime.jobs.enqueue('resize', { n: 1 })
    await expect.poll(() => runtime.kv.get('resized:1'), { timeout: 15_000 }).toBe(true)
    await vi.waitFor(async () => {
      expect(
        await value(registry, 'fnbox_invocations_total', {
          function: 'worker',
          version,
          trigger: 'job',
          outcome: 'ok',
        }),
      ).toBe(1)
    })
  })

  it('count jobs by state in fnbox_jobs, read from the job store at scrape time', async () => {
    await runtime.deploy('gauged', {
      code: `export async function work() {}
        export async function boom() { throw new Error('no') }`,
      jobs: { 'gauge.work': 'work', 'gauge.boom': 'boom' },
    })
    const done = await runtime.jobs.enqueue('gauge.work', {})
    const dead = await runtime.jobs.enqueue('gauge.boom', {}, { maxAttempts: 1 })
    const later = await runtime.jobs.enqueue('gauge.work', {}, { delayMs: 3_600_000 })
    await expect.poll(() => runtime.jobs.get(done.id).then((j) => j?.state), { timeout: 15_000 }).toBe('completed')
    await expect.poll(() => runtime.jobs.get(dead.id).then((j) => j?.state), { timeout: 15_000 }).toBe('dead')
    expect((await runtime.jobs.get(later.id))?.state).toBe('queued')
    const states = await runtime.jobs.list({ limit: 1000 })
    const expected: Record<string, number> = {}
    for (const job of states.jobs) expected[job.state] = (expected[job.state] ?? 0) + 1
    for (const [state, n] of Object.entries(expected)) {
      expect(await value(registry, 'fnbox_jobs', { state })).toBe(n)
    }
    expect(expected.queued).toBeGreaterThanOrEqual(1)
    expect(expected.dead).toBeGreaterThanOrEqual(1)
  })

  it('keep the series of the last three versions of a function only', async () => {
    const versions: string[] = []
    for (let i = 0; i < 4; i++) {
      const { version } = await runtime.deploy('versioned', { code: `export const v = () => ${i}` })
      versions.push(version)
      expect(await runtime.call('versioned', 'v')).toBe(i)
    }
    const counts = await Promise.all(
      versions.map((version) =>
        value(registry, 'fnbox_invocations_total', { function: 'versioned', version, trigger: 'call', outcome: 'ok' }),
      ),
    )
    expect(counts).toEqual([undefined, 1, 1, 1])
  })

  it('refuse a registry that already holds another runtime’s metrics, with a typed error', async () => {
    await expect(createRuntime({ threads: 1, storage: 'memory', metrics: { registry } })).rejects.toMatchObject({
      code: 'ERR_INVALID_OPTION',
    })
  })
})

describe('metrics options', () => {
  it('are on by default in the runtime’s own registry; false turns them off', async () => {
    const on = await createRuntime({ threads: 1, storage: 'memory', logger: false })
    const off = await createRuntime({ threads: 1, storage: 'memory', logger: false, metrics: false })
    try {
      await on.deploy('a', { code: `export const f = () => 1` })
      await on.call('a', 'f')
      expect(await on.metrics()).toMatch(
        /fnbox_invocations_total\{function="a",version="[0-9a-f]{16}",trigger="call",outcome="ok"\} 1/,
      )
      await off.deploy('a', { code: `export const f = () => 1` })
      await off.call('a', 'f')
      expect(await off.metrics()).toBe('')
    } finally {
      await Promise.all([on.close(), off.close()])
    }
  })

  it('reject a value that is not a registry', async () => {
    await expect(
      createRuntime({ threads: 1, storage: 'memory', metrics: { registry: {} as Registry } }),
    ).rejects.toMatchObject({
      code: 'ERR_INVALID_OPTION',
      message: expect.stringContaining('options.metrics.registry'),
    })
  })
})
