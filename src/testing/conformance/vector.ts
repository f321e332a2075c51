/**
 * The contract of a {@link VectorStore}, as one suite any store runs (fnbox's memory and pgvector
 * stores, and an adapter of yours): `runVectorStoreConformance(() => myStore)` inside a vitest
 * test file. Beyond shapes and errors, it checks search quality against an exact search over
 * seeded random data: filtered queries return the best `topK` matching items (never fewer when
 * they exist), unfiltered ones find at least 95% of the exact top 10.
 *
 * @module
 */
import { randomUUID } from 'node:crypto'
import { beforeAll, describe, expect, it } from 'vitest'
import type { JsonValue } from '../../host/domains/types.js'
import type { VectorFilter, VectorMetric, VectorStore } from '../../host/vector/types.js'
import { suiteName, useStore, type ConformanceOptions, type OpenStore } from './harness.js'
import {
  OPERATORS,
  bruteForce,
  expectClose,
  expectTopK,
  failure,
  gaussianVector,
  matchesFilter,
  pick,
  prng,
  randomFilter,
  randomItems,
  upsertAll,
} from './vector-data.js'

/**
 * Runs the VectorStore contract against the store `open` gives.
 *
 * @example
 * ```ts
 * import { runVectorStoreConformance } from 'fnbox/testing'
 * runVectorStoreConformance(() => new MyQdrantVectorStore(client), { name: 'qdrant' })
 * ```
 * @public
 */
export function runVectorStoreConformance(open: OpenStore<VectorStore>, options?: ConformanceOptions): void {
  describe(suiteName('VectorStore', options), () => {
    const current = useStore(open)
    let store: VectorStore
    const newScope = () => `s-${randomUUID()}`

    beforeAll(() => {
      store = current()
    })

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

      it.each(['cosine', 'l2', 'inner-product'] as const)(
        'scores and ranks by %s like a brute force',
        async (metric) => {
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
        },
      )
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
    })
  })
}
