import type { JobStore } from '../jobs/jobs.js'

/**
 * The host data domains as interfaces: what an adapter implements, what `runtime.kv` & co. and the
 * guest's `fnbox:host` module call. fnbox ships memory and Postgres (PGlite or `pg`, through
 * kysely) implementations; `createRuntime({ adapters })` takes a user's own.
 *
 * Every method takes the data **scope** first: the namespace a function's data lives in
 * (`deploy(name, { scope })`, `'default'` unless set). Adapters keep scopes apart; they never
 * see which function called. Arguments reach an adapter validated (types, sizes; see
 * `validate.ts`), so an adapter checks only what depends on its stored state (a vector's
 * dimension against its index, say).
 *
 * @module
 */

/** A JSON value: what KV values and vector metadata are made of. @public */
export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue }

// ---- KV -------------------------------------------------------------------------------------

/** Options of {@link KvStore.set}. @public */
export interface KvSetOptions {
  /** Seconds until the entry expires (fractions allowed). Unset: it never expires. */
  ttl?: number
}

/** Options of {@link KvStore.list}. @public */
export interface KvListOptions {
  /** Only keys starting with this string (compared by code points, never as a pattern). */
  prefix?: string
  /** At most this many keys (default 100, at most 1000). */
  limit?: number
  /** Where the previous page ended (its `cursor`). */
  cursor?: string
}

/** One key of a {@link KvListResult}. @public */
export interface KvListKey {
  key: string
  /** When the entry expires, in Unix ms, if it does. */
  expiresAt?: number
}

/** A page of keys, in code-point order. @public */
export interface KvListResult {
  keys: KvListKey[]
  /** Pass as `cursor` for the next page; absent on the last page. */
  cursor?: string
}

/**
 * A key-value store with expiry. Expired entries are invisible to every method (checked on read)
 * and removed by {@link KvStore.sweep}. Keys compare by code points.
 *
 * @public
 */
export interface KvStore {
  /** The value, or `undefined` if the key is absent or expired. */
  get(scope: string, key: string): Promise<JsonValue | undefined>
  set(scope: string, key: string, value: JsonValue, options?: KvSetOptions): Promise<void>
  /** True if a live entry was removed. */
  delete(scope: string, key: string): Promise<boolean>
  list(scope: string, options?: KvListOptions): Promise<KvListResult>
  /**
   * Adds `by` to a numeric value atomically and returns the result. An absent (or expired) key
   * counts as 0 and gets no expiry; an existing entry keeps its expiry. A non-number value fails
   * with `ERR_INVALID_ARGUMENT`.
   */
  incr(scope: string, key: string, by: number): Promise<number>
  /**
   * Sets `value` only if the current value equals `expected` (deep JSON equality; `undefined`
   * means "absent or expired"). Atomic: of concurrent swaps from the same state, one wins.
   * Returns whether it swapped.
   */
  compareAndSet(
    scope: string,
    key: string,
    expected: JsonValue | undefined,
    value: JsonValue,
    options?: KvSetOptions,
  ): Promise<boolean>
  /** Removes expired entries; returns how many. Called by the runtime's sweeper. */
  sweep?(): Promise<number>
}

// ---- Vector -----------------------------------------------------------------------------------

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

// ---- Files ------------------------------------------------------------------------------------

/** A file's facts. @public */
export interface FileInfo {
  /** The normalized relative path (`a/b.txt`). */
  path: string
  size: number
  /** Last write, Unix ms. */
  modifiedAt: number
}

/** Options of {@link FileStore.list}. @public */
export interface FileListOptions {
  /** Only paths starting with this string (plain text, not a glob). */
  prefix?: string
  /** At most this many files (default 100, at most 1000). */
  limit?: number
  cursor?: string
}

/** A page of files, in path order. @public */
export interface FileListResult {
  files: FileInfo[]
  cursor?: string
}

/**
 * Files under a root, per scope. Paths are relative, `/`-separated and normalized by the caller
 * (see `validate.ts`); an implementation still never touches anything outside its root.
 *
 * @public
 */
export interface FileStore {
  /** The bytes, or `undefined` if there is no such file. */
  read(scope: string, path: string): Promise<Uint8Array | undefined>
  /** Creates or replaces the file (and its folders); atomic for readers. */
  write(scope: string, path: string, data: Uint8Array): Promise<FileInfo>
  stat(scope: string, path: string): Promise<FileInfo | undefined>
  list(scope: string, options?: FileListOptions): Promise<FileListResult>
  /** True if the file existed. */
  delete(scope: string, path: string): Promise<boolean>
}

// ---- Secrets ----------------------------------------------------------------------------------

/**
 * Where encrypted secrets are kept: opaque sealed blobs by name. fnbox seals them (AES-256-GCM)
 * before they reach this store, so a backend never holds a secret in clear.
 *
 * @public
 */
export interface SealedSecretStore {
  get(name: string): Promise<Uint8Array | undefined>
  set(name: string, sealed: Uint8Array): Promise<void>
  delete(name: string): Promise<boolean>
  /** Names in code-point order. */
  list(): Promise<string[]>
}

// ---- Transactions -----------------------------------------------------------------------------

/** The stores of one open transaction: their writes become visible together on commit. @public */
export interface StorageTransaction {
  kv: KvStore
  vector: VectorStore
  commit(): Promise<void>
  rollback(): Promise<void>
}

/** The adapters a runtime uses; see `createRuntime({ adapters })`. @public */
export interface StorageAdapters {
  kv?: KvStore
  vector?: VectorStore
  files?: FileStore
  secrets?: SealedSecretStore
  /** Your own job queue (see {@link JobStore}); `tx` enqueues are then refused. */
  jobs?: JobStore
}
