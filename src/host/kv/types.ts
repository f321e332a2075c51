/**
 * The kv domain's store interface: what an adapter implements (`createRuntime({ adapters: { kv } })`),
 * and what `runtime.kv` and the guest's `kv` call. Arguments reach it validated (see `operations.ts`).
 *
 * @module
 */
import type { JsonValue } from '../domains/types.js'

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
