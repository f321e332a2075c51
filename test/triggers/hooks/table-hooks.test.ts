// Database hooks on PGlite and server Postgres: a row change enqueues its hook job in the same
// transaction (none from a rolled-back one), and a worker fans it out to the subscribers.
import { sql } from 'kysely'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { TABLE_HOOK_TASK } from '../../../src/host/jobs/migrations.js'
import { PostgresJobStore } from '../../../src/host/jobs/postgres-jobs.js'
import { hookFanOut, unwatchTable, watchTable, type TableChange } from '../../../src/triggers/hooks/table-hooks.js'
import { JobWorker } from '../../../src/triggers/jobs/worker.js'
import type { SqlDatabase } from '../../../src/storage/sql.js'
import { describeOn, testBackends } from '../../helpers/backends.js'

function suite(open: () => Promise<{ database: SqlDatabase; close(): Promise<void> }>) {
  let database: SqlDatabase
  let close: () => Promise<void>
  beforeAll(async () => {
    ;({ database, close } = await open())
    await sql`create table orders (id serial primary key, item text not null, qty int not null)`.execute(database.db)
    await sql`create schema shop`.execute(database.db)
    await sql`create table shop.refunds (id int)`.execute(database.db)
  })
  afterAll(() => close?.())

  const hookJobs = async () => {
    const { rows } = await sql<{ payload: TableChange }>`
      select payload from fnbox_jobs where task = ${TABLE_HOOK_TASK} order by id`.execute(database.db)
    return rows.map((r) => r.payload)
  }

  it('enqueues a hook job with the row in the inserting transaction, and none from a rolled-back one', async () => {
    await watchTable(database.db, 'public.orders', { insert: 'order.created', delete: 'order.deleted' })
    await sql`insert into orders (item, qty) values ('apple', 3)`.execute(database.db)
    await expect(
      database.db.transaction().execute(async (trx) => {
        await sql`insert into orders (item, qty) values ('ghost', 1)`.execute(trx)
        throw new Error('roll back')
      }),
    ).rejects.toThrow('roll back')
    await sql`update orders set qty = 4 where item = 'apple'`.execute(database.db) // not watched
    await sql`delete from orders where item = 'apple'`.execute(database.db)
    expect(await hookJobs()).toEqual([
      {
        event: 'order.created',
        table: 'public.orders',
        op: 'insert',
        row: { id: 1, item: 'apple', qty: 3 },
        old: null,
      },
      {
        event: 'order.deleted',
        table: 'public.orders',
        op: 'delete',
        row: null,
        old: { id: 1, item: 'apple', qty: 4 },
      },
    ])
    // Watching again replaces the trigger: updates now, inserts no more.
    await watchTable(database.db, 'orders', { update: 'order.updated' })
    await sql`insert into orders (item, qty) values ('pear', 1)`.execute(database.db)
    await sql`update orders set qty = 2 where item = 'pear'`.execute(database.db)
    expect((await hookJobs()).map((c) => c.event)).toEqual(['order.created', 'order.deleted', 'order.updated'])
    await unwatchTable(database.db, 'orders')
    await sql`update orders set qty = 3 where item = 'pear'`.execute(database.db)
    expect(await hookJobs()).toHaveLength(3)
    await sql`delete from fnbox_jobs`.execute(database.db)
  })

  it('a worker fans each change out to the subscribers of its event, one job each', async () => {
    await watchTable(database.db, 'shop.refunds', { insert: 'refund.created' })
    const store = new PostgresJobStore(database.db, { notifications: database })
    const runs: [string, unknown][] = []
    const fanOut = hookFanOut((event) =>
      event === 'refund.created' ? [{ task: 'audit.onRefund' }, { task: 'mail.onRefund' }] : [],
    )
    const worker = new JobWorker({
      store,
      tasks: [TABLE_HOOK_TASK, 'audit.onRefund', 'mail.onRefund'],
      handler: async (job) => {
        if (job.task === TABLE_HOOK_TASK) return fanOut(job)
        runs.push([job.task, (job.payload as unknown as TableChange).row])
      },
    })
    await worker.start()
    try {
      await sql`insert into shop.refunds values (7)`.execute(database.db)
      await expect.poll(() => runs.length, { timeout: 10_000 }).toBe(2)
      expect(runs.sort()).toEqual([
        ['audit.onRefund', { id: 7 }],
        ['mail.onRefund', { id: 7 }],
      ])
      await expect.poll(async () => (await store.list({ state: 'completed' })).jobs.length, { timeout: 10_000 }).toBe(3)
    } finally {
      await worker.close()
    }
  })

  it('refuses a bad table or event with a typed error', async () => {
    await expect(watchTable(database.db, 'public.nope', { insert: 'x' })).rejects.toMatchObject({
      code: 'ERR_NOT_FOUND',
    })
    await expect(watchTable(database.db, 'orders; drop table orders', { insert: 'x' })).rejects.toMatchObject({
      code: 'ERR_INVALID_ARGUMENT',
      details: { argument: 'table' },
    })
    await expect(watchTable(database.db, 'orders', { insert: "x'); drop table orders; --" })).rejects.toMatchObject({
      code: 'ERR_INVALID_ARGUMENT',
      details: { argument: 'events.insert' },
    })
    await expect(watchTable(database.db, 'orders', {})).rejects.toMatchObject({ code: 'ERR_INVALID_ARGUMENT' })
    await expect(watchTable(database.db, 'orders', { upsert: 'x' } as never)).rejects.toMatchObject({
      code: 'ERR_INVALID_ARGUMENT',
    })
  })
}

// Table hooks need SQL (the memory store refuses them): the matrix's SQL rows.
for (const backend of (await testBackends('hooks')).filter((b) => b.name !== 'memory')) {
  describeOn(backend, `table hooks: ${backend.name}`, () => {
    suite(async () => {
      const opened = await backend.open()
      return { database: opened.sql!, close: () => opened.close() }
    })
  })
}
