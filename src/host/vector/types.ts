/**
 * The vector domain's store interface: what an adapter implements
 * (`createRuntime({ adapters: { vector } })`), and what `runtime.vector` and the guest's `vector`
 * call. Arguments reach it validated (see `operations.ts`); a store checks only what depends on
 * its stored state (a vector's dimensions against its index).
 *
 * @module
 */
import type { JsonValue } from '../domains/types.js'

/** Distance of a vector index. Scores: cosine similarity, dot product, or L2 distance. @public */
export type VectorMetric = 'cosine' | 'l2' | 'inner-product'

/** An index's shape. @public */
export interface VectorIndexInfo {
  name: string
  dimensions: number
  metric: VectorMetric
}

/** A vector with its id, optional metadata and namespace. @public */
export interface VectorItem {
  /** Unique within the index (a second upsert with the same id replaces the first). */
  id: string
  values: number[]
  metadata?: Record<string, JsonValue>
  /** A partition inside the index; queries can be limited to one. */
  namespace?: string
}

/** A comparison on one metadata field (dotted paths reach nested fields). @public */
export type VectorFilterValue = string | number | boolean | null
/** @public */
export interface VectorFilterOps {
  $eq?: VectorFilterValue
  $ne?: VectorFilterValue
  $in?: VectorFilterValue[]
  $nin?: VectorFilterValue[]
  $lt?: string | number
  $lte?: string | number
  $gt?: string | number
  $gte?: string | number
}
/**
 * A metadata filter: every field must match. `{ status: 'public' }` is `{ status: { $eq: 'public' } }`.
 * `$ne` and `$nin` also match items without the field. Range operators compare numbers with
 * numbers and strings with strings (by code points); other types never match them.
 *
 * @public
 */
export type VectorFilter = Record<string, VectorFilterValue | VectorFilterOps>

/** A similarity query. @public */
export interface VectorQuery {
  vector: number[]
  /** Best matches to return (default 10, at most 1000). */
  topK?: number
  /** Applied before the top-k: a filtered query returns the best `topK` matching items. */
  filter?: VectorFilter
  namespace?: string
  includeMetadata?: boolean
  includeValues?: boolean
}

/** One result of a query, best first. @public */
export interface VectorMatch {
  id: string
  /** Cosine similarity, dot product, or L2 distance (lower is closer), by the index's metric. */
  score: number
  namespace?: string
  metadata?: Record<string, JsonValue>
  values?: number[]
}

/**
 * Vector indexes. An index is created explicitly ({@link VectorStore.createIndex}) or on the first
 * upsert (the first vector's dimensions, cosine).
 *
 * @public
 */
export interface VectorStore {
  /** Creates the index, or checks an existing one has the same shape (`ERR_INVALID_ARGUMENT` if not). */
  createIndex(scope: string, index: VectorIndexInfo): Promise<void>
  describeIndex(scope: string, name: string): Promise<VectorIndexInfo | undefined>
  /** Drops the index and its vectors; true if it existed. */
  deleteIndex(scope: string, name: string): Promise<boolean>
  listIndexes(scope: string): Promise<VectorIndexInfo[]>
  /** Inserts or replaces items; creates the index if needed. Returns how many were written. */
  upsert(scope: string, index: string, items: VectorItem[]): Promise<number>
  /** Unknown index: `ERR_NOT_FOUND`. Wrong dimensions: `ERR_DIMENSION_MISMATCH`. */
  query(scope: string, index: string, query: VectorQuery): Promise<VectorMatch[]>
  /** The items with these ids that exist (values and metadata included), in the order asked. */
  get(scope: string, index: string, ids: string[]): Promise<VectorItem[]>
  /** Returns how many existed. */
  delete(scope: string, index: string, ids: string[]): Promise<number>
}
