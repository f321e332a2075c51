/**
 * Background work through the runtime, on every backend: the guest's `jobs.enqueue` (also inside
 * `tx`), `runtime.jobs`, `deploy({ jobs, cron, hooks })`, `runtime.hooks`, `ctx.job`,
 * `limits.jobTimeoutMs`, `close()`, `jobs: false`, `adapters.jobs`, and on server Postgres
 * table hooks and secrets shared across hosts.
 */
import pg from 'pg'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { createRuntime, type Runtime, type RuntimeOptions } from 'fnbox'
import { MemoryJobStore } from '../../../src/host/jobs/memory-jobs.js'
import { describeOn, testBackends } from '../../helpers/backends.js'
import { testPostgres } from '../../helpers/postgres.js'

const server = await testPostgres('runtime_jobs')

const CODE = `
import { kv, jobs, tx } from 'fnbox:host'
const outcome = async (run) => { try { return { ok: await run() } } catch (e) { return { code: e.code, message: e.message } } }

export const enqueue = (task, payload, options) => outcome(() => jobs.enqueue(task, payload, options))
export const enqueueInTx = (task, payload, fail) => outcome(() => tx(async (t) => {
  const r = await t.jobs.enqueue(task, payload)
  await t.kv.set('tx:' + payload.n, true)
  if (fail) throw new Error('rolled back')
  return r
}))
export async function resize(payload, ctx) {
  await kv.set('ran:' + payload.n, { payload, job: ctx.job })
}
export async function flaky(payload, ctx) {
  throw new Error('flaky attempt ' + ctx.job.attempt)
}
export async function slow(payload) {
  await kv.set('slow:started', true)
  await new Promise((resolve) => setTimeout(resolve, payload.ms))
  await kv.set('slow:done', true)
}
export async function tick({ scheduledTime }, ctx) {
  await kv.set('tick:' + scheduledTime, ctx.job.task)
}
export async function onOrder(payload, ctx) {
  await kv.set('order:a:' + (payload.id ?? payload.row?.id), payload)
}
`
const HOOKS_B = `
import { kv } from 'fnbox:host'
export async function onOrder(payload) {
  if (payload.veto) throw new Error('vetoed')
  await kv.set('order:b:' + (payload.id ?? payload.row?.id), true)
}
`

const JOBS = { concurrency: 4, pollIntervalMs: 100 }
const DEPLOY = {
  code: CODE,
  jobs: { resize: 'resize', flaky: 'flaky', slow: 'slow' },
  hooks: { 'order.created': 'onOrder' },
}

