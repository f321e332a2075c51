import { randomUUID } from 'node:crypto'
import { PGlite } from '@electric-sql/pglite'
import { vector as pgvector } from '@electric-sql/pglite-pgvector'
import { PGLiteSocketServer } from '@electric-sql/pglite-socket'
import { Kysely, PostgresDialect, sql, type CompiledQuery } from 'kysely'
import pg from 'pg'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { isFnboxError } from '../src/errors.js'
import type { JsonValue } from '../src/host/domains/types.js'
import type {
  VectorFilter,
  VectorFilterValue,
  VectorItem,
  VectorMatch,
  VectorMetric,
  VectorStore,
} from '../src/host/vector/types.js'
import { MemoryVectorStore, PostgresVectorStore } from '../src/host/vector/index.js'
import { WriteGate } from '../src/storage/memory-gate.js'
import { PgliteDialect } from '../src/storage/pglite-dialect.js'
import { migrate, openSql } from '../src/storage/sql.js'

// ---- backends -----------------------------------------------------------------------------------

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

const backends: [string, () => Promise<Backend>][] = [
  ['memory', async () => ({ store: new MemoryVectorStore({ gate: new WriteGate() }), close: async () => {} })],
  [
    'PGlite',
    async () => {
      const database = await openSql({ pglite: 'memory://' })
      return { store: new PostgresVectorStore(database.db), db: database.db, close: () => database.close() }
    },
  ],
  ['pg', openPgBackend],
]

// ---- data and the reference implementation ------------------------------------------------------

