/**
 * The vector domain's guest declarations: its part of `declare module 'fnbox:host'` in `host.d.ts`,
 * which `npm run types` generates from the registry (a test fails when the two drift apart).
 *
 * @internal
 * @module
 */
export const VECTOR_GUEST_TYPES = `export type VectorFilterValue = string | number | boolean | null
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
/** Every field must match; \`{ lang: 'en' }\` means \`{ lang: { $eq: 'en' } }\`; dotted names reach nested fields. */
export type VectorFilter = Record<string, VectorFilterValue | VectorFilterOps>
export interface VectorItem {
  id: string
  values: number[]
  metadata?: Record<string, JsonValue>
  namespace?: string
}
export interface VectorQuery {
  vector: number[]
  /** Default 10, at most 1000. */
  topK?: number
  /** Applied before the top-k: the best \`topK\` matching items, never fewer if they exist. */
  filter?: VectorFilter
  namespace?: string
  includeMetadata?: boolean
  includeValues?: boolean
}
export interface VectorMatch {
  id: string
  /** Cosine similarity, dot product, or L2 distance (lower is closer), by the index's metric. */
  score: number
  namespace?: string
  metadata?: Record<string, JsonValue>
  values?: number[]
}
/** Vector search. An index is created on the first upsert (its dimensions, cosine) unless the host made it. */
export interface FnboxVector {
  /** Inserts or replaces items by id (at most 1000 per call); resolves with how many. */
  upsert(index: string, items: VectorItem[]): Promise<number>
  /** Best matches first. */
  query(index: string, query: VectorQuery): Promise<VectorMatch[]>
  get(index: string, ids: string[]): Promise<VectorItem[]>
  delete(index: string, ids: string[]): Promise<number>
}
`