for (const backend of await testBackends('runtime_jobs')) {
  describeOn(backend, `background work on ${backend.name}`, () => {
    let runtime: Runtime

    beforeAll(async () => {
      runtime = await createRuntime({ threads: 1, jobs: JOBS, ...(await backend.runtimeOptions()) })
      await runtime.deploy('images', DEPLOY)
      await runtime.deploy('audit', { code: HOOKS_B, hooks: { 'order.created': 'onOrder' } })
    }, 60_000)
    afterAll(() => runtime?.close())

    it('a guest enqueue runs the task export with its payload and ctx.job; get shows it completed', async () => {
      const r = await runtime.call<{ ok: { id: string; deduplicated: boolean } }>('images', 'enqueue', 'resize', {
        n: 1,
      })
      expect(r.ok.deduplicated).toBe(false)
      await expect.poll(() => runtime.jobs.get(r.ok.id).then((j) => j?.state), { timeout: 10_000 }).toBe('completed')
      const ran = await runtime.kv.get<{ payload: { n: number }; job: Record<string, string | number> }>('ran:1')
      expect(ran).toMatchObject({ payload: { n: 1 }, job: { id: r.ok.id, task: 'resize', attempt: 1, maxAttempts: 5 } })
      expect(Date.parse(ran!.job.scheduledTime as string)).not.toBeNaN()
      expect(await runtime.jobs.get(r.ok.id)).toMatchObject({ task: 'resize', attempts: 1, lastError: null })
    })

    it('bad enqueue arguments reach the guest as typed errors', async () => {
      expect(await runtime.call('images', 'enqueue', 'bad task!', {})).toMatchObject({ code: 'ERR_INVALID_ARGUMENT' })
      expect(await runtime.call('images', 'enqueue', 'resize', {}, { priority: 5000 })).toMatchObject({
        code: 'ERR_INVALID_ARGUMENT',
      })
      expect(await runtime.call('images', 'enqueue', 'fnbox.cron:x.y', {})).toMatchObject({
        code: 'ERR_INVALID_ARGUMENT',
      })
    })

    it('an enqueue inside tx commits with the data, or not at all', async () => {
      const kept = await runtime.call<{ ok: { id: string } }>('images', 'enqueueInTx', 'resize', { n: 2 }, false)
      const dropped = await runtime.call<{ message: string }>('images', 'enqueueInTx', 'resize', { n: 3 }, true)
      expect(dropped.message).toMatch(/rolled back/)
      await expect.poll(() => runtime.kv.get('ran:2'), { timeout: 10_000 }).toBeTruthy()
      expect(await runtime.kv.get('tx:2')).toBe(true)
      expect(await runtime.kv.get('tx:3')).toBeUndefined()
      const { jobs } = await runtime.jobs.list({ task: 'resize', limit: 1000 })
      expect(jobs.map((j) => j.id)).toContain(kept.ok.id)
      // Give a wrongly committed job time to run: it must not.
      await new Promise((resolve) => setTimeout(resolve, 300))
      expect(await runtime.kv.get('ran:3')).toBeUndefined()
    })

    it('a failing task is retried, then dead with its last error', async () => {
      const { id } = await runtime.jobs.enqueue('flaky', {}, { maxAttempts: 2 })
      await expect.poll(() => runtime.jobs.get(id).then((j) => j?.state), { timeout: 15_000 }).toBe('dead')
      expect(await runtime.jobs.get(id)).toMatchObject({
        attempts: 2,
        lastError: expect.stringMatching(/flaky attempt 2/),
      })
    })

    it('runtime.jobs: enqueue with a key dedupes while queued; cancel; list; garbage ids find nothing', async () => {
      const a = await runtime.jobs.enqueue('resize', { n: 4 }, { delayMs: 60_000, key: 'k4' })
      const b = await runtime.jobs.enqueue('resize', { n: 4 }, { delayMs: 60_000, key: 'k4' })
      expect(b).toEqual({ id: a.id, deduplicated: true })
      expect(await runtime.jobs.cancel(a.id)).toBe(true)
      expect(await runtime.jobs.cancel(a.id)).toBe(false)
      expect(await runtime.jobs.get(a.id)).toMatchObject({ state: 'cancelled' })
      const { jobs } = await runtime.jobs.list({ state: 'cancelled' })
      expect(jobs.map((j) => j.id)).toContain(a.id)
      expect(await runtime.jobs.get('nope')).toBeUndefined()
      await expect(runtime.jobs.list({ state: 'sleeping' as never })).rejects.toMatchObject({
        code: 'ERR_INVALID_ARGUMENT',
      })
    })

    it('a second function claiming a task fails its deploy, naming the first', async () => {
      await expect(runtime.deploy('thief', { code: CODE, jobs: { resize: 'resize' } })).rejects.toMatchObject({
        code: 'ERR_INVALID_OPTION',
        message: expect.stringMatching(/already handled by function "images"/),
        details: { task: 'resize', function: 'images' },
      })
      await expect(runtime.deploy('bad', { code: CODE, jobs: { resize: 'no such-export' } })).rejects.toMatchObject({
        code: 'ERR_INVALID_OPTION',
        details: { option: 'options.jobs.resize' },
      })
      await expect(
        runtime.deploy('bad', { code: CODE, cron: [{ schedule: 'every day', export: 'tick' }] }),
      ).rejects.toMatchObject({ code: 'ERR_INVALID_OPTION', details: { option: 'options.cron[0].schedule' } })
    })

    it('hooks.run runs every subscriber now and rejects if one throws; emit enqueues one job each', async () => {
      await runtime.hooks.run('order.created', { id: 'r1' })
      expect(await runtime.kv.get('order:a:r1')).toEqual({ id: 'r1' })
      expect(await runtime.kv.get('order:b:r1')).toBe(true)
      await expect(runtime.hooks.run('order.created', { id: 'r2', veto: true })).rejects.toMatchObject({
        code: 'ERR_GUEST_EXCEPTION',
        message: expect.stringMatching(/vetoed/),
      })
      const { ids } = await runtime.hooks.emit('order.created', { id: 'e1' })
      expect(ids).toHaveLength(2)
      await expect.poll(() => runtime.kv.get('order:b:e1'), { timeout: 10_000 }).toBe(true)
      await expect.poll(() => runtime.kv.get('order:a:e1'), { timeout: 10_000 }).toEqual({ id: 'e1' })
      expect(await runtime.hooks.emit('nobody.listens', {})).toEqual({ ids: [] })
    })

    it('a per-second cron runs its export once a slot with { scheduledTime }', async () => {
      await runtime.deploy('digest', { code: CODE, cron: [{ schedule: '* * * * * *', export: 'tick' }] })
      try {
        await expect
          .poll(async () => (await runtime.kv.list({ prefix: 'tick:' })).keys.length, { timeout: 10_000 })
          .toBeGreaterThanOrEqual(2)
        const { keys } = await runtime.kv.list({ prefix: 'tick:' })
        for (const { key } of keys) {
          const time = key.slice('tick:'.length)
          expect(new Date(time).getUTCMilliseconds()).toBe(0)
          expect(await runtime.kv.get(key)).toBe('fnbox.cron:digest.tick')
        }
      } finally {
        await runtime.undeploy('digest')
      }
    })
  })
}

