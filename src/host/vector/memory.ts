/**
 * The memory vector store: exact (brute-force) search, for tests, development and small data.
 *
 * It mirrors the Postgres store rather than JavaScript: vectors are kept as 32-bit floats (as in
 * pgvector's `vector`) and come back as the shortest decimals of those floats (as pgvector prints
 * them), ties rank by id in code-point order, and filters share one implementation (`filter.ts`).
 * So a test against the memory store sees what production on Postgres would.
 *
 * @internal
 * @module
 */
import { FnboxError } from '../../errors.js'
import type { Forkable, WriteGate } from '../../storage/memory-gate.js'
import type { JsonValue } from '../domains/types.js'
import type { VectorIndexInfo, VectorItem, VectorMatch, VectorMetric, VectorQuery, VectorStore } from './types.js'
import { checkForIndex, checkIndexInfo, checkSameShape, checkTopK, checkVector, scoreOf } from './rules.js'
import { checkFilter, matches } from './filter.js'
import { compareCodePoints } from '../domains/code-points.js'

interface StoredItem {
  readonly id: string
  readonly values: Float32Array
  /** The Euclidean norm, kept for cosine. */
  readonly norm: number
  readonly namespace: string | undefined
  readonly metadata: Record<string, JsonValue> | undefined
}

interface MemoryIndex {
  readonly info: VectorIndexInfo
  readonly items: Map<string, StoredItem>
}

/** Options of {@link MemoryVectorStore}. */
export interface MemoryVectorStoreOptions {
  /** The gate of the runtime's memory stores: writes wait while a transaction is open. */
  gate?: WriteGate
}

/** A distance between the query (and its norm) and an item: lower is closer. */
type Distance = (query: Float32Array, queryNorm: number, item: StoredItem) => number

/** pgvector's distances (`<=>`, `<#>`, `<->`), computed in double precision. */
const DISTANCE: Record<VectorMetric, Distance> = {
  cosine: (q, qNorm, item) => 1 - Math.min(1, Math.max(-1, dot(q, item.values) / (qNorm * item.norm))),
  'inner-product': (q, _qNorm, item) => -dot(q, item.values),
  l2: (q, _qNorm, item) => {
    let sum = 0
    for (let i = 0; i < q.length; i++) sum += (q[i]! - item.values[i]!) ** 2
    return Math.sqrt(sum)
  },
}

/**
 * Vector indexes in memory. Copy-on-write transactions: {@link MemoryVectorStore.fork} shares
 * every index with the fork, and whichever side writes an index first copies it.
 */
export class MemoryVectorStore implements VectorStore, Forkable<MemoryVectorStore> {
  readonly #gate: WriteGate | undefined
  #scopes = new Map<string, Map<string, MemoryIndex>>()
  /** Indexes this store may change in place; any other may be shared with a fork. */
  #owned = new WeakSet<MemoryIndex>()

  constructor(options: MemoryVectorStoreOptions = {}) {
    this.#gate = options.gate
  }

  fork(): MemoryVectorStore {
    const fork = new MemoryVectorStore()
    fork.#scopes = new Map([...this.#scopes].map(([scope, indexes]) => [scope, new Map(indexes)]))
    this.#owned = new WeakSet()
    return fork
  }

  /** Takes over the fork's state; the fork must not be used afterwards. */
  adopt(fork: MemoryVectorStore): void {
    this.#scopes = fork.#scopes
    this.#owned = fork.#owned
  }

