// Ambient types of the `fnbox:host` virtual module, referenced by guest.d.ts (a script file:
// in a module file this would be an augmentation of a module that does not exist).

/**
 * The host SDK, imported by functions:
 * `import { kv, vector, jobs, files, secrets, tx, utils } from 'fnbox:host'`.
 *
 * Data calls cross to the host, which validates them; failures reject with an `Error` whose
 * `code` is a fnbox error code (`ERR_INVALID_ARGUMENT`, `ERR_TOO_LARGE`, `ERR_DIMENSION_MISMATCH`,
 * `ERR_NOT_FOUND`, `ERR_STORAGE`, `ERR_CONFLICT`, `ERR_TIMEOUT`) and whose `details` hold the
 * limit and the value involved.
 * The function's data lives in its data scope (deploy option `scope`, `'default'` unless set).
 */
declare module 'fnbox:host' {
  /** A JSON value: what KV values and vector metadata are made of. */
  export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue }

  /** The error of a failed data call. */
  export interface FnboxHostError extends Error {
    code: string
    details: {
      limit?: number
      value?: number | string
      argument?: string
      expected?: number
      /** `ERR_CONFLICT`: the tries `tx` made. */
      attempts?: number
    }
  }

  export interface KvSetOptions {
    /** Seconds until the entry expires (fractions allowed). */
    ttl?: number
  }
  export interface KvListOptions {
    /** Keys starting with this text (plain text: `%` and `_` are not wildcards). */
    prefix?: string
    /** Default 100, at most 1000. */
    limit?: number
    /** The `cursor` of the previous page. */
    cursor?: string
  }
  export interface KvListResult {
    /** In code-point order; `expiresAt` in Unix ms. */
    keys: { key: string; expiresAt?: number }[]
    /** Absent on the last page. */
    cursor?: string
  }
  /** Key-value store with expiry. Keys: non-empty strings up to 512 bytes; values: JSON up to 1 MiB. */
  export interface FnboxKv {
    /** The value, or `null` when the key is absent or expired. */
    get<T extends JsonValue = JsonValue>(key: string): Promise<T | null>
    set(key: string, value: JsonValue, options?: KvSetOptions): Promise<void>
    /** True when a live entry was removed. */
    delete(key: string): Promise<boolean>
    list(options?: KvListOptions): Promise<KvListResult>
    /** Adds `by` (default 1) atomically and returns the new value; an absent key counts as 0. */
    incr(key: string, by?: number): Promise<number>
    /**
     * Sets `value` only if the current value equals `expected` (JSON equality; `undefined`: the
     * key must be absent). Of concurrent swaps from one state, exactly one wins.
     */
    compareAndSet(
      key: string,
      expected: JsonValue | undefined,
      value: JsonValue,
      options?: KvSetOptions,
    ): Promise<boolean>
  }

  export type VectorFilterValue = string | number | boolean | null
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
  /** Every field must match; `{ lang: 'en' }` means `{ lang: { $eq: 'en' } }`; dotted names reach nested fields. */
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
    /** Applied before the top-k: the best `topK` matching items, never fewer if they exist. */
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

  export interface FileInfo {
    path: string
    size: number
    /** Unix ms. */
    modifiedAt: number
  }
  /** Files of the function's scope. Paths are relative and `/`-separated; `..`, `\`, `%2e`... are refused. */
  export interface FnboxFiles {
    /** The bytes, or `null` when there is no such file. */
    read(path: string): Promise<ArrayBuffer | null>
    /** Creates or replaces a file (up to 16 MiB); a string is written as UTF-8. */
    write(path: string, data: string | ArrayBuffer | ArrayBufferView): Promise<FileInfo>
    stat(path: string): Promise<FileInfo | null>
    delete(path: string): Promise<boolean>
    list(options?: {
      prefix?: string
      limit?: number
      cursor?: string
    }): Promise<{ files: FileInfo[]; cursor?: string }>
  }

  /** Secrets granted to this function at deploy (`deploy(name, { secrets: [...] })`). */
  export interface FnboxSecrets {
    /** The value, or `undefined` if it is not granted or not set. Values are redacted from logs. */
    get(name: string): string | undefined
  }

  /** Options of `jobs.enqueue`. */
  export interface FnboxEnqueueOptions {
    /** When to run at the earliest (by the database's clock). Not with `delayMs`. */
    runAt?: Date | string | number
    /** Run at the earliest this many ms from now. */
    delayMs?: number
    /** Dedupe key: while a job with this key is queued, enqueue answers that job's id. */
    key?: string
    /** -1000 to 1000, default 0: a larger number runs earlier. */
    priority?: number
    /** Attempts before the job is dead (1 to 1000, default 5). */
    maxAttempts?: number
    /** Time limit of one attempt, in ms (default: the handling function's `limits.jobTimeoutMs`). */
    timeoutMs?: number
  }

  /** Durable background jobs, run by the function deployed with `jobs: { [task]: export }`. */
  export interface FnboxJobs {
    /**
     * Stores a job of `task` (its payload at most 256 KiB of JSON): resolves once it is durable.
     * `deduplicated`: a queued job with the same `key` was found, and its id is answered.
     */
    enqueue(
      task: string,
      payload?: unknown,
      options?: FnboxEnqueueOptions,
    ): Promise<{ id: string; deduplicated: boolean }>
  }

  /**
   * The second argument of an export run as a job (`deploy({ jobs: { task: 'export' } })`, a
   * cron slot, a hook's job): `export async function resize(payload, ctx: FnboxJobContext)`.
   */
  export interface FnboxJobContext {
    job: {
      id: string
      task: string
      /** This attempt, from 1: an export may run more than once (at-least-once). */
      attempt: number
      maxAttempts: number
      /** When the job was due (ISO 8601): its runAt, a cron slot's time. */
      scheduledTime: string
    }
  }

  /** What a transaction callback gets: kv, vector and jobs inside the transaction. */
  export interface FnboxTransaction {
    readonly kv: FnboxKv
    readonly vector: FnboxVector
    /** Enqueues that commit with the transaction, or not at all. */
    readonly jobs: FnboxJobs
  }

  /** Small helpers computed by the host. */
  export interface FnboxUtils {
    /** A UUID v7: time-ordered (48-bit Unix milliseconds first), the rest random. */
    uuid(): string
    /**
     * Hex digest of a string (as UTF-8) or bytes.
     * @param algorithm - `'sha256'` (default), `'sha384'`, `'sha512'`, `'sha1'` or `'md5'`.
     */
    hash(
      data: string | ArrayBuffer | ArrayBufferView,
      algorithm?: 'sha256' | 'sha384' | 'sha512' | 'sha1' | 'md5',
    ): string
  }

  export const kv: FnboxKv
  export const vector: FnboxVector
  export const jobs: FnboxJobs
  export const files: FnboxFiles
  export const secrets: FnboxSecrets
  /**
   * Runs `fn` in one serializable database transaction: writes through `t.kv` and `t.vector`
   * commit together when it resolves and roll back when it throws or the invocation times out.
   * When it conflicts with a concurrent transaction it is rolled back and `fn` runs again (with
   * backoff), up to `attempts` times (default 50, at most 100), then rejects with `ERR_CONFLICT`
   * (nothing committed). So effects of `fn` outside `t` (a `fetch`, a log line) may happen more
   * than once: keep them out of it, or pass `{ attempts: 1 }`. One at a time per invocation; use
   * `t`, not the top-level `kv`, inside it.
   */
  export function tx<T>(fn: (t: FnboxTransaction) => Promise<T>, options?: { attempts?: number }): Promise<T>
  export const utils: FnboxUtils
  const host: {
    readonly kv: FnboxKv
    readonly vector: FnboxVector
    readonly jobs: FnboxJobs
    readonly files: FnboxFiles
    readonly secrets: FnboxSecrets
    readonly tx: typeof tx
    readonly utils: FnboxUtils
  }
  export default host
}
