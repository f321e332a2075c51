/**
 * Data and a reference implementation for the VectorStore suite: seeded random vectors and
 * metadata, an exact (brute force) search and filter evaluation, and random filters.
 *
 * @internal
 * @module
 */
import { expect } from 'vitest'
import { isFnboxError } from '../../errors.js'
import type { JsonValue } from '../../host/domains/types.js'
import type {
  VectorFilter,
  VectorFilterValue,
  VectorItem,
  VectorMatch,
  VectorMetric,
  VectorStore,
} from '../../host/vector/types.js'

/** A deterministic PRNG (mulberry32), so every backend and run sees the same data. */
export function prng(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

export type Rand = () => number
export const pick = <T>(rand: Rand, values: readonly T[]): T => values[Math.floor(rand() * values.length)]!
export const int = (rand: Rand, below: number) => Math.floor(rand() * below)

export function gaussianVector(rand: Rand, dims: number): number[] {
  return Array.from({ length: dims }, () => Math.sqrt(-2 * Math.log(1 - rand())) * Math.cos(2 * Math.PI * rand()))
}

/** Strings whose UTF-16 order differs from their code-point order (U+FFFD vs U+1F600). */
export const CATEGORIES = ['alpha', 'beta', 'Beta', 'gamma', 'é', '\u{1F600}', '\uFFFD', 'z']

export function randomMetadata(rand: Rand, i: number): Record<string, JsonValue> | undefined {
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

export function randomItems(seed: number, count: number, dims: number): VectorItem[] {
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

export function lookup(metadata: JsonValue | undefined, field: string): JsonValue | undefined {
  let value = metadata
  for (const key of field.split('.')) {
    if (typeof value !== 'object' || value === null || Array.isArray(value) || !Object.hasOwn(value, key)) {
      return undefined
    }
    value = value[key]
  }
  return value
}

export const codePoints = (s: string) => Array.from(s, (c) => c.codePointAt(0)!)

export function byCodePoints(a: string, b: string): number {
  const x = codePoints(a)
  const y = codePoints(b)
  for (let i = 0; i < Math.min(x.length, y.length); i++) if (x[i] !== y[i]) return x[i]! - y[i]!
  return x.length - y.length
}

/** The documented filter semantics, written independently of the stores' `filter.ts`. */
export function satisfies(value: JsonValue | undefined, op: string, operand: unknown): boolean {
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

export function matchesFilter(item: VectorItem, filter: VectorFilter): boolean {
  return Object.entries(filter).every(([field, spec]) => {
    const value = lookup(item.metadata, field)
    if (spec === null || typeof spec !== 'object') return satisfies(value, '$eq', spec)
    return Object.entries(spec).every(([op, operand]) => satisfies(value, op, operand))
  })
}

export interface Scored {
  id: string
  score: number
}

/** Exact top-k in double precision over the float32 values the stores keep; ties by id. */
export function bruteForce(items: readonly VectorItem[], metric: VectorMetric, query: number[]): Scored[] {
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

export function expectClose(actual: number, expected: number): void {
  expect(Math.abs(actual - expected)).toBeLessThanOrEqual(1e-5 * Math.max(1, Math.abs(expected)))
}

/**
 * The matches are the exact top-k: same length, same scores position by position, and the same
 * ids in the same order, except where two scores are equal within float32 rounding (pgvector sums
 * in float32): there either order is exact.
 */
export function expectTopK(actual: VectorMatch[], ranked: Scored[], topK: number): void {
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

export async function upsertAll(store: VectorStore, scope: string, index: string, items: VectorItem[]): Promise<void> {
  for (let i = 0; i < items.length; i += 500) await store.upsert(scope, index, items.slice(i, i + 500))
}

/** Resolves to the FnboxError `promise` rejects with (fails if it resolves or throws another error). */
export async function failure(promise: Promise<unknown>): Promise<{ code: string; details: Record<string, unknown> }> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  )
  if (!isFnboxError(err)) throw new Error(`expected a FnboxError, got ${String(err)}`)
  return { code: err.code, details: { ...err.details } }
}

export const OPERATORS = ['$eq', '$ne', '$in', '$nin', '$lt', '$lte', '$gt', '$gte'] as const

export const OPERANDS: Record<string, VectorFilterValue[]> = {
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
export const ANY_OPERAND: VectorFilterValue[] = [1, '1', null, true, 'alpha', 3.5, '', 'zz', 0]

export function randomFilter(rand: Rand, used: Set<string>): VectorFilter {
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
