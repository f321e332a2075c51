// Several host processes sharing one server Postgres (a database of this file's own): kill -9 and
// SIGSTOP mid-job, 2 hosts x 20 slots x 10,000 jobs, and a per-second cron on 3 hosts, one killed.
// And kill -9 of a host on embedded PGlite: no job whose enqueue resolved is lost.
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { sql } from 'kysely'
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { LEASE_EXPIRED_ERROR } from '../../../src/host/jobs/jobs.js'
import { PostgresJobStore } from '../../../src/host/jobs/postgres-jobs.js'
import { toJobRequest } from '../../../src/host/jobs/validate.js'
import { openSql, type SqlDatabase } from '../../../src/storage/sql.js'
import { expectOneJobPerSecondSlot } from '../../helpers/cron-slots.js'
import { describeOn, testPostgres } from '../../helpers/postgres.js'
import type { HostConfig } from './fixtures/job-host.js'
import { HostProcess, hostScript } from './host-processes.js'

const server = await testPostgres('hosts')

describeOn(server, 'host processes on server Postgres', () => {
  let url: string
  let database: SqlDatabase
  let store: PostgresJobStore
  let hosts: HostProcess[] = []
  const retry = { minDelayMs: 50, maxDelayMs: 100, factor: 2, jitter: true }

  beforeAll(async () => {
    url = await server.url()
    database = await openSql({ postgres: url })
    store = new PostgresJobStore(database.db)
    await hostScript()
  })
  afterAll(() => database?.close())
  beforeEach(async () => {
    await sql`truncate fnbox_jobs, fnbox_job_workers, fnbox_cron`.execute(database.db)
  })
  afterEach(async () => {
    for (const host of hosts) {
      host.signal('SIGCONT')
      host.signal('SIGKILL')
    }
    await Promise.all(hosts.map((h) => h.exited))
    hosts = []
  })

  const start = async (config: Omit<HostConfig, 'url'>): Promise<HostProcess> => {
    const host = await HostProcess.start({ url, ...config })
    hosts.push(host)
    return host
  }
  const completions = (id: string) => hosts.flatMap((h) => h.ends.filter((e) => e.id === id && e.kind === 'completed'))

  it('kill -9 mid-job: another host reruns it after the lease; one completion recorded', async () => {
    const victim = await start({ tasks: ['work'], behaviour: 'hang', leaseMs: 1000, pollIntervalMs: 200, retry })
    const { id } = await store.enqueue(toJobRequest('work', {}))
    await victim.until((m) => m.type === 'started' && m.id === id)
    victim.signal('SIGKILL')
    await victim.exited
    const rescuer = await start({ tasks: ['work'], leaseMs: 1000, pollIntervalMs: 200, retry })
    await expect.poll(async () => (await store.get(id))?.state, { timeout: 15_000 }).toBe('completed')
    expect(await store.get(id)).toMatchObject({ attempts: 2, lastError: LEASE_EXPIRED_ERROR })
    await rescuer.close()
    expect(completions(id)).toEqual([{ id, token: 2, kind: 'completed' }])
  })

  it('a stale host paused past its lease cannot complete: its completion changes nothing', async () => {
    const stale = await start({
      tasks: ['work'],
      behaviour: 'sleep',
      sleepMs: 1500,
      leaseMs: 600,
      pollIntervalMs: 100,
      retry,
    })
    const { id } = await store.enqueue(toJobRequest('work', {}))
    await stale.until((m) => m.type === 'started' && m.id === id)
    stale.signal('SIGSTOP') // no heartbeats, no completion, its lease runs out
    const rescuer = await start({ tasks: ['work'], leaseMs: 600, pollIntervalMs: 100, retry })
    await expect.poll(async () => (await store.get(id))?.state, { timeout: 15_000 }).toBe('completed')
    stale.signal('SIGCONT') // its handler's time is long past: it tries to finish
    await stale.until((m) => m.type === 'ends' && m.ends.some((e) => e.id === id))
    expect(stale.ends).toEqual([{ id, token: 1, kind: 'lost' }])
    expect(completions(id)).toEqual([{ id, token: 2, kind: 'completed' }])
    expect(await store.get(id)).toMatchObject({ state: 'completed', attempts: 2 })
    await Promise.all([stale.close(), rescuer.close()])
  })

  it('2 hosts x 20 concurrency x 10,000 jobs: every job runs once, none twice at once, nothing left locked', async () => {
    const a = await start({ tasks: ['noop'], concurrency: 20 })
    const b = await start({ tasks: ['noop'], concurrency: 20 })
    await sql`insert into fnbox_jobs (task, payload) select 'noop', jsonb_build_object('i', g)
      from generate_series(1, 10000) g`.execute(database.db)
    await expect
      .poll(
        async () =>
          (
            await sql<{ n: number }>`select count(*)::int as n from fnbox_jobs where state = 'completed'`.execute(
              database.db,
            )
          ).rows[0]!.n,
        { timeout: 45_000, interval: 200 },
      )
      .toBe(10_000)
    await Promise.all([a.close(), b.close()])
    const ends = [...a.ends, ...b.ends]
    expect(ends).toHaveLength(10_000)
    expect(new Set(ends.map((e) => e.id)).size).toBe(10_000)
    expect(ends.every((e) => e.kind === 'completed')).toBe(true)
    expect(a.ends.length).toBeGreaterThan(0)
    expect(b.ends.length).toBeGreaterThan(0)
    expect([...a.messages, ...b.messages].filter((m) => m.type === 'overlap' || m.type === 'error')).toEqual([])
    // Each job was claimed exactly once (one token), and no row is locked or leased.
    const { rows } = await sql<{ claims: number; leased: number }>`
      select count(*) filter (where token <> 1 or attempts <> 1)::int as claims,
             count(*) filter (where locked_by is not null or locked_until is not null)::int as leased
      from fnbox_jobs`.execute(database.db)
    expect(rows[0]).toEqual({ claims: 0, leased: 0 })
    await sql`select id from fnbox_jobs for update nowait`.execute(database.db)
    expect((await sql`select id from fnbox_job_workers`.execute(database.db)).rows).toEqual([])
  })

  it('3 hosts on a per-second cron, one killed midway: each slot fires exactly once and runs', async () => {
    const config = { tasks: ['tick'], cron: 'every-second', leaseMs: 2000, pollIntervalMs: 200, retry }
    const three = [await start(config), await start(config), await start(config)]
    const firstSlot = async () =>
      (await sql<{ n: number }>`select count(*)::int as n from fnbox_jobs where task = 'tick'`.execute(database.db))
        .rows[0]!.n
    await expect.poll(firstSlot, { timeout: 10_000, interval: 100 }).toBeGreaterThanOrEqual(5)
    three[0]!.signal('SIGKILL')
    await expect.poll(firstSlot, { timeout: 15_000, interval: 100 }).toBeGreaterThanOrEqual(11)
    await Promise.all([three[1]!.stopCron(), three[2]!.stopCron()])
    // The killed host may have died holding a tick job: its lease runs out and a survivor reruns it.
    const unfinished = async () =>
      (
        await sql<{
          n: number
        }>`select count(*)::int as n from fnbox_jobs where task = 'tick' and state <> 'completed'`.execute(database.db)
      ).rows[0]!.n
    await expect.poll(unfinished, { timeout: 15_000, interval: 100 }).toBe(0)
    await Promise.all([three[1]!.close(), three[2]!.close()])
    // One job per slot, every second from the first to the last.
    await expectOneJobPerSecondSlot(database.db, 'tick', 11)
  })
})

describe('a host process on PGlite', () => {
  it('kill -9 while enqueueing loses no job whose enqueue resolved', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'fnbox-jobs-durable-'))
    try {
      const host = await HostProcess.start({ url: `pglite:${dir}`, tasks: [] })
      host.enqueue(1000)
      await expect.poll(() => host.enqueued.length, { timeout: 30_000, interval: 20 }).toBeGreaterThanOrEqual(50)
      host.signal('SIGKILL')
      await host.exited
      const acknowledged = host.enqueued
      const database = await openSql({ pglite: dir })
      try {
        const store = new PostgresJobStore(database.db)
        const found = await Promise.all(acknowledged.map((id) => store.get(id)))
        expect(found.filter((job) => job?.state !== 'queued')).toEqual([])
      } finally {
        await database.close()
      }
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })
})
