/**
 * The Postgres vector store: pgvector on PGlite or server Postgres, through kysely.
 *
 * Each index has a table of its own, `fnbox_vec_<n>` (named from a sequence, never from input),
 * whose `vector(<dimensions>)` column carries an HNSW index with the metric's operator class; the
 * registry `fnbox_vector_indexes` maps `(scope, name)` to it.
 *
 * Queries take one of two paths:
 * - unfiltered: the HNSW index, approximate, with `hnsw.ef_search` raised for large `topK` and
 *   iterative scans on, so it returns `min(topK, count)` rows even past dead tuples;
 * - filtered or limited to a namespace: an exact scan of the matching rows (a materialized CTE,
 *   which HNSW cannot serve; a btree on `namespace` and a GIN index on `metadata` narrow the
 *   scan to the matching rows for namespaces and `$eq`/`$in` conditions). HNSW filters
 *   *after* its search, so it could silently return fewer than `topK` matches for a selective
 *   filter; the exact scan returns the true filtered top-k.
 *
 * The store takes a `Kysely` or a transaction of one. It opens a transaction of its own only when
 * given a plain `Kysely` (kysely nests none), and only where several statements must act as one.
 *
 * @internal
 * @module
 */
import { sql, type Kysely, type RawBuilder } from 'kysely'
import { FnboxError, isFnboxError } from '../../errors.js'
import type { JsonValue } from '../domains/types.js'
import type { VectorIndexInfo, VectorItem, VectorMatch, VectorMetric, VectorQuery, VectorStore } from './types.js'
import { checkFilter } from './filter.js'
import { filterSql } from './filter-sql.js'
import { checkForIndex, checkIndexInfo, checkSameShape, checkTopK, checkVector, scoreOf } from './rules.js'

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Db = Kysely<any>

/** pgvector's distance operator and HNSW operator class of each metric. */
const METRIC_SQL: Record<VectorMetric, { operator: string; opclass: string }> = {
  cosine: { operator: '<=>', opclass: 'vector_cosine_ops' },
  l2: { operator: '<->', opclass: 'vector_l2_ops' },
  'inner-product': { operator: '<#>', opclass: 'vector_ip_ops' },
}

/** Numbers per insert statement: a batch holds this many divided by the dimensions (≤ 1000 rows). */
const BATCH_NUMBERS = 200_000

/**
 * The candidate list of `hnsw.ef_search`: at least 100 (pgvector's default of 40 gave recall 0.93
 * on 50k clustered 384-dim vectors, 100 gave 0.997 for about the same time), at most pgvector's 1000.
 */
const EF_SEARCH = { min: 100, max: 1000 }

interface Registered {
  info: VectorIndexInfo
  table: string
}

interface RegistryRow {
  name: string
  dimensions: number
  metric: VectorMetric
  table_name: string
}

interface VectorRow {
  id: string
  namespace: string | null
  metadata?: Record<string, JsonValue> | null
  /** pgvector's text form, `[1,2.5,-3]`. */
  embedding?: string
  distance?: number
}

/** Vector indexes in Postgres tables with pgvector. */
export class PostgresVectorStore implements VectorStore {
  readonly #db: Db

  /** @param db - a migrated database (`openSql`), or a transaction of one. */
  constructor(db: Db) {
    this.#db = db
  }

