/**
 * `fnbox/testing` as an adapter author imports it (the built package): the conformance suites run
 * against a store of one's own. Here, a KV store written from scratch over a Map: what passes is
 * the contract, not fnbox's own implementation.
 */
import { describe } from 'vitest'
import type { JsonValue, KvListOptions, KvListResult, KvSetOptions, KvStore } from 'fnbox'
import { runKvStoreConformance, runSealedSecretStoreConformance } from 'fnbox/testing/conformance'

interface Entry {
  json: string
  expiresAt?: number
}

/** A third-party adapter: keys in a Map per scope, expiry read from Date.now(). */
class MapKvStore implements KvStore {
  readonly #scopes = new Map<string, Map<string, Entry>>()

  #live(scope: string, key: string): Entry | undefined {
    const entry = this.#scopes.get(scope)?.get(key)
    if (entry?.expiresAt !== undefined && entry.expiresAt <= Date.now()) return undefined
    return entry
  }

  #put(scope: string, key: string, value: JsonValue, ttl: number | undefined, keep?: Entry): void {
    let keys = this.#scopes.get(scope)
    if (!keys) this.#scopes.set(scope, (keys = new Map()))
    const expiresAt = ttl !== undefined ? Date.now() + ttl * 1000 : keep?.expiresAt
    keys.set(key, { json: JSON.stringify(value), ...(expiresAt !== undefined ? { expiresAt } : {}) })
  }

  async get(scope: string, key: string): Promise<JsonValue | undefined> {
    const entry = this.#live(scope, key)
    return entry ? (JSON.parse(entry.json) as JsonValue) : undefined
  }

  async set(scope: string, key: string, value: JsonValue, options?: KvSetOptions): Promise<void> {
    this.#put(scope, key, value, options?.ttl)
  }

  async delete(scope: string, key: string): Promise<boolean> {
    const live = this.#live(scope, key) !== undefined
    this.#scopes.get(scope)?.delete(key)
    return live
  }

  async list(scope: string, options: KvListOptions = {}): Promise<KvListResult> {
    const limit = options.limit ?? 100
    if (!Number.isInteger(limit) || limit < 1 || limit > 1000) throw invalid('options.limit', 'must be from 1 to 1000')
    if (options.cursor !== undefined && !options.cursor.startsWith('c:')) {
      throw invalid('options.cursor', 'is not a cursor of this store')
    }
    const after = options.cursor?.slice(2)
    const byBytes = (a: string, b: string) => Buffer.compare(Buffer.from(a), Buffer.from(b))
    const keys = [...(this.#scopes.get(scope)?.keys() ?? [])]
      .filter((k) => this.#live(scope, k) && k.startsWith(options.prefix ?? ''))
      .filter((k) => after === undefined || byBytes(k, after) > 0)
      .sort(byBytes)
    const page = keys.slice(0, limit)
    return {
      keys: page.map((key) => {
        const { expiresAt } = this.#live(scope, key)!
        return expiresAt === undefined ? { key } : { key, expiresAt }
      }),
      ...(keys.length > limit ? { cursor: `c:${page.at(-1)}` } : {}),
    }
  }

  async incr(scope: string, key: string, by: number): Promise<number> {
    const entry = this.#live(scope, key)
    const current = entry ? (JSON.parse(entry.json) as JsonValue) : 0
    if (typeof current !== 'number') {
      throw invalid('key', 'holds no number')
    }
    const next = current + by
    if (!Number.isFinite(next)) {
      throw invalid('by', 'takes the result past the largest number')
    }
    this.#put(scope, key, next, undefined, entry)
    return next
  }

  async compareAndSet(
    scope: string,
    key: string,
    expected: JsonValue | undefined,
    value: JsonValue,
    options?: KvSetOptions,
  ): Promise<boolean> {
    const entry = this.#live(scope, key)
    const current = entry ? (JSON.parse(entry.json) as JsonValue) : undefined
    if (!sameJson(current, expected)) return false
    this.#put(scope, key, value, options?.ttl)
    return true
  }

  async sweep(): Promise<number> {
    let removed = 0
    for (const keys of this.#scopes.values()) {
      for (const [key, entry] of keys) {
        if (entry.expiresAt !== undefined && entry.expiresAt <= Date.now()) removed += keys.delete(key) ? 1 : 0
      }
    }
    return removed
  }
}

/** The error fnbox's stores throw for bad input: an adapter may throw the same shape. */
const invalid = (argument: string, message: string) =>
  Object.assign(new Error(`${argument} ${message}`), { code: 'ERR_INVALID_ARGUMENT', details: { argument } })

function sameJson(a: JsonValue | undefined, b: JsonValue | undefined): boolean {
  if (a === undefined || b === undefined) return a === b
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return a === b
  if (Array.isArray(a) !== Array.isArray(b)) return false
  const ka = Object.keys(a)
  const kb = Object.keys(b)
  if (ka.length !== kb.length) return false
  return ka.every(
    (k) => Object.hasOwn(b, k) && sameJson((a as Record<string, JsonValue>)[k], (b as Record<string, JsonValue>)[k]),
  )
}

describe('fnbox/testing, imported as a package', () => {
  runKvStoreConformance(() => new MapKvStore(), { name: 'a Map adapter' })

  const sealed = new Map<string, Uint8Array>()
  runSealedSecretStoreConformance(() => ({
    get: async (name) => (sealed.has(name) ? new Uint8Array(sealed.get(name)!) : undefined),
    set: async (name, blob) => void sealed.set(name, new Uint8Array(blob)),
    delete: async (name) => sealed.delete(name),
    list: async () => [...sealed.keys()].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b))),
  }))
})