/** A deterministic PRNG (mulberry32), so every backend and run sees the same data. */
function prng(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

type Rand = () => number
const pick = <T>(rand: Rand, values: readonly T[]): T => values[Math.floor(rand() * values.length)]!
const int = (rand: Rand, below: number) => Math.floor(rand() * below)

function gaussianVector(rand: Rand, dims: number): number[] {
  return Array.from({ length: dims }, () => Math.sqrt(-2 * Math.log(1 - rand())) * Math.cos(2 * Math.PI * rand()))
}

/** Strings whose UTF-16 order differs from their code-point order (U+FFFD vs U+1F600). */
const CATEGORIES = ['alpha', 'beta', 'Beta', 'gamma', 'é', '\u{1F600}', '\uFFFD', 'z']

function randomMetadata(rand: Rand, i: number): Record<string, JsonValue> | undefined {
  if (i % 333 === 7) return { rare: 'yes' }
  if (rand() < 0.05) return undefined
  const metadata: Record<string, JsonValue> = {
    category: pick(rand, CATEGORIES),
    n: int(rand, 50),
    price: Math.round(rand() * 10000) / 100,
    flag: rand() < 0.5,
    mixed: rand() < 0.5 ? int(rand, 6) : String(int(rand, 6)),
    tags: ['a', 'b'],
  }
  const opt = rand()
  if (opt < 0.3) metadata.opt = null
  else if (opt < 0.5) metadata.opt = 'x'
  else if (opt < 0.7) metadata.opt = 0
  const nested = rand()
  if (nested < 0.1) metadata.nested = [1, 2]
  else if (nested < 0.15) metadata.nested = 'flat'
  else if (nested < 0.9) {
    metadata.nested = { level: int(rand, 10), tag: pick(rand, ['red', 'green', 'blue']), deeper: { k: int(rand, 4) } }
  }
  return metadata
}

function randomItems(seed: number, count: number, dims: number): VectorItem[] {
  const rand = prng(seed)
  return Array.from({ length: count }, (_, i) => {
    const item: VectorItem = { id: `item-${i}`, values: gaussianVector(rand, dims) }
    const metadata = randomMetadata(rand, i)
    if (metadata) item.metadata = metadata
    const namespace = pick(rand, ['ns1', 'ns2', undefined])
    if (namespace) item.namespace = namespace
    return item
  })
}

function lookup(metadata: JsonValue | undefined, field: string): JsonValue | undefined {
  let value = metadata
  for (const key of field.split('.')) {
    if (typeof value !== 'object' || value === null || Array.isArray(value) || !Object.hasOwn(value, key)) {
      return undefined
    }
    value = value[key]
  }
  return value
}

const codePoints = (s: string) => Array.from(s, (c) => c.codePointAt(0)!)

function byCodePoints(a: string, b: string): number {
  const x = codePoints(a)
  const y = codePoints(b)
  for (let i = 0; i < Math.min(x.length, y.length); i++) if (x[i] !== y[i]) return x[i]! - y[i]!
  return x.length - y.length
}

/** The documented filter semantics, written independently of the stores' `filter.ts`. */
function satisfies(value: JsonValue | undefined, op: string, operand: unknown): boolean {
  const scalar = value === null || ['string', 'number', 'boolean'].includes(typeof value)
  switch (op) {
    case '$eq':
      return scalar && value === operand
    case '$ne':
      return !(scalar && value === operand)
    case '$in':
      return (operand as unknown[]).some((x) => satisfies(value, '$eq', x))
    case '$nin':
      return !(operand as unknown[]).some((x) => satisfies(value, '$eq', x))
    default: {
      let order: number
      if (typeof value === 'number' && typeof operand === 'number') order = Math.sign(value - operand)
      else if (typeof value === 'string' && typeof operand === 'string') order = Math.sign(byCodePoints(value, operand))
      else return false
      return { $lt: order < 0, $lte: order <= 0, $gt: order > 0, $gte: order >= 0 }[op]!
    }
  }
}

function matchesFilter(item: VectorItem, filter: VectorFilter): boolean {
  return Object.entries(filter).every(([field, spec]) => {
    const value = lookup(item.metadata, field)
    if (spec === null || typeof spec !== 'object') return satisfies(value, '$eq', spec)
    return Object.entries(spec).every(([op, operand]) => satisfies(value, op, operand))
  })
}

interface Scored {
  id: string
  score: number
}

/** Exact top-k in double precision over the float32 values the stores keep; ties by id. */
function bruteForce(items: readonly VectorItem[], metric: VectorMetric, query: number[]): Scored[] {
  const f32 = (values: number[]) => values.map(Math.fround)
  const q = f32(query)
  const dot = (a: number[], b: number[]) => a.reduce((sum, x, i) => sum + x * b[i]!, 0)
  const ranked = items.map((item) => {
    const v = f32(item.values)
    let distance: number
    if (metric === 'l2') distance = Math.sqrt(v.reduce((sum, x, i) => sum + (x - q[i]!) ** 2, 0))
    else if (metric === 'inner-product') distance = -dot(v, q)
    else distance = 1 - dot(v, q) / Math.sqrt(dot(v, v) * dot(q, q))
    const score = metric === 'cosine' ? 1 - distance : metric === 'inner-product' ? -distance : distance
    return { id: item.id, score, distance }
  })
  ranked.sort((a, b) => a.distance - b.distance || byCodePoints(a.id, b.id))
  return ranked.map(({ id, score }) => ({ id, score }))
}

function expectClose(actual: number, expected: number): void {
  expect(Math.abs(actual - expected)).toBeLessThanOrEqual(1e-5 * Math.max(1, Math.abs(expected)))
}

/**
 * The matches are the exact top-k: same length, same scores position by position, and the same
 * ids in the same order, except where two scores are equal within float32 rounding (pgvector sums
 * in float32): there either order is exact.
 */
function expectTopK(actual: VectorMatch[], ranked: Scored[], topK: number): void {
  const expected = ranked.slice(0, topK)
  expect(actual.length).toBe(expected.length)
  expect(new Set(actual.map((m) => m.id)).size).toBe(actual.length)
  const scores = new Map(ranked.map((r) => [r.id, r.score]))
  actual.forEach((match, i) => {
    const want = expected[i]!
    expectClose(match.score, want.score)
    if (match.id === want.id) return
    expect(scores.has(match.id), `${match.id} is not a candidate`).toBe(true)
    expectClose(scores.get(match.id)!, want.score)
  })
}

async function upsertAll(store: VectorStore, scope: string, index: string, items: VectorItem[]): Promise<void> {
  for (let i = 0; i < items.length; i += 500) await store.upsert(scope, index, items.slice(i, i + 500))
}

/** Resolves to the FnboxError `promise` rejects with (fails if it resolves or throws another error). */
async function failure(promise: Promise<unknown>): Promise<{ code: string; details: Record<string, unknown> }> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  )
  if (!isFnboxError(err)) throw new Error(`expected a FnboxError, got ${String(err)}`)
  return { code: err.code, details: { ...err.details } }
}

const OPERATORS = ['$eq', '$ne', '$in', '$nin', '$lt', '$lte', '$gt', '$gte'] as const