  async createIndex(scope: string, index: VectorIndexInfo): Promise<void> {
    const info = checkIndexInfo(index)
    await this.#write(() => {
      const existing = this.#scopes.get(scope)?.get(info.name)
      if (existing) checkSameShape(existing.info, info)
      else this.#add(scope, info)
    })
  }

  async describeIndex(scope: string, name: string): Promise<VectorIndexInfo | undefined> {
    const index = this.#scopes.get(scope)?.get(name)
    return index && { ...index.info }
  }

  async deleteIndex(scope: string, name: string): Promise<boolean> {
    return this.#write(() => {
      const indexes = this.#scopes.get(scope)
      if (!indexes?.delete(name)) return false
      if (indexes.size === 0) this.#scopes.delete(scope)
      return true
    })
  }

  async listIndexes(scope: string): Promise<VectorIndexInfo[]> {
    const indexes = [...(this.#scopes.get(scope)?.values() ?? [])].map((index) => ({ ...index.info }))
    return indexes.sort((a, b) => compareCodePoints(a.name, b.name))
  }

  async upsert(scope: string, name: string, items: VectorItem[]): Promise<number> {
    items.forEach((item, i) => checkVector(item.values, `items[${i}].values`))
    const first = items[0]
    if (!first) return 0
    return this.#write(() => {
      const existing = this.#mutable(scope, name)
      const info: VectorIndexInfo = existing?.info ?? { name, dimensions: first.values.length, metric: 'cosine' }
      items.forEach((item, i) => checkForIndex(item.values, info, `items[${i}].values`))
      const index = existing ?? this.#add(scope, info)
      for (const item of items) index.items.set(item.id, stored(item))
      return new Set(items.map((item) => item.id)).size
    })
  }

  async query(scope: string, name: string, query: VectorQuery): Promise<VectorMatch[]> {
    const vector = checkVector(query.vector, 'vector')
    const topK = checkTopK(query.topK)
    const conditions = checkFilter(query.filter)
    const index = this.#scopes.get(scope)?.get(name)
    if (!index) throw notFound(name)
    checkForIndex(vector, index.info, 'vector')
    const q = Float32Array.from(vector)
    const qNorm = Math.sqrt(dot(q, q))
    const distance = DISTANCE[index.info.metric]
    const ranked: { item: StoredItem; distance: number }[] = []
    for (const item of index.items.values()) {
      if (query.namespace !== undefined && item.namespace !== query.namespace) continue
      if (!matches(item.metadata, conditions)) continue
      ranked.push({ item, distance: distance(q, qNorm, item) })
    }
    ranked.sort((a, b) => a.distance - b.distance || compareCodePoints(a.item.id, b.item.id))
    return ranked.slice(0, topK).map(({ item, distance: d }) => {
      const match: VectorMatch = { id: item.id, score: scoreOf(index.info.metric, d) }
      if (item.namespace !== undefined) match.namespace = item.namespace
      if (query.includeMetadata && item.metadata) match.metadata = structuredClone(item.metadata)
      if (query.includeValues) match.values = decimals(item.values)
      return match
    })
  }

  async get(scope: string, name: string, ids: string[]): Promise<VectorItem[]> {
    const index = this.#scopes.get(scope)?.get(name)
    if (!index) return []
    const found: VectorItem[] = []
    for (const id of new Set(ids)) {
      const item = index.items.get(id)
      if (!item) continue
      const out: VectorItem = { id, values: decimals(item.values) }
      if (item.metadata) out.metadata = structuredClone(item.metadata)
      if (item.namespace !== undefined) out.namespace = item.namespace
      found.push(out)
    }
    return found
  }

  async delete(scope: string, name: string, ids: string[]): Promise<number> {
    return this.#write(() => {
      const present = this.#scopes.get(scope)?.get(name)
      const doomed = new Set(ids.filter((id) => present?.items.has(id)))
      if (doomed.size === 0) return 0
      const index = this.#mutable(scope, name)!
      for (const id of doomed) index.items.delete(id)
      return doomed.size
    })
  }

  async #write<T>(fn: () => T): Promise<T> {
    return this.#gate ? this.#gate.write(fn) : fn()
  }

  #add(scope: string, info: VectorIndexInfo): MemoryIndex {
    const index: MemoryIndex = { info: { ...info }, items: new Map() }
    let indexes = this.#scopes.get(scope)
    if (!indexes) this.#scopes.set(scope, (indexes = new Map()))
    indexes.set(info.name, index)
    this.#owned.add(index)
    return index
  }

  /** The index, copied first if it may be shared with a fork. */
  #mutable(scope: string, name: string): MemoryIndex | undefined {
    const indexes = this.#scopes.get(scope)
    const index = indexes?.get(name)
    if (!indexes || !index || this.#owned.has(index)) return index
    const copy: MemoryIndex = { info: index.info, items: new Map(index.items) }
    indexes.set(name, copy)
    this.#owned.add(copy)
    return copy
  }
}

function notFound(name: string): FnboxError {
  return new FnboxError('ERR_NOT_FOUND', `vector index "${name}" does not exist`, { details: { index: name } })
}

function stored(item: VectorItem): StoredItem {
  const values = Float32Array.from(item.values)
  return {
    id: item.id,
    values,
    norm: Math.sqrt(dot(values, values)),
    namespace: item.namespace,
    metadata: item.metadata && structuredClone(item.metadata),
  }
}

function dot(a: Float32Array, b: Float32Array): number {
  let sum = 0
  for (let i = 0; i < a.length; i++) sum += a[i]! * b[i]!
  return sum
}

/**
 * The floats as pgvector prints them: each the shortest decimal that reads back as the same
 * float32 (`0.1` stays `0.1`, not `0.10000000149011612`). Fewer digits never round-trip when
 * more do not, so the digit count is found by bisection.
 */
function decimals(values: Float32Array): number[] {
  return Array.from(values, (f) => {
    if (f === 0) return 0
    let lo = 1
    let hi = 9
    while (lo < hi) {
      const mid = (lo + hi) >> 1
      if (Math.fround(Number(f.toPrecision(mid))) === f) hi = mid
      else lo = mid + 1
    }
    return Number(f.toPrecision(lo))
  })
}
