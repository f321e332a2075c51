// Several runtime processes (the built package, each job run in a sandbox) sharing one server
// Postgres: kill -9 mid-job, 2 hosts x 20 concurrency x 10,000 no-op jobs, and a per-second cron
// on 3 hosts with one killed. The engine's own process tests (host-processes.test.ts) cover the
// same with bare handlers, plus a stale (SIGSTOPped) worker and kill -9 on PGlite.
import { sql } from 'kysely'
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest'
import { openSql, type SqlDatabase } from '../../../src/storage/sql.js'
import { expectOneJobPerSecondSlot } from '../../helpers/cron-slots.js'
import { describeOn, testPostgres } from '../../helpers/postgres.js'
import { RuntimeHost } from './runtime-host-process.js'

const server = await testPostgres('runtime_hosts')
describeOn(server, 'runtime processes on server Postgres', () => {
  let url: string
  let database: SqlDatabase
  let hosts: RuntimeHost[] = []

  beforeAll(async () => {
    url = await server.url()
    database = await openSql({ postgres: url })
  })
  afterAll(() => database?.close())
  afterEach(async () => {
    for (const host of hosts) host.child.kill('SIGKILL')
    await Promise.all(hosts.map((h) => h.exited))
    hosts = []
    await sql`truncate fnbox_jobs, fnbox_job_workers, fnbox_cron`.execute(database.db)
  })

  const start = async (config: Record<string, unknown>): Promise<RuntimeHost> => {
    const host = await RuntimeHost.start({ url, ...config }, (started) => hosts.push(started))
    return host
  }
  const count = async (where: string): Promise<number> =>
    (await sql<{ n: number }>`select count(*)::int as n from fnbox_jobs where ${sql.raw(where)}`.execute(database.db))
      .rows[0]!.n

  it('kill -9 mid-job: another host reruns it after the lease; one completion recorded', async () => {
    const victim = await start({ leaseMs: 1000, pollIntervalMs: 200 })
    await sql`insert into fnbox_jobs (task, payload) values ('hang', '{}')`.execute(database.db)
    await victim.until((m) => m.type === 'started')
    victim.child.kill('SIGKILL')
    await victim.exited
    const rescuer = await start({ leaseMs: 1000, pollIntervalMs: 200 })
    await expect.poll(() => count(`task = 'hang' and state = 'completed'`), { timeout: 20_000 }).toBe(1)
    const { rows } = await sql<{ attempts: number }>`select attempts from fnbox_jobs`.execute(database.db)
    expect(rows).toEqual([{ attempts: 2 }])
    await rescuer.close()
    expect(rescuer.ends).toEqual([expect.objectContaining({ attempt: 2, kind: 'completed' })])
  }, 60_000)

  it('a stale host paused past its lease cannot complete: it learns it lost the job and records nothing', async () => {
    const stale = await start({ leaseMs: 600, pollIntervalMs: 100 })
    await sql`insert into fnbox_jobs (task, payload) values ('hang', '{}')`.execute(database.db)
    await stale.until((m) => m.type === 'started')
    stale.child.kill('SIGSTOP') // no heartbeats: its lease runs out
    const rescuer = await start({ leaseMs: 600, pollIntervalMs: 100 })
    await expect.poll(() => count(`task = 'hang' and state = 'completed'`), { timeout: 20_000 }).toBe(1)
    stale.child.kill('SIGCONT') // its next heartbeat finds the lease gone: the run is stopped
    await stale.until((m) => m.type === 'ends' && m.ends.length > 0)
    expect(stale.ends).toEqual([expect.objectContaining({ attempt: 1, kind: 'lost' })])
    const { rows } = await sql<{ attempts: number; token: number }>`select attempts, token from fnbox_jobs`.execute(
      database.db,
    )
    expect(rows).toEqual([{ attempts: 2, token: 2 }])
    await Promise.all([stale.close(), rescuer.close()])
  }, 60_000)

  it('2 hosts x 20 concurrency x 10,000 jobs in sandboxes: every job runs once, none twice at once, nothing left locked', async () => {
    const a = await start({ concurrency: 20 })
    const b = await start({ concurrency: 20 })
    await sql`insert into fnbox_jobs (task, payload) select 'noop', jsonb_build_object('i', g)
      from generate_series(1, 10000) g`.execute(database.db)
    await expect.poll(() => count(`state = 'completed'`), { timeout: 90_000, interval: 250 }).toBe(10_000)
    await Promise.all([a.close(), b.close()])
    const ends = [...a.ends, ...b.ends]
    expect(ends).toHaveLength(10_000)
    expect(new Set(ends.map((e) => e.id)).size).toBe(10_000)
    expect(ends.every((e) => e.kind === 'completed')).toBe(true)
    expect(a.ends.length).toBeGreaterThan(0)
    expect(b.ends.length).toBeGreaterThan(0)
    expect([...a.messages, ...b.messages].filter((m) => m.type === 'overlap' || m.type === 'error')).toEqual([])
    expect(await count(`token <> 1 or attempts <> 1 or locked_by is not null or locked_until is not null`)).toBe(0)
    await sql`select id from fnbox_jobs for update nowait`.execute(database.db)
  }, 150_000)

  it('3 hosts on a per-second cron, one killed midway: each slot fires exactly once and runs', async () => {
    const config = { cron: true, leaseMs: 2000, pollIntervalMs: 200 }
    const three = [await start(config), await start(config), await start(config)]
    const ticks = `task = 'fnbox.cron:worker.tick'`
    await expect.poll(() => count(ticks), { timeout: 15_000, interval: 100 }).toBeGreaterThanOrEqual(4)
    three[0]!.child.kill('SIGKILL')
    await expect.poll(() => count(ticks), { timeout: 20_000, interval: 100 }).toBeGreaterThanOrEqual(11)
    // The killed host may have died holding a tick: its lease runs out and a survivor reruns it.
    await expect
      .poll(() => count(`${ticks} and state <> 'completed' and run_at < now() - interval '4 seconds'`), {
        timeout: 20_000,
        interval: 200,
      })
      .toBe(0)
    // Completed while the survivors run (after close, a tick they had just claimed is released,
    // not completed): polled, since the newest slots may still be running on a loaded machine.
    await expect
      .poll(() => count(`${ticks} and state = 'completed'`), { timeout: 20_000, interval: 200 })
      .toBeGreaterThanOrEqual(11)
    await Promise.all([three[1]!.close(), three[2]!.close()])
    // One job per slot, every second from the first to the last.
    await expectOneJobPerSecondSlot(database.db, 'fnbox.cron:worker.tick', 11)
  }, 90_000)
})