const OPERANDS: Record<string, VectorFilterValue[]> = {
  category: [...CATEGORIES, 'nope', 'b', '\u{1F601}'],
  n: [0, 5, 10, 25, 49, 50, 7.5],
  price: [0, 10.5, 50, 99.99],
  flag: [true, false],
  opt: [null, 'x', 0, false],
  mixed: [0, 1, 3, '1', '3', '5'],
  'nested.level': [0, 3, 5, 9, '3'],
  'nested.tag': ['red', 'green', 'blue', 'Red'],
  'nested.deeper.k': [0, 1, 3],
  tags: ['a', 'b'],
  missing: [null, 1, 'a'],
  'nested.0': [1],
}
/** Operands of any field, to exercise type strictness (1 against '1', null against absent). */
const ANY_OPERAND: VectorFilterValue[] = [1, '1', null, true, 'alpha', 3.5, '', 'zz', 0]

function randomFilter(rand: Rand, used: Set<string>): VectorFilter {
  const filter: VectorFilter = {}
  const fields = 1 + (rand() < 0.7 ? 0 : rand() < 0.8 ? 1 : 2)
  while (Object.keys(filter).length < fields) {
    const field = pick(rand, Object.keys(OPERANDS))
    const operand = () => (rand() < 0.85 ? pick(rand, OPERANDS[field]!) : pick(rand, ANY_OPERAND))
    const rangeOperand = (type?: string) => {
      const comparable = (values: VectorFilterValue[]) =>
        values.filter((v) => (typeof v === 'number' || typeof v === 'string') && (!type || typeof v === type))
      const own = comparable(OPERANDS[field]!)
      return pick(rand, own.length > 0 && rand() < 0.85 ? own : comparable(ANY_OPERAND)) as string | number
    }
    const op = pick(rand, [...OPERATORS, 'bare', 'range'])
    used.add(op)
    if (op === 'bare') filter[field] = operand()
    else if (op === '$eq' || op === '$ne') filter[field] = { [op]: operand() }
    else if (op === '$in') filter[field] = { $in: Array.from({ length: 1 + int(rand, 4) }, operand) }
    else if (op === '$nin') filter[field] = { $nin: Array.from({ length: int(rand, 4) }, operand) }
    else if (op === 'range') {
      const low = rangeOperand()
      filter[field] = { $gte: low, $lt: rangeOperand(typeof low) }
    } else filter[field] = { [op]: rangeOperand() }
  }
  return filter
}

// ---- the suite ----------------------------------------------------------------------------------

