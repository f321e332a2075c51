/**
 * The JobStore contract (src/testing/conformance/jobs.ts) over the backend matrix, with each
 * store's transactions, and what the Postgres store adds: its options. The suite needs a store on
 * a manual clock, which the runtime never makes (the SQL store follows the database's `now()`, so
 * hosts agree), so the stores are made here over the matrix's databases rather than by the
 * descriptor. The clock starts in the past: the NOTIFY trigger compares `run_at` with the
 * database's own clock.
 */
import { sql } from 'kysely'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { MemoryJobStore } from '../../src/host/jobs/memory-jobs.js'
import { PostgresJobStore } from '../../src/host/jobs/postgres-jobs.js'
import type { SqlDatabase } from '../../src/storage/sql.js'
import { runJobStoreConformance, type JobStoreHarness } from '../../src/testing/conformance/jobs.js'
import { describeOn, testBackends, type OpenedBackend } from '../helpers/backends.js'
import { ManualClock } from '../helpers/manual-clock.js'

const START = Date.UTC(2020, 0, 1)

/** A fresh, empty store over `opened` for one test, on a manual clock. */
async function harness(opened: OpenedBackend): Promise<JobStoreHarness> {
  const clock = new ManualClock(START)
  const database = opened.sql
  if (!database) {
    const gate = opened.gate!
    const store = new MemoryJobStore({ clock, gate })
    return {
      store,
      clock,
      async transaction() {
        const release = await gate.exclusive()
        const jobs = store.fork()
        return {
          jobs,
          commit: async () => {
            store.adopt(jobs)
            release()
          },
          rollback: async () => release(),
        }
      },
      close: () => Promise.resolve(),
    }
  }
  await sql`truncate fnbox_jobs, fnbox_job_workers, fnbox_cron`.execute(database.db)
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

for (const backend of await testBackends('jobs conformance')) {
  describeOn(backend, backend.name, () => {
    let opened: OpenedBackend
    beforeAll(async () => {
      opened = await backend.open()
    })
    afterAll(() => opened?.close())
    runJobStoreConformance(backend.name, () => harness(opened))
  })
}

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
