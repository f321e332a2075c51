/**
 * The VectorStore contract (src/testing/conformance/vector.ts) over the backend matrix, and what
 * the built-in stores add to it: SQL transactions, the query plans pgvector gets, a server
 * without pgvector, memory forks. The local server has no pgvector: its row is PGlite behind a
 * Postgres socket, reached through `pg` (see test/helpers/backends.ts).
 */
import { randomUUID } from 'node:crypto'
import { existsSync } from 'node:fs'
import { readFile } from 'node:fs/promises'
import { PGlite } from '@electric-sql/pglite'
import { vector as pgvector } from '@electric-sql/pglite-pgvector'
import { PGLiteSocketServer } from '@electric-sql/pglite-socket'
import { Kysely, PostgresDialect, sql, type CompiledQuery } from 'kysely'
import pg from 'pg'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { isFnboxError } from '../../src/errors.js'
import { vectorDomain } from '../../src/host/vector/descriptor.js'
import { MemoryVectorStore, PostgresVectorStore } from '../../src/host/vector/index.js'
import type { VectorStore } from '../../src/host/vector/types.js'
import { WriteGate } from '../../src/storage/memory-gate.js'
import { PgliteDialect } from '../../src/storage/pglite-dialect.js'
import { defaultTemplate } from '../../src/storage/pglite-thread.js'
import { migrate, openSql } from '../../src/storage/sql.js'
import { runVectorStoreConformance } from '../../src/testing/conformance/vector.js'
import { gaussianVector, prng, randomItems, upsertAll } from '../../src/testing/conformance/vector-data.js'
import { describeOn, testBackends, type OpenedBackend } from '../helpers/backends.js'

const newScope = () => `s-${randomUUID()}`

for (const backend of await testBackends('vector conformance', { pgvector: true })) {
  describeOn(backend, backend.name, () => {
    runVectorStoreConformance(async () => {
      const opened = await backend.open()
      return { store: await opened.store(vectorDomain), close: () => opened.close() }
    })

    describe.runIf(backend.name !== 'memory')('in SQL transactions of the built-in store', () => {
      let opened: OpenedBackend
      let store: VectorStore
      beforeAll(async () => {
        opened = await backend.open()
        store = await opened.store(vectorDomain)
      })
      afterAll(() => opened?.close())

      it('works inside a transaction and rolls back with it', async () => {
        const scope = newScope()
        const db = opened.sql!.db
        await expect(
          db.transaction().execute(async (trx) => {
            const inner = new PostgresVectorStore(trx)
            await inner.upsert(scope, 'docs', [{ id: 'a', values: [1, 0], metadata: { k: 1 } }])
            await inner.createIndex(scope, { name: 'more', dimensions: 2, metric: 'l2' })
            await inner.upsert(scope, 'more', [{ id: 'b', values: [0, 1] }])
            expect(await inner.query(scope, 'docs', { vector: [1, 1] })).toHaveLength(1)
            expect(await inner.query(scope, 'docs', { vector: [1, 1], filter: { k: 1 } })).toHaveLength(1)
            throw new Error('roll back')
          }),
        ).rejects.toThrow('roll back')
        expect(await store.listIndexes(scope)).toEqual([])
        const trx = await db.startTransaction().execute()
        const inner = new PostgresVectorStore(trx)
        await inner.upsert(scope, 'docs', [{ id: 'a', values: [1, 0] }])
        expect(await inner.delete(scope, 'docs', ['a'])).toBe(1)
        await inner.upsert(scope, 'docs', [{ id: 'c', values: [1, 0] }])
        expect(await inner.query(scope, 'docs', { vector: [1, 1], topK: 5 })).toHaveLength(1)
        await trx.commit().execute()
        expect((await store.get(scope, 'docs', ['a', 'c'])).map((item) => item.id)).toEqual(['c'])
      })

      it('leaves one table per registered index', async () => {
        const { rows } = await sql<{ tables: number; registered: number }>`
        select (select count(*)::int from pg_tables where tablename ~ '^fnbox_vec_[0-9]+$') as tables,
               (select count(*)::int from fnbox_vector_indexes) as registered`.execute(opened.sql!.db)
        expect(rows[0]!.tables).toBe(rows[0]!.registered)
      })
    })
  })
}

interface Backend {
  store: VectorStore
  /** The SQL database, on the Postgres backends. */
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  db?: Kysely<any>
  /** Runs `fn` on a store that logs its statements; returns the plans of its `order by distance` queries. */
  plans?: (fn: (store: VectorStore) => Promise<unknown>) => Promise<string[]>
  close(): Promise<void>
}

/** `pg` through a socket: the local server has no pgvector, so an in-memory PGlite serves it. */
async function openPgBackend(): Promise<Backend> {
  const pglite = await PGlite.create({ extensions: { vector: pgvector } })
  const server = new PGLiteSocketServer({ db: pglite, host: '127.0.0.1', port: 0 })
  await server.start()
  const port = Number(server.getServerConn().split(':').at(-1))
  const pool = new pg.Pool({ host: '127.0.0.1', port, user: 'postgres', database: 'postgres', max: 1 })
  const database = await openSql({ postgres: pool })
  const logged: CompiledQuery[] = []
  const logging = new Kysely<unknown>({
    dialect: new PostgresDialect({ pool: { connect: () => pool.connect(), end: () => Promise.resolve() } }),
    log: (event) => void (event.level === 'query' && logged.push(event.query)),
  })
  return {
    store: new PostgresVectorStore(database.db),
    db: database.db,
    async plans(fn) {
      logged.length = 0
      await fn(new PostgresVectorStore(logging))
      const searches = logged.filter((query) => query.sql.includes('order by distance'))
      return Promise.all(
        searches.map(async (query) => {
          const { rows } = await pool.query<{ 'QUERY PLAN': string }>(`explain ${query.sql}`, [...query.parameters])
          return rows.map((row) => row['QUERY PLAN']).join('\n')
        }),
      )
    },
    async close() {
      await database.close()
      await pool.end()
      await server.stop()
      await pglite.close()
    },
  }
}