describe('jobs in the runtime: limits, versions, close, options', () => {
  const runtimes: Runtime[] = []
  const open = async (options: RuntimeOptions): Promise<Runtime> => {
    const runtime = await createRuntime({ threads: 1, storage: 'memory', jobs: JOBS, ...options })
    runtimes.push(runtime)
    return runtime
  }
  afterEach(async () => {
    await Promise.all(runtimes.splice(0).map((r) => r.close()))
  })

  it('a job past limits.jobTimeoutMs fails with ERR_TIMEOUT naming that limit and its value (calls keep limits.timeoutMs)', async () => {
    const runtime = await open({})
    const timeouts: unknown[] = []
    runtime.on('invoke', (e) => {
      if (e.error === 'ERR_TIMEOUT') timeouts.push(e.errorMessage)
    })
    await runtime.deploy('images', { ...DEPLOY, limits: { jobTimeoutMs: 200, timeoutMs: 1000 } })
    const { id } = await runtime.jobs.enqueue('slow', { ms: 2000 }, { maxAttempts: 1 })
    await expect.poll(() => runtime.jobs.get(id).then((j) => j?.state), { timeout: 10_000 }).toBe('dead')
    expect((await runtime.jobs.get(id))?.lastError).toBe(
      'ERR_TIMEOUT: the function ran past limits.jobTimeoutMs (200 ms)',
    )
    expect(timeouts).toEqual(['the function ran past limits.jobTimeoutMs (200 ms)'])
    // A job's own timeoutMs is named as such.
    const own = await runtime.jobs.enqueue('slow', { ms: 2000 }, { maxAttempts: 1, timeoutMs: 300 })
    await expect.poll(() => runtime.jobs.get(own.id).then((j) => j?.state), { timeout: 10_000 }).toBe('dead')
    expect((await runtime.jobs.get(own.id))?.lastError).toBe(
      "ERR_TIMEOUT: the function ran past the job's timeoutMs (300 ms)",
    )
    // A call still runs under limits.timeoutMs, and says so.
    await expect(runtime.call('images', 'slow', { ms: 3000 })).rejects.toMatchObject({
      code: 'ERR_TIMEOUT',
      details: { option: 'limits.timeoutMs', limit: 1000 },
    })
    // A job's own timeoutMs wins over the function's limit.
    const long = await runtime.jobs.enqueue('slow', { ms: 50 }, { timeoutMs: 5000 })
    await expect.poll(() => runtime.jobs.get(long.id).then((j) => j?.state), { timeout: 10_000 }).toBe('completed')
  })

  it("a job whose version no host runs any more: onVersionGone 'dead' dead-letters it unrun", async () => {
    const runtime = await open({})
    const jobs = { slow: { export: 'slow', onVersionGone: 'dead' as const } }
    await runtime.deploy('images', { code: CODE, jobs })
    const { id } = await runtime.jobs.enqueue('slow', { ms: 1 }, { delayMs: 300 })
    await runtime.deploy('images', { code: CODE + '\n// v2', jobs })
    await expect.poll(() => runtime.jobs.get(id).then((j) => j?.state), { timeout: 10_000 }).toBe('dead')
    expect((await runtime.jobs.get(id))?.lastError).toMatch(/onVersionGone: 'dead'/)
    expect(await runtime.kv.get('slow:started')).toBeUndefined()
  })

  it('jobs: false enqueues but runs nothing; options are checked', async () => {
    const runtime = await open({ jobs: false })
    await runtime.deploy('images', DEPLOY)
    const { id } = await runtime.jobs.enqueue('resize', { n: 1 })
    await new Promise((resolve) => setTimeout(resolve, 300))
    expect(await runtime.jobs.get(id)).toMatchObject({ state: 'queued' })
    await expect(createRuntime({ jobs: { concurrency: 0 } })).rejects.toMatchObject({
      code: 'ERR_INVALID_OPTION',
      details: { option: 'options.jobs.concurrency' },
    })
  })

  it("adapters.jobs takes a user's queue; tx enqueues are then refused", async () => {
    const store = new MemoryJobStore()
    const runtime = await open({ adapters: { jobs: store } })
    await runtime.deploy('images', DEPLOY)
    const r = await runtime.call<{ ok: { id: string } }>('images', 'enqueue', 'resize', { n: 9 })
    expect(await store.get(r.ok.id)).toMatchObject({ task: 'resize' })
    await expect.poll(() => store.get(r.ok.id).then((j) => j?.state), { timeout: 10_000 }).toBe('completed')
    expect(await runtime.call('images', 'enqueueInTx', 'resize', { n: 10 }, false)).toMatchObject({
      code: 'ERR_INVALID_OPTION',
    })
  })

  it('watchTable needs a SQL database', async () => {
    const runtime = await open({})
    await expect(runtime.hooks.watchTable('public.orders', { insert: 'order.created' })).rejects.toMatchObject({
      code: 'ERR_INVALID_OPTION',
    })
  })
})

