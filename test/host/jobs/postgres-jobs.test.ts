// The worker on real databases: LISTEN wake-ups and what happens when the listening connection
// dies, transactions, the database's clock, and a pool connection ended by the server.
import { sql } from 'kysely'
import pg from 'pg'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { PostgresJobStore } from '../../../src/host/jobs/postgres-jobs.js'
import { toJobRequest } from '../../../src/host/jobs/validate.js'
import { PgListener, type ListenClient } from '../../../src/storage/pg-listener.js'
import { openSql, type SqlDatabase } from '../../../src/storage/sql.js'
import { JobWorker } from '../../../src/triggers/jobs/worker.js'
import { ManualClock } from '../../helpers/manual-clock.js'
import { describeOn, testPostgres } from '../../helpers/postgres.js'

const server = await testPostgres('jobsworker')

let cleanups: (() => Promise<unknown>)[] = []
afterEach(async () => {
  for (const fn of cleanups.reverse()) await fn()
  cleanups = []
})

function transactionSuite(get: () => SqlDatabase) {
  it('an enqueue in a rolled-back transaction never runs; a committed one runs after the commit', async () => {
    const database = get()
    const store = new PostgresJobStore(database.db, { notifications: database })
    const ran: unknown[] = []
    const worker = new JobWorker({
      store,
      tasks: ['t'],
      pollIntervalMs: 50,
      handler: async (job) => void ran.push(job.payload),
    })
    await worker.start()
    cleanups.push(() => worker.close())

    const rolled = await database.db.startTransaction().execute()
    const ghost = await store.using(rolled).enqueue(toJobRequest('t', 'rolled back'))
    await rolled.rollback().execute()

    const trx = await database.db.startTransaction().execute()
    const kept = await store.using(trx).enqueue(toJobRequest('t', 'committed'))
    await sql`select pg_sleep(0.2)`.execute(trx) // the worker polls meanwhile: it must not see it
    expect(ran).toEqual([])
    await trx.commit().execute()
    await expect.poll(() => ran).toEqual(['committed'])
    expect(await store.get(ghost.id)).toBeUndefined()
    expect(await store.get(kept.id)).toMatchObject({ state: 'completed' })
  })
}

describe('PGlite', () => {
  let database: SqlDatabase
  beforeAll(async () => {
    database = await openSql({ pglite: 'memory://' })
  })
  afterAll(() => database?.close())

  transactionSuite(() => database)

  it('vacuums the jobs table after a sweep when asked (PGlite has no autovacuum)', async () => {
    const store = new PostgresJobStore(database.db, { vacuum: true })
    await store.enqueue(toJobRequest('t', {}))
    const [job] = await store.claim({ workerId: 'w', tasks: ['t'], versions: [], limit: 1, leaseMs: 1000 })
    await store.complete(job!)
    const count = async () =>
      (
        await sql<{ n: number }>`select coalesce(vacuum_count, 0)::int as n from pg_stat_user_tables
          where relname = 'fnbox_jobs'`.execute(database.db)
      ).rows[0]!.n
    const before = await count()
    await store.sweep()
    expect(await count()).toBe(before + 1)
  })
})

describeOn(server, 'server Postgres', () => {
  let url: string
  let shared: SqlDatabase
  beforeAll(async () => {
    url = await server.url()
    shared = await openSql({ postgres: url })
  })
  afterAll(() => shared?.close())

  transactionSuite(() => shared)

  it('runAt and delayMs follow the database clock', async () => {
    const database = await openSql({ postgres: url })
    cleanups.push(() => database.close())
    const store = new PostgresJobStore(database.db)
    const { id } = await store.enqueue(toJobRequest('clock', {}, { delayMs: 5000 }))
    const { rows } = await sql<{ delay: number; early: boolean }>`
      select extract(epoch from run_at - created_at) * 1000 as delay, run_at > now() as early
      from fnbox_jobs where id = ${id}`.execute(database.db)
    expect(Number(rows[0]!.delay)).toBe(5000)
    expect(rows[0]!.early).toBe(true)
    expect(await store.claim({ workerId: 'w', tasks: ['clock'], versions: [], limit: 1, leaseMs: 1000 })).toEqual([])
  })

  it('the listening connection killed: jobs still start within one poll interval, and it comes back', async () => {
    const database = await openSql({ postgres: url })
    cleanups.push(() => database.close())
    // Both clocks move by hand: no poll and no reconnection happens unless the test says so.
    const workerClock = new ManualClock()
    const listenerClock = new ManualClock()
    const listener = new PgListener({
      clock: listenerClock,
      connect: async (): Promise<ListenClient> => {
        const client = new pg.Client({ connectionString: url, application_name: 'fnbox_jobs_test_listener' })
        client.on('error', () => {})
        await client.connect()
        return client
      },
    })
    cleanups.push(() => listener.close())
    const store = new PostgresJobStore(database.db, {
      notifications: { listen: (channel, fn) => listener.listen(channel, fn) },
    })
    const started: string[] = []
    const worker = new JobWorker({
      store,
      tasks: ['t'],
      clock: workerClock,
      pollIntervalMs: 1000,
      handler: async (job) => void started.push(job.payload as string),
    })
    await worker.start()
    cleanups.push(() => worker.close())

    await store.enqueue(toJobRequest('t', 'notified'))
    await expect.poll(() => started).toEqual(['notified'])

    await sql`select pg_terminate_backend(pid) from pg_stat_activity
      where application_name = 'fnbox_jobs_test_listener'`.execute(database.db)
    await expect.poll(() => listener.connected).toBe(false)
    await store.enqueue(toJobRequest('t', 'polled'))
    await new Promise((resolve) => setTimeout(resolve, 300))
    expect(started).toEqual(['notified']) // no notification can come, and no poll ran
    workerClock.advance(1000) // one poll interval
    await expect.poll(() => started).toEqual(['notified', 'polled'])

    listenerClock.advance(5000) // the reconnection's backoff
    await expect.poll(() => listener.connected).toBe(true)
    await store.enqueue(toJobRequest('t', 'notified again'))
    await expect.poll(() => started).toEqual(['notified', 'polled', 'notified again'])
  })

  it('an idle pool connection ended by the server does not crash the host', async () => {
    const database = await openSql({ postgres: url })
    cleanups.push(() => database.close())
    await Promise.all([1, 2, 3].map(() => sql`select pg_sleep(0.05)`.execute(database.db))) // idle clients
    const admin = new pg.Client({ connectionString: url })
    await admin.connect()
    await admin.query(
      `select pg_terminate_backend(pid) from pg_stat_activity where datname = current_database() and pid <> pg_backend_pid()`,
    )
    await admin.end()
    await new Promise((resolve) => setTimeout(resolve, 200)) // the 'error' events arrive
    const { rows } = await sql<{ one: number }>`select 1 as one`.execute(database.db)
    expect(rows).toEqual([{ one: 1 }])
  })
})
