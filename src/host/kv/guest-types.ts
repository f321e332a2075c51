/**
 * The kv domain's guest declarations: its part of `declare module 'fnbox:host'` in `host.d.ts`,
 * which `npm run types` generates from the registry (a test fails when the two drift apart).
 *
 * @internal
 * @module
 */
export const KV_GUEST_TYPES = `export interface KvSetOptions {
  /** Seconds until the entry expires (fractions allowed). */
  ttl?: number
}
export interface KvListOptions {
  /** Keys starting with this text (plain text: \`%\` and \`_\` are not wildcards). */
  prefix?: string
  /** Default 100, at most 1000. */
  limit?: number
  /** The \`cursor\` of the previous page. */
  cursor?: string
}
export interface KvListResult {
  /** In code-point order; \`expiresAt\` in Unix ms. */
  keys: { key: string; expiresAt?: number }[]
  /** Absent on the last page. */
  cursor?: string
}
/** Key-value store with expiry. Keys: non-empty strings up to 512 bytes; values: JSON up to 1 MiB. */
export interface FnboxKv {
  /**
   * The value, or \`undefined\` when the key is absent or expired: \`null\` is a value a key can
   * hold (as on the host, \`runtime.kv.get\`).
   */
  get<T extends JsonValue = JsonValue>(key: string): Promise<T | undefined>
  set(key: string, value: JsonValue, options?: KvSetOptions): Promise<void>
  /** True when a live entry was removed. */
  delete(key: string): Promise<boolean>
  list(options?: KvListOptions): Promise<KvListResult>
  /** Adds \`by\` (default 1) atomically and returns the new value; an absent key counts as 0. */
  incr(key: string, by?: number): Promise<number>
  /**
   * Sets \`value\` only if the current value equals \`expected\` (JSON equality; \`undefined\`: the
   * key must be absent). Of concurrent swaps from one state, exactly one wins.
   */
  compareAndSet(
    key: string,
    expected: JsonValue | undefined,
    value: JsonValue,
    options?: KvSetOptions,
  ): Promise<boolean>
}
`
