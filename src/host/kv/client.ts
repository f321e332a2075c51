// The host's own access to the kv domain (`runtime.kv`): the same operations, validation and
// typed errors as the guest's `kv` of `fnbox:host`.
import { checkScope, ScopedClient } from '../domains/clients.js'
import type { JsonValue } from '../domains/types.js'
import type { KvListOptions, KvListResult, KvSetOptions } from './types.js'

/**
 * The key-value store, as functions see it through `kv` of `fnbox:host`.
 *
 * @example
 * ```ts
 * await runtime.kv.set('greeting', { text: 'hello' }, { ttl: 3600 })
 * const tenant = runtime.kv.scope('tenant-42') // the data of functions deployed with scope 'tenant-42'
 * await tenant.incr('visits')
 * ```
 * @public
 */
export interface KvClient {
  /** The data scope this client reads and writes. */
  readonly scopeName: string
  /** The same store in another data scope. */
  scope(name: string): KvClient
  /** The value, or `undefined` when the key is absent or expired. */
  get<T extends JsonValue = JsonValue>(key: string): Promise<T | undefined>
  set(key: string, value: JsonValue, options?: KvSetOptions): Promise<void>
  /** True when a live entry was removed. */
  delete(key: string): Promise<boolean>
  list(options?: KvListOptions): Promise<KvListResult>
  /** Adds `by` (default 1) atomically; an absent key counts as 0. */
  incr(key: string, by?: number): Promise<number>
  /** Sets `value` only if the current value equals `expected` (`undefined`: absent). */
  compareAndSet(
    key: string,
    expected: JsonValue | undefined,
    value: JsonValue,
    options?: KvSetOptions,
  ): Promise<boolean>
}

export class KvClientImpl extends ScopedClient implements KvClient {
  /** The same store in another data scope. */
  scope(name: string): KvClient {
    return new KvClientImpl(this.backend, checkScope(name))
  }
  /** The value, or `undefined` when the key is absent or expired. */
  get<T extends JsonValue = JsonValue>(key: string): Promise<T | undefined> {
    return this.run('kv.get', { key })
  }
  set(key: string, value: JsonValue, options?: KvSetOptions): Promise<void> {
    return this.run('kv.set', { key, value, options })
  }
  /** True when a live entry was removed. */
  delete(key: string): Promise<boolean> {
    return this.run('kv.delete', { key })
  }
  list(options?: KvListOptions): Promise<KvListResult> {
    return this.run('kv.list', { options })
  }
  /** Adds `by` (default 1) atomically; an absent key counts as 0. */
  incr(key: string, by?: number): Promise<number> {
    return this.run('kv.incr', { key, by })
  }
  /** Sets `value` only if the current value equals `expected` (`undefined`: absent). */
  compareAndSet(
    key: string,
    expected: JsonValue | undefined,
    value: JsonValue,
    options?: KvSetOptions,
  ): Promise<boolean> {
    return this.run('kv.compareAndSet', { key, expected, value, options })
  }
}