describeOn(server, 'several hosts on server Postgres', () => {
  const runtimes: Runtime[] = []
  let url: string
  let client: pg.Client
  const open = async (options: RuntimeOptions = {}): Promise<Runtime> => {
    const runtime = await createRuntime({
      threads: 1,
      storage: { postgres: url },
      files: 'memory',
      jobs: JOBS,
      secrets: { key: 'a'.repeat(64) },
      ...options,
    })
    runtimes.push(runtime)
    return runtime
  }
  beforeAll(async () => {
    url = await server.url('hosts')
    client = new pg.Client({ connectionString: url })
    await client.connect()
  })
  afterAll(() => client?.end())
  afterEach(async () => {
    await Promise.all(runtimes.splice(0).map((r) => r.close({ timeoutMs: 100 })))
  })

  it('close() hands a running job back at once; another host runs it', async () => {
    const first = await open()
    await first.deploy('images', DEPLOY)
    const { id } = await first.jobs.enqueue('slow', { ms: 60_000 })
    await expect.poll(() => first.kv.get('slow:started'), { timeout: 10_000 }).toBe(true)
    await first.close({ timeoutMs: 100 })
    const second = await open()
    expect(await second.jobs.get(id)).toMatchObject({ state: 'queued', attempts: 0 })
  })

  it('a host with jobs: false enqueues; a host that deployed the task runs it', async () => {
    const front = await open({ jobs: false })
    const back = await open()
    await front.deploy('images', DEPLOY)
    await back.deploy('images', DEPLOY)
    const r = await front.call<{ ok: { id: string } }>('images', 'enqueue', 'resize', { n: 20 })
    await expect.poll(() => front.jobs.get(r.ok.id).then((j) => j?.state), { timeout: 10_000 }).toBe('completed')
  })

  it('a table hook runs from an inserted row, and none from a rolled-back one', async () => {
    const host = await open()
    await host.deploy('images', DEPLOY)
    await client.query('create table orders (id text primary key, total int)')
    await host.hooks.watchTable('public.orders', { insert: 'order.created' })
    await client.query('begin')
    await client.query(`insert into orders values ('gone', 1)`)
    await client.query('rollback')
    await client.query(`insert into orders values ('o1', 42)`)
    await expect
      .poll(() => host.kv.get('order:a:o1'), { timeout: 10_000 })
      .toMatchObject({
        event: 'order.created',
        table: 'public.orders',
        op: 'insert',
        row: { id: 'o1', total: 42 },
      })
    await new Promise((resolve) => setTimeout(resolve, 300))
    expect(await host.kv.get('order:a:gone')).toBeUndefined()
    await host.hooks.unwatchTable('public.orders')
  })

  it('a secret set on one host reaches the functions of another (NOTIFY)', async () => {
    const code = `import { secrets } from 'fnbox:host'\nexport const read = () => secrets.get('API_KEY') ?? null`
    const a = await open()
    const b = await open()
    await a.secrets.set('API_KEY', 'one')
    await b.deploy('reader', { code, secrets: ['API_KEY'] })
    expect(await b.call('reader', 'read')).toBe('one')
    await a.secrets.set('API_KEY', 'two')
    await expect.poll(() => b.call('reader', 'read'), { timeout: 5000, interval: 50 }).toBe('two')
    await a.secrets.delete('API_KEY')
    await expect.poll(() => b.call('reader', 'read'), { timeout: 5000, interval: 50 }).toBe(null)
  })

  it('a secret changed at once after a deploy on another host still reaches it (the host listened first)', async () => {
    const code = `import { secrets } from 'fnbox:host'\nexport const read = () => secrets.get('RACE_KEY') ?? null`
    const a = await open()
    await a.secrets.set('RACE_KEY', 'one')
    const b = await open()
    await b.deploy('reader', { code, secrets: ['RACE_KEY'] }) // b's storage opens here
    await a.secrets.set('RACE_KEY', 'two')
    await expect.poll(() => b.call('reader', 'read'), { timeout: 5000, interval: 50 }).toBe('two')
  })
})