describe.each(backends)('%s vector store', (backendName, open) => {
  let backend: Backend
  let store: VectorStore
  const newScope = () => `s-${randomUUID()}`

  beforeAll(async () => {
    backend = await open()
    store = backend.store
  })
  afterAll(() => backend?.close())

  it('creates, describes, lists and deletes indexes', async () => {
    const scope = newScope()
    await store.createIndex(scope, { name: 'b-docs', dimensions: 3, metric: 'l2' })
    await store.createIndex(scope, { name: 'a-docs', dimensions: 2000, metric: 'inner-product' })
    await store.createIndex(scope, { name: 'b-docs', dimensions: 3, metric: 'l2' })
    expect(await store.describeIndex(scope, 'b-docs')).toEqual({ name: 'b-docs', dimensions: 3, metric: 'l2' })
    expect(await store.describeIndex(scope, 'nope')).toBeUndefined()
    expect(await store.listIndexes(scope)).toEqual([
      { name: 'a-docs', dimensions: 2000, metric: 'inner-product' },
      { name: 'b-docs', dimensions: 3, metric: 'l2' },
    ])
    await store.upsert(scope, 'b-docs', [{ id: 'x', values: [1, 2, 3] }])
    expect(await store.deleteIndex(scope, 'b-docs')).toBe(true)
    expect(await store.deleteIndex(scope, 'b-docs')).toBe(false)
    expect(await store.describeIndex(scope, 'b-docs')).toBeUndefined()
    expect(await store.listIndexes(scope)).toEqual([{ name: 'a-docs', dimensions: 2000, metric: 'inner-product' }])
    expect(await failure(store.query(scope, 'b-docs', { vector: [1, 2, 3] }))).toMatchObject({
      code: 'ERR_NOT_FOUND',
    })
    // Recreated, it starts empty.
    await store.createIndex(scope, { name: 'b-docs', dimensions: 3, metric: 'l2' })
    expect(await store.get(scope, 'b-docs', ['x'])).toEqual([])
  })

  it('refuses to recreate an index with another shape, and shapes out of range', async () => {
    const scope = newScope()
    await store.createIndex(scope, { name: 'docs', dimensions: 4, metric: 'cosine' })
    for (const shape of [
      { dimensions: 5, metric: 'cosine' },
      { dimensions: 4, metric: 'l2' },
    ] as const) {
      expect(await failure(store.createIndex(scope, { name: 'docs', ...shape }))).toMatchObject({
        code: 'ERR_INVALID_ARGUMENT',
      })
    }
    for (const dimensions of [0, 2001, 1.5, Number.NaN]) {
      expect(await failure(store.createIndex(scope, { name: 'other', dimensions, metric: 'l2' }))).toMatchObject({
        code: 'ERR_INVALID_ARGUMENT',
        details: { argument: 'index.dimensions' },
      })
    }
    const metric = 'dot' as VectorMetric
    expect(await failure(store.createIndex(scope, { name: 'other', dimensions: 2, metric }))).toMatchObject({
      code: 'ERR_INVALID_ARGUMENT',
      details: { argument: 'index.metric' },
    })
    expect(await store.listIndexes(scope)).toEqual([{ name: 'docs', dimensions: 4, metric: 'cosine' }])
  })

  it('creates a cosine index with the first vector dimensions on upsert', async () => {
    const scope = newScope()
    expect(await store.upsert(scope, 'auto', [])).toBe(0)
    expect(await store.describeIndex(scope, 'auto')).toBeUndefined()
    expect(await store.upsert(scope, 'auto', [{ id: 'a', values: [1, 0, 0] }])).toBe(1)
    expect(await store.describeIndex(scope, 'auto')).toEqual({ name: 'auto', dimensions: 3, metric: 'cosine' })
  })

  it('checks every vector against the index, writing nothing from a refused batch', async () => {
    const scope = newScope()
    await store.createIndex(scope, { name: 'docs', dimensions: 3, metric: 'cosine' })
    const batch = [
      { id: 'ok', values: [1, 2, 3] },
      { id: 'short', values: [1, 2] },
    ]
    expect(await failure(store.upsert(scope, 'docs', batch))).toEqual({
      code: 'ERR_DIMENSION_MISMATCH',
      details: { argument: 'items[1].values', expected: 3, value: 2 },
    })
    expect(await store.get(scope, 'docs', ['ok'])).toEqual([])
    expect(await failure(store.query(scope, 'docs', { vector: [1, 2, 3, 4] }))).toMatchObject({
      code: 'ERR_DIMENSION_MISMATCH',
      details: { argument: 'vector', expected: 3, value: 4 },
    })
    for (const bad of [Number.NaN, Infinity, -Infinity, 1e39]) {
      expect(await failure(store.upsert(scope, 'docs', [{ id: 'x', values: [1, bad, 3] }]))).toEqual({
        code: 'ERR_INVALID_ARGUMENT',
        details: { argument: 'items[0].values', index: 1 },
      })
      expect(await failure(store.query(scope, 'docs', { vector: [bad, 1, 1] }))).toMatchObject({
        code: 'ERR_INVALID_ARGUMENT',
        details: { argument: 'vector', index: 0 },
      })
    }
    // Nor does a refused first upsert create its index.
    expect(await failure(store.upsert(scope, 'fresh', [{ id: 'x', values: [Number.NaN] }]))).toMatchObject({
      code: 'ERR_INVALID_ARGUMENT',
    })
    expect(await failure(store.upsert(scope, 'fresh', [{ id: 'x', values: [0, 0] }]))).toMatchObject({
      code: 'ERR_INVALID_ARGUMENT',
    })
    expect(await store.describeIndex(scope, 'fresh')).toBeUndefined()
    // The zero vector has no cosine; the other metrics take it.
    expect(await failure(store.query(scope, 'docs', { vector: [0, 0, 0] }))).toMatchObject({
      code: 'ERR_INVALID_ARGUMENT',
      details: { argument: 'vector' },
    })
    await store.createIndex(scope, { name: 'flat', dimensions: 2, metric: 'l2' })
    await store.upsert(scope, 'flat', [{ id: 'zero', values: [0, 0] }])
    expect(await store.query(scope, 'flat', { vector: [0, 0] })).toEqual([{ id: 'zero', score: 0 }])
    for (const topK of [0, 1001, 2.5]) {
      expect(await failure(store.query(scope, 'flat', { vector: [0, 0], topK }))).toMatchObject({
        code: 'ERR_INVALID_ARGUMENT',
        details: { argument: 'topK' },
      })
    }
  })

  it('replaces an item on upsert by id; in one batch the last item of an id wins', async () => {
    const scope = newScope()
    await store.upsert(scope, 'docs', [
      { id: 'a', values: [1, 0], metadata: { v: 1 }, namespace: 'ns' },
      { id: 'b', values: [0, 1], metadata: { v: 1 } },
    ])
    expect(await store.upsert(scope, 'docs', [{ id: 'a', values: [0.5, 0.5] }])).toBe(1)
    expect(
      await store.upsert(scope, 'docs', [
        { id: 'b', values: [1, 1], metadata: { v: 2 } },
        { id: 'c', values: [1, 2] },
        { id: 'b', values: [2, 1], metadata: { v: 3 }, namespace: 'late' },
      ]),
    ).toBe(2)
    expect(await store.get(scope, 'docs', ['a', 'b', 'c'])).toEqual([
      { id: 'a', values: [0.5, 0.5] },
      { id: 'b', values: [2, 1], metadata: { v: 3 }, namespace: 'late' },
      { id: 'c', values: [1, 2] },
    ])
  })

  it('gets the existing items in the order asked and deletes by id', async () => {
    const scope = newScope()
    const items = ['a', 'b', 'c', 'd'].map((id, i) => ({ id, values: [i + 1, 1] }))
    await store.upsert(scope, 'docs', items)
    const got = await store.get(scope, 'docs', ['d', 'zz', 'b', 'd', 'a'])
    expect(got.map((item) => item.id)).toEqual(['d', 'b', 'a'])
    expect(await store.get(scope, 'docs', [])).toEqual([])
    expect(await store.get(scope, 'nope', ['a'])).toEqual([])
    expect(await store.delete(scope, 'docs', ['a', 'zz', 'c', 'a'])).toBe(2)
    expect(await store.delete(scope, 'docs', ['a', 'c'])).toBe(0)
    expect(await store.delete(scope, 'nope', ['a'])).toBe(0)
    expect((await store.get(scope, 'docs', ['a', 'b', 'c', 'd'])).map((item) => item.id)).toEqual(['b', 'd'])
  })

  it('keeps values as 32-bit floats and returns their shortest decimals', async () => {
    const scope = newScope()
    const values = [0.1, -2, 1e-7, 123456.789, 3.4e38, 1 / 3, -0]
    await store.upsert(scope, 'docs', [{ id: 'a', values }])
    const [item] = await store.get(scope, 'docs', ['a'])
    expect(item!.values).toEqual([0.1, -2, 1e-7, 123456.79, 3.4e38, 0.33333334, 0])
    const random = gaussianVector(prng(7), 64)
    await store.upsert(scope, 'wide', [{ id: 'r', values: random }])
    const [back] = await store.get(scope, 'wide', ['r'])
    expect(back!.values.map(Math.fround)).toEqual(random.map(Math.fround))
  })

  it('returns metadata and values only when asked, the namespace always', async () => {
    const scope = newScope()
    await store.upsert(scope, 'docs', [
      { id: 'a', values: [1, 0], metadata: { title: 'A', deep: { list: [1, 'x', null] } }, namespace: 'ns' },
      { id: 'b', values: [0, 1] },
    ])
    const vector = [1, 0.5]
    expect(await store.query(scope, 'docs', { vector })).toEqual([
      { id: 'a', score: expect.closeTo(0.894427, 5), namespace: 'ns' },
      { id: 'b', score: expect.closeTo(0.447214, 5) },
    ])
    const full = await store.query(scope, 'docs', { vector, includeMetadata: true, includeValues: true })
    expect(full).toEqual([
      {
        id: 'a',
        score: expect.any(Number),
        namespace: 'ns',
        metadata: { title: 'A', deep: { list: [1, 'x', null] } },
        values: [1, 0],
      },
      { id: 'b', score: expect.any(Number), values: [0, 1] },
    ])
    // What a caller does with a result never reaches the store.
    full[0]!.metadata!.title = 'changed'
    full[0]!.values![0] = 9
    const again = await store.query(scope, 'docs', { vector, includeMetadata: true, includeValues: true, topK: 1 })
    expect(again[0]).toMatchObject({ metadata: { title: 'A' }, values: [1, 0] })
  })

  it('ranks equal scores by id in code-point order', async () => {
    const scope = newScope()
    const ids = ['\u{1F600}', 'b', '\uFFFD', 'a', 'B']
    await store.upsert(
      scope,
      'docs',
      ids.map((id) => ({ id, values: [1, 2], metadata: { all: true } })),
    )
    const expected = ['B', 'a', 'b', '\uFFFD', '\u{1F600}']
    for (const filter of [undefined, { all: true }]) {
      const matches = await store.query(scope, 'docs', { vector: [2, 1], filter })
      expect(matches.map((m) => m.id)).toEqual(expected)
    }
  })

  it('returns every item when topK exceeds the count, also after many replacements', async () => {
    const scope = newScope()
    const rand = prng(11)
    const items = Array.from({ length: 60 }, (_, i) => ({ id: `i${i}`, values: gaussianVector(rand, 8) }))
    for (let round = 0; round < 4; round++) {
      await store.upsert(
        scope,
        'docs',
        items.map((item) => ({ ...item, values: gaussianVector(rand, 8) })),
      )
    }
    await store.delete(scope, 'docs', ['i0', 'i1'])
    const vector = gaussianVector(rand, 8)
    expect(await store.query(scope, 'docs', { vector, topK: 100 })).toHaveLength(58)
    expect(await store.query(scope, 'docs', { vector, topK: 58 })).toHaveLength(58)
    expect(await store.query(scope, 'docs', { vector, topK: 1000, filter: {} })).toHaveLength(58)
  })

  it('keeps scopes apart', async () => {
    const [one, two] = [newScope(), newScope()]
    await store.upsert(one, 'docs', [{ id: 'a', values: [1, 0] }])
    await store.upsert(two, 'docs', [{ id: 'a', values: [1, 0, 0] }])
    expect(await store.describeIndex(one, 'docs')).toMatchObject({ dimensions: 2 })
    expect(await store.describeIndex(two, 'docs')).toMatchObject({ dimensions: 3 })
    expect(await store.get(one, 'docs', ['a'])).toEqual([{ id: 'a', values: [1, 0] }])
    await store.deleteIndex(one, 'docs')
    expect(await store.listIndexes(one)).toEqual([])
    expect(await store.listIndexes(two)).toEqual([{ name: 'docs', dimensions: 3, metric: 'cosine' }])
    expect(await store.query(two, 'docs', { vector: [0, 1, 0] })).toHaveLength(1)
  })

  it('creates an index once when callers race', async () => {
    const scope = newScope()
    const results = await Promise.allSettled([
      ...Array.from({ length: 4 }, (_, i) => store.upsert(scope, 'race', [{ id: `u${i}`, values: [1, i + 1] }])),
      store.createIndex(scope, { name: 'race', dimensions: 2, metric: 'cosine' }),
    ])
    expect(results.map((r) => r.status)).toEqual(Array(5).fill('fulfilled'))
    expect(await store.listIndexes(scope)).toEqual([{ name: 'race', dimensions: 2, metric: 'cosine' }])
    expect(await store.get(scope, 'race', ['u0', 'u1', 'u2', 'u3'])).toHaveLength(4)
  })

  it('refuses malformed filters', async () => {
    const scope = newScope()
    await store.upsert(scope, 'docs', [{ id: 'a', values: [1, 0], metadata: { n: 1 } }])
    const refused: [unknown, string][] = [
      [[], 'filter'],
      ['n', 'filter'],
      [{ n: { $regex: 'x' } }, 'filter.n.$regex'],
      [{ n: {} }, 'filter.n'],
      [{ n: [1] }, 'filter.n'],
      [{ n: { a: 1 } }, 'filter.n.a'],
      [{ n: { $eq: [1] } }, 'filter.n.$eq'],
      [{ n: { $eq: { x: 1 } } }, 'filter.n.$eq'],
      [{ n: Number.NaN }, 'filter.n'],
      [{ n: { $lt: Infinity } }, 'filter.n.$lt'],
      [{ n: { $lt: null } }, 'filter.n.$lt'],
      [{ n: { $gte: true } }, 'filter.n.$gte'],
      [{ n: { $in: [] } }, 'filter.n.$in'],
      [{ n: { $in: 1 } }, 'filter.n.$in'],
      [{ n: { $nin: [1, [2]] } }, 'filter.n.$nin[1]'],
      [{ n: { $in: Array(257).fill(1) } }, 'filter.n.$in'],
      [{ '': 1 }, 'filter.'],
      [{ 'a..b': 1 }, 'filter.a..b'],
      [{ '.a': 1 }, 'filter..a'],
      [{ 'a.': 1 }, 'filter.a.'],
      [{ n: 'a\0b' }, 'filter.n'],
      [{ n: '\ud800' }, 'filter.n'],
      [Object.fromEntries(Array.from({ length: 33 }, (_, i) => [`f${i}`, 1])), 'filter'],
    ]
    for (const [filter, argument] of refused) {
      const query = store.query(scope, 'docs', { vector: [1, 0], filter: filter as VectorFilter })
      expect(await failure(query), JSON.stringify(filter)).toMatchObject({
        code: 'ERR_INVALID_ARGUMENT',
        details: { argument },
      })
    }
    const widest = Object.fromEntries(Array.from({ length: 32 }, (_, i) => [`f${i}`, { $nin: Array(256).fill(i) }]))
    expect(await store.query(scope, 'docs', { vector: [1, 0], filter: widest })).toHaveLength(1)
  })

  it('filters by the documented semantics', async () => {
    const scope = newScope()
    const metadata: Record<string, Record<string, JsonValue> | undefined> = {
      none: undefined,
      empty: {},
      one: { v: 1, s: 'b', deep: { x: { y: 2 } } },
      oneText: { v: '1', s: 'B', deep: { x: { y: '2' } } },
      nulled: { v: null, s: null, deep: null },
      array: { v: [1], s: ['b'], deep: [{ x: { y: 2 } }] },
      float: { v: 1.5, s: '\u{1F600}', deep: { x: 2 } },
      bool: { v: true, s: '\uFFFD', 'a.b': 1 },
    }
    await store.upsert(
      scope,
      'docs',
      Object.entries(metadata).map(([id, m], i) => ({ id, values: [1, i + 1], ...(m && { metadata: m }) })),
    )
    const cases: [VectorFilter, string[]][] = [
      [{ v: 1 }, ['one']],
      [{ v: '1' }, ['oneText']],
      [{ v: { $eq: 1.0 } }, ['one']],
      [{ v: null }, ['nulled']],
      [{ v: { $ne: 1 } }, ['none', 'empty', 'oneText', 'nulled', 'array', 'float', 'bool']],
      [{ v: { $ne: null } }, ['none', 'empty', 'one', 'oneText', 'array', 'float', 'bool']],
      [{ v: { $in: [1, true, null] } }, ['one', 'nulled', 'bool']],
      [{ v: { $nin: [1, '1'] } }, ['none', 'empty', 'nulled', 'array', 'float', 'bool']],
      [{ v: { $nin: [] } }, Object.keys(metadata)],
      [{ v: { $gt: 1 } }, ['float']],
      [{ v: { $gte: 1, $lt: 2 } }, ['one', 'float']],
      [{ v: { $lte: '1' } }, ['oneText']],
      [{ s: { $gt: 'a' } }, ['one', 'float', 'bool']],
      [{ s: { $lt: '\uFFFF' } }, ['one', 'oneText', 'bool']],
      [{ s: { $gte: '\u{10000}' } }, ['float']],
      [{ 'deep.x.y': 2 }, ['one']],
      [{ 'deep.x.y': { $lte: 2 } }, ['one']],
      [{ 'deep.x': 2 }, ['float']],
      [{ 'deep.0.x.y': 2 }, []],
      [{ 'v.0': 1 }, []],
      [{ 'a.b': 1 }, []],
      [{ v: 1, s: 'b' }, ['one']],
      [{ v: 1, s: 'B' }, []],
    ]
    for (const [filter, expected] of cases) {
      const matches = await store.query(scope, 'docs', { vector: [1, 0], filter, topK: 100 })
      expect(matches.map((m) => m.id).sort(), JSON.stringify(filter)).toEqual([...expected].sort())
    }
  })

  describe('on 1,000 random vectors', () => {
    const scope = newScope()
    const items = randomItems(1, 1000, 16)

    beforeAll(async () => {
      await upsertAll(store, scope, 'docs', items)
    })

    it('answers filtered queries with the exact filtered top-k', async () => {
      const rand = prng(2)
      const used = new Set<string>()
      let nonEmpty = 0
      for (let round = 0; round < 200; round++) {
        const filter = randomFilter(rand, used)
        const namespace = rand() < 0.25 ? pick(rand, ['ns1', 'ns2', 'nope']) : undefined
        const topK = pick(rand, [1, 5, 10, 100])
        const vector = gaussianVector(rand, 16)
        const candidates = items.filter(
          (item) => (namespace === undefined || item.namespace === namespace) && matchesFilter(item, filter),
        )
        const matches = await store.query(scope, 'docs', { vector, topK, filter, namespace })
        if (matches.length > 0) nonEmpty++
        expectTopK(matches, bruteForce(candidates, 'cosine', vector), topK)
      }
      expect([...used].sort()).toEqual([...OPERATORS, 'bare', 'range'].sort())
      expect(nonEmpty).toBeGreaterThan(80)
    })

    it('answers namespaced queries exactly, and very selective filters in full', async () => {
      const rand = prng(3)
      const vector = gaussianVector(rand, 16)
      const check = async (query: { filter?: VectorFilter; namespace?: string; topK?: number }, expected: number) => {
        const matches = await store.query(scope, 'docs', { vector, ...query })
        const candidates = items.filter(
          (item) =>
            (query.namespace === undefined || item.namespace === query.namespace) &&
            matchesFilter(item, query.filter ?? {}),
        )
        expect(matches).toHaveLength(expected)
        expectTopK(matches, bruteForce(candidates, 'cosine', vector), query.topK ?? 10)
      }
      await check({ namespace: 'ns1', topK: 1000 }, items.filter((i) => i.namespace === 'ns1').length)
      await check({ namespace: 'ns2' }, 10)
      await check({ filter: { rare: 'yes' }, topK: 10 }, 3)
      await check({ filter: { rare: 'yes' }, namespace: 'nope' }, 0)
      await check({ filter: { category: 'nope' } }, 0)
    })

    it.each(['cosine', 'l2', 'inner-product'] as const)('scores and ranks by %s like a brute force', async (metric) => {
      const index = `metric-${metric}`
      const subset = items.slice(0, 500).map((item) => ({ ...item, metadata: { all: true } }))
      await store.createIndex(scope, { name: index, dimensions: 16, metric })
      await upsertAll(store, scope, index, subset)
      const rand = prng(4)
      for (let round = 0; round < 10; round++) {
        const vector = gaussianVector(rand, 16)
        const ranked = bruteForce(subset, metric, vector)
        // Exact (through a filter matching everything): the brute force's top-k.
        expectTopK(await store.query(scope, index, { vector, topK: 20, filter: { all: true } }), ranked, 20)
        // Approximate: best first, and every score that item's own.
        const approximate = await store.query(scope, index, { vector, topK: 20 })
        expect(approximate).toHaveLength(20)
        const scores = new Map(ranked.map((r) => [r.id, r.score]))
        approximate.forEach((match, i) => {
          expectClose(match.score, scores.get(match.id)!)
          if (i === 0) return
          const previous = approximate[i - 1]!.score
          if (metric === 'l2') expect(match.score).toBeGreaterThanOrEqual(previous)
          else expect(match.score).toBeLessThanOrEqual(previous)
        })
      }
    })
  })

  describe('on 2,000 random vectors, unfiltered', () => {
    const scope = newScope()
    const items = randomItems(5, 2000, 16)

    beforeAll(async () => {
      await upsertAll(store, scope, 'docs', items)
    })

    it('finds at least 95% of the exact top-10', async () => {
      const rand = prng(6)
      let found = 0
      const queries = 50
      for (let round = 0; round < queries; round++) {
        const vector = gaussianVector(rand, 16)
        const exact = new Set(
          bruteForce(items, 'cosine', vector)
            .slice(0, 10)
            .map((r) => r.id),
        )
        const matches = await store.query(scope, 'docs', { vector, topK: 10 })
        expect(matches).toHaveLength(10)
        found += matches.filter((m) => exact.has(m.id)).length
      }
      expect(found / (queries * 10)).toBeGreaterThanOrEqual(0.95)
    })

    it('returns topK rows for a large topK', async () => {
      const vector = gaussianVector(prng(8), 16)
      expect(await store.query(scope, 'docs', { vector, topK: 1000 })).toHaveLength(1000)
    })

    it.runIf(backendName === 'pg')(
      'uses HNSW unfiltered, never when filtered or namespaced, and GIN for $eq/$in',
      async () => {
        if (!backend.plans) throw new Error('the pg backend explains its queries')
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
      },
    )
  })

  describe.runIf(backendName !== 'memory')('in SQL transactions', () => {
    it('works inside a transaction and rolls back with it', async () => {
      const scope = newScope()
      const db = backend.db!
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
               (select count(*)::int from fnbox_vector_indexes) as registered`.execute(backend.db!)
      expect(rows[0]!.tables).toBe(rows[0]!.registered)
    })
  })
})

describe('PostgresVectorStore without pgvector', () => {
  it('fails index creation with ERR_STORAGE saying pgvector is missing', async () => {
    const pglite = await PGlite.create()
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
