// The job store contract on PGlite and server Postgres (a database of this file's own), with a
// manual clock in place of the database's `now()` (in the past: the NOTIFY trigger compares
// `run_at` with the database's own clock).
import { sql } from 'kysely'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { PostgresJobStore } from '../../src/host/jobs/postgres-jobs.js'
import { openSql, type SqlDatabase } from '../../src/storage/sql.js'
import { ManualClock } from '../helpers/manual-clock.js'
import { runJobStoreConformance } from '../../src/testing/conformance/jobs.js'
import { testPostgres } from '../helpers/postgres.js'

const server = await testPostgres('jobs')

async function emptied(database: SqlDatabase): Promise<void> {
  await sql`truncate fnbox_jobs, fnbox_job_workers, fnbox_cron`.execute(database.db)
}

function harnessOver(get: () => SqlDatabase) {
  return async () => {
    const database = get()
    await emptied(database)
    const clock = new ManualClock(Date.UTC(2020, 0, 1))
    const store = new PostgresJobStore(database.db, { clock, notifications: database })
    return {
      store,
      clock,
      async transaction() {
        const trx = await database.db.startTransaction().execute()
        return {
          jobs: store.using(trx),
          commit: () => trx.commit().execute(),
          rollback: () => trx.rollback().execute(),
        }
      },
      close: () => Promise.resolve(),
    }
  }
}

describe('PGlite', () => {
  let database: SqlDatabase
  beforeAll(async () => {
    database = await openSql({ pglite: 'memory://' })
  })
  afterAll(() => database?.close())
  runJobStoreConformance(
    'PGlite',
    harnessOver(() => database),
  )
})

describe.skipIf(server.skip)('server Postgres', () => {
  let database: SqlDatabase
  beforeAll(async () => {
    database = await openSql({ postgres: await server.url() })
  })
  afterAll(() => database?.close())
  runJobStoreConformance(
    'server Postgres',
    harnessOver(() => database),
  )
})

describe('PostgresJobStore options', () => {
  it('refuses a retry policy that is not finite numbers (it is written into SQL)', () => {
    const db = {} as SqlDatabase['db']
    const policy = { minDelayMs: 1000, maxDelayMs: 2000, factor: 2, jitter: true }
    expect(() => new PostgresJobStore(db, { retry: { ...policy, factor: Number.NaN } })).toThrow(
      expect.objectContaining({ code: 'ERR_INVALID_OPTION', message: expect.stringContaining('jobs.retry.factor') }),
    )
    expect(
      () => new PostgresJobStore(db, { retry: { ...policy, minDelayMs: '1); drop table x; --' as unknown as number } }),
    ).toThrow(expect.objectContaining({ code: 'ERR_INVALID_OPTION' }))
  })
})