describe('pgvector query plans (pg to PGlite through a socket)', () => {
  let backend: Backend & { plans: NonNullable<Backend['plans']> }
  let store: VectorStore
  const scope = newScope()
  const items = randomItems(5, 2000, 16)
  beforeAll(async () => {
    backend = (await openPgBackend()) as typeof backend
    store = backend.store
    await upsertAll(store, scope, 'docs', items)
  }, 120_000) // 2,000 upserts through one socket connection, on a busy machine
  afterAll(() => backend?.close())

  it('uses HNSW unfiltered, never when filtered or namespaced, and GIN for $eq/$in', async () => {
    const vector = gaussianVector(prng(9), 16)
    const [unfiltered] = await backend.plans((s) => s.query(scope, 'docs', { vector }))
    expect(unfiltered).toMatch(/Index Scan using \w+_embedding_idx/)
    for (const query of [{ filter: { category: 'alpha' } }, { namespace: 'ns1' }]) {
      const plans = await backend.plans((s) => s.query(scope, 'docs', { vector, ...query }))
      expect(plans).toHaveLength(1)
      expect(plans[0]).not.toMatch(/embedding_idx/)
    }
    // $eq and $in filters can read the matching rows through the metadata GIN index (the
    // planner takes it where a scan costs more; on this small table, only when told to).
    await sql`set enable_seqscan = off`.execute(backend.db!) // the pool's one connection
    try {
      for (const filter of [{ rare: 'yes' }, { rare: { $in: ['yes', 'maybe'] } }]) {
        const [plan] = await backend.plans((s) => s.query(scope, 'docs', { vector, filter }))
        expect(plan).toMatch(/Bitmap Index Scan on \w+_metadata_idx/)
      }
    } finally {
      await sql`reset enable_seqscan`.execute(backend.db!)
    }
  })
})

describe('PostgresVectorStore without pgvector', () => {
  it('fails index creation with ERR_STORAGE saying pgvector is missing', async () => {
    // From the cluster template (a cluster made without extensions) when this machine has one,
    // which the PGlite backend above has made: a second initdb costs 5-10 s.
    const template = defaultTemplate()
    const loadDataDir = template && existsSync(template) ? new Blob([await readFile(template)]) : undefined
    const pglite = await PGlite.create({ loadDataDir })
    const db = new Kysely<unknown>({ dialect: new PgliteDialect(pglite) })
    try {
      await migrate(db)
      const store = new PostgresVectorStore(db)
      const err = await store.createIndex('s', { name: 'docs', dimensions: 2, metric: 'cosine' }).catch((e) => e)
      expect(isFnboxError(err, 'ERR_STORAGE')).toBe(true)
      expect((err as Error).message).toMatch(/pgvector is not installed/)
      expect(await store.listIndexes('s')).toEqual([])
    } finally {
      await db.destroy()
      await pglite.close()
    }
  })
})

describe('MemoryVectorStore transactions (fork and adopt)', () => {
  const item = (id: string, x = 1) => ({ id, values: [x, 1] })

  it('isolates a fork until adopted, holding outside writes at the gate', async () => {
    const gate = new WriteGate()
    const store = new MemoryVectorStore({ gate })
    await store.upsert('s', 'docs', [item('base')])
    const release = await gate.exclusive()
    const fork = store.fork()
    await fork.upsert('s', 'docs', [item('inTx')])
    await fork.delete('s', 'docs', ['base'])
    await fork.createIndex('s', { name: 'other', dimensions: 2, metric: 'l2' })
    expect((await store.get('s', 'docs', ['base', 'inTx'])).map((i) => i.id)).toEqual(['base'])
    expect(await store.listIndexes('s')).toHaveLength(1)
    let outsideDone = false
    const outside = store.upsert('s', 'docs', [item('outside')]).then(() => (outsideDone = true))
    await new Promise((resolve) => setTimeout(resolve, 10))
    expect(outsideDone).toBe(false)
    store.adopt(fork)
    release()
    await outside
    expect((await store.get('s', 'docs', ['base', 'inTx', 'outside'])).map((i) => i.id)).toEqual(['inTx', 'outside'])
    expect((await store.listIndexes('s')).map((i) => i.name)).toEqual(['docs', 'other'])
  })

  it('discards a fork on rollback, and later writes on either side stay apart', async () => {
    const gate = new WriteGate()
    const store = new MemoryVectorStore({ gate })
    await store.upsert('s', 'docs', [item('base')])
    const release = await gate.exclusive()
    const fork = store.fork()
    await fork.upsert('s', 'docs', [item('base', 5), item('inTx')])
    release()
    expect(await store.get('s', 'docs', ['base', 'inTx'])).toEqual([{ id: 'base', values: [1, 1] }])
    await store.upsert('s', 'docs', [item('after')])
    await store.deleteIndex('s', 'docs')
    expect((await fork.get('s', 'docs', ['base', 'after'])).map((i) => i.values[0])).toEqual([5])
    // A fork shares unchanged indexes: writing one side copies it first.
    const second = store.fork()
    await store.upsert('s', 'fresh', [item('p')])
    const third = store.fork()
    await third.upsert('s', 'fresh', [item('q')])
    expect(await store.get('s', 'fresh', ['q'])).toEqual([])
    expect(await second.describeIndex('s', 'fresh')).toBeUndefined()
  })
})