  async createIndex(scope: string, index: VectorIndexInfo): Promise<void> {
    const info = checkIndexInfo(index)
    await guard(async () => checkSameShape((await this.#ensure(scope, info)).info, info))
  }

  async describeIndex(scope: string, name: string): Promise<VectorIndexInfo | undefined> {
    return guard(async () => (await find(this.#db, scope, name))?.info)
  }

  async deleteIndex(scope: string, name: string): Promise<boolean> {
    return guard(() =>
      atomic(this.#db, async (db) => {
        const { rows } = await sql<Pick<RegistryRow, 'table_name'>>`
          delete from fnbox_vector_indexes where scope = ${scope} and name = ${name} returning table_name`.execute(db)
        const table = rows[0]?.table_name
        if (table === undefined) return false
        await sql`drop table if exists ${sql.table(table)}`.execute(db)
        return true
      }),
    )
  }

  async listIndexes(scope: string): Promise<VectorIndexInfo[]> {
    return guard(async () => {
      const { rows } = await sql<RegistryRow>`
        select name, dimensions, metric, table_name from fnbox_vector_indexes
        where scope = ${scope} order by name`.execute(this.#db)
      return rows.map((row) => registered(row).info)
    })
  }

  async upsert(scope: string, name: string, items: VectorItem[]): Promise<number> {
    items.forEach((item, i) => checkVector(item.values, `items[${i}].values`))
    const first = items[0]
    if (!first) return 0
    return guard(async () => {
      let index = await find(this.#db, scope, name)
      if (!index) {
        // Check against the index this call would create before creating it.
        const info: VectorIndexInfo = { name, dimensions: first.values.length, metric: 'cosine' }
        items.forEach((item, i) => checkForIndex(item.values, info, `items[${i}].values`))
        index = await this.#ensure(scope, info)
      }
      const { info, table } = index
      items.forEach((item, i) => checkForIndex(item.values, info, `items[${i}].values`))
      // Postgres refuses a row touched twice by one insert: the last item of an id wins.
      const rows = [...new Map(items.map((item) => [item.id, item])).values()]
      const size = Math.min(1000, Math.max(1, Math.floor(BATCH_NUMBERS / info.dimensions)))
      const batches: VectorItem[][] = []
      for (let i = 0; i < rows.length; i += size) batches.push(rows.slice(i, i + size))
      const write = async (db: Db) => {
        for (const batch of batches) await insertSql(table, batch).execute(db)
      }
      await (batches.length > 1 ? atomic(this.#db, write) : write(this.#db))
      return rows.length
    }, name)
  }

  async query(scope: string, name: string, query: VectorQuery): Promise<VectorMatch[]> {
    const vector = checkVector(query.vector, 'vector')
    const topK = checkTopK(query.topK)
    const conditions = checkFilter(query.filter)
    const exact = query.namespace !== undefined || conditions.length > 0
    const search = async (db: Db) => {
      const index = await find(db, scope, name, exact ? undefined : topK)
      if (!index) throw notFound(name)
      checkForIndex(vector, index.info, 'vector')
      const table = sql.table(index.table)
      const distance = sql`embedding ${sql.raw(METRIC_SQL[index.info.metric].operator)} ${JSON.stringify(vector)}::vector`
      const fields = [
        sql`id`,
        sql`namespace`,
        ...(query.includeMetadata ? [sql`metadata`] : []),
        ...(query.includeValues ? [sql`embedding::text as embedding`] : []),
      ]
      const where = query.namespace === undefined ? sql`true` : sql`namespace = ${query.namespace}`
      // Exact: the distance of every matching row, kept in a materialized CTE (the planner cannot
      // push `order by distance` into one, so no HNSW), then the top-k joined back for their fields
      // (a CTE of whole rows would spill to disk past `work_mem`).
      // Approximate: iterative scans return rows slightly out of order; the outer query sorts.
      const statement = exact
        ? sql<VectorRow>`
            with candidates as materialized (
              select id, ${distance} as distance from ${table} where ${where} and ${filterSql(conditions)}
            ), best as (select id, distance from candidates order by distance, id limit ${topK})
            select ${sql.join([...fields, sql`distance`])} from best join ${table} using (id)
            order by distance, id`
        : sql<VectorRow>`
            with nearest as materialized (
              select ${sql.join([...fields, sql`${distance} as distance`])} from ${table}
              order by distance limit ${topK}
            )
            select * from nearest order by distance, id`
      const { rows } = await statement.execute(db)
      return rows.map((row) => {
        const match: VectorMatch = { id: row.id, score: scoreOf(index.info.metric, row.distance!) }
        if (row.namespace !== null) match.namespace = row.namespace
        if (row.metadata != null) match.metadata = row.metadata
        if (row.embedding !== undefined) match.values = parseVector(row.embedding)
        return match
      })
    }
    // The HNSW settings are transaction-local: an approximate search needs a transaction.
    return guard(() => (exact ? search(this.#db) : atomic(this.#db, search)), name)
  }

  async get(scope: string, name: string, ids: string[]): Promise<VectorItem[]> {
    if (ids.length === 0) return []
    return guard(async () => {
      const index = await find(this.#db, scope, name)
      if (!index) return []
      const { rows } = await sql<VectorRow>`
        select id, namespace, metadata, embedding::text as embedding from ${sql.table(index.table)}
        where id in (${sql.join(ids)})`.execute(this.#db)
      const byId = new Map(rows.map((row) => [row.id, row]))
      const items: VectorItem[] = []
      for (const id of new Set(ids)) {
        const row = byId.get(id)
        if (!row) continue
        const item: VectorItem = { id, values: parseVector(row.embedding!) }
        if (row.metadata != null) item.metadata = row.metadata
        if (row.namespace !== null) item.namespace = row.namespace
        items.push(item)
      }
      return items
    }, name)
  }

  async delete(scope: string, name: string, ids: string[]): Promise<number> {
    if (ids.length === 0) return 0
    return guard(async () => {
      const index = await find(this.#db, scope, name)
      if (!index) return 0
      const { rows } = await sql`
        delete from ${sql.table(index.table)} where id in (${sql.join(ids)}) returning id`.execute(this.#db)
      return rows.length
    }, name)
  }

  /**
   * The index of `info.name`, created with `info`'s shape if missing. Safe against a concurrent
   * creator: the table is made before the registry row, in one transaction, and the row is
   * inserted `on conflict do nothing`; the loser drops its table and takes the winner's index.
   */
  async #ensure(scope: string, info: VectorIndexInfo): Promise<Registered> {
    for (let attempt = 0; attempt < 3; attempt++) {
      const found = await find(this.#db, scope, info.name)
      if (found) return found
      const created = await atomic(this.#db, (db) => create(db, scope, info))
      if (created) return created
    }
    // Created and deleted by others three times in a row while this call ran.
    throw new FnboxError('ERR_STORAGE', `could not create vector index "${info.name}" under concurrent changes`)
  }
}

/**
 * The registered index. With `topK`, the same statement also sets the HNSW search of the current
 * transaction (saving a round trip): a candidate list `hnsw.ef_search` of twice `topK` (within
 * pgvector's bounds), and iterative scans, which continue past dead or filtered-out tuples until
 * `topK` rows are found.
 */
async function find(db: Db, scope: string, name: string, topK?: number): Promise<Registered | undefined> {
  const settings =
    topK === undefined
      ? sql``
      : sql`, set_config('hnsw.ef_search', ${String(Math.min(EF_SEARCH.max, Math.max(EF_SEARCH.min, 2 * topK)))}, true),
          set_config('hnsw.iterative_scan', 'relaxed_order', true)`
  const { rows } = await sql<RegistryRow>`
    select name, dimensions, metric, table_name ${settings} from fnbox_vector_indexes
    where scope = ${scope} and name = ${name}`.execute(db)
  return rows[0] && registered(rows[0])
}

function registered(row: RegistryRow): Registered {
  return { info: { name: row.name, dimensions: row.dimensions, metric: row.metric }, table: row.table_name }
}

/** Creates the table and registers it; `undefined` if another caller registered the name first. */
async function create(db: Db, scope: string, info: VectorIndexInfo): Promise<Registered | undefined> {
  await createExtension(db)
  const { rows } = await sql<{ seq: string }>`select nextval('fnbox_vector_table_seq')::text as seq`.execute(db)
  const table = `fnbox_vec_${rows[0]!.seq}`
  // `dimensions` is a checked integer and the opclass a constant: neither comes from text input.
  await sql`
    create table ${sql.table(table)} (
      id text collate "C" primary key,
      namespace text,
      embedding vector(${sql.raw(String(info.dimensions))}) not null,
      metadata jsonb
    )`.execute(db)
  await sql`create index on ${sql.table(table)} using hnsw (embedding ${sql.raw(METRIC_SQL[info.metric].opclass)})`.execute(
    db,
  )
  // Namespaced queries scan exactly: this index keeps them to their namespace's rows.
  await sql`create index on ${sql.table(table)} (namespace)`.execute(db)
  // Filtered queries too: `$eq` and `$in` conditions come with a containment test it answers.
  await sql`create index on ${sql.table(table)} using gin (metadata jsonb_path_ops)`.execute(db)
  const inserted = await sql`
    insert into fnbox_vector_indexes (scope, name, dimensions, metric, table_name)
    values (${scope}, ${info.name}, ${info.dimensions}, ${info.metric}, ${table})
    on conflict (scope, name) do nothing returning table_name`.execute(db)
  if (inserted.rows.length > 0) return { info: { ...info }, table }
  await sql`drop table ${sql.table(table)}`.execute(db)
  return undefined
}

/** The `vector` extension, created with the first index so a server without pgvector runs the rest. */
async function createExtension(db: Db): Promise<void> {
  try {
    await sql`create extension if not exists vector`.execute(db)
  } catch (cause) {
    throw new FnboxError(
      'ERR_STORAGE',
      'pgvector is not installed on this database, or this role may not create its extension ' +
        '(run `create extension vector` as a superuser): vector indexes are unavailable',
      { cause },
    )
  }
}

/** One multi-row upsert; vectors travel in pgvector's text form, which is JSON's array syntax. */
function insertSql(table: string, items: VectorItem[]): RawBuilder<unknown> {
  const values = items.map(
    (item) =>
      sql`(${item.id}, ${item.namespace ?? null}, ${JSON.stringify(item.values)}::vector, ${
        item.metadata === undefined ? null : JSON.stringify(item.metadata)
      }::jsonb)`,
  )
  return sql`
    insert into ${sql.table(table)} (id, namespace, embedding, metadata) values ${sql.join(values)}
    on conflict (id) do update
    set namespace = excluded.namespace, embedding = excluded.embedding, metadata = excluded.metadata`
}

/**
 * Reads pgvector's text form. It prints finite floats (NaN and Infinity never get in) as shortest
 * decimals in brackets, e.g. `[0.1,-2,1e-07]`: valid JSON, so `JSON.parse` is the whole parser.
 */
function parseVector(text: string): number[] {
  return JSON.parse(text) as number[]
}

/** Runs `fn` in a transaction: `db`'s own when it is one, else a new one. */
function atomic<T>(db: Db, fn: (db: Db) => Promise<T>): Promise<T> {
  return db.isTransaction ? fn(db) : db.transaction().execute(fn)
}

function notFound(name: string): FnboxError {
  return new FnboxError('ERR_NOT_FOUND', `vector index "${name}" does not exist`, { details: { index: name } })
}

/**
 * Lets FnboxErrors through and wraps any other failure as `ERR_STORAGE`. A missing table means the
 * index was deleted while the call ran (between the registry read and the statement): not found.
 */
async function guard<T>(fn: () => Promise<T>, index?: string): Promise<T> {
  try {
    return await fn()
  } catch (err) {
    if (isFnboxError(err)) throw err
    if (index !== undefined && (err as { code?: unknown }).code === '42P01') throw notFound(index)
    throw new FnboxError('ERR_STORAGE', 'the vector store failed', { cause: err })
  }
}
