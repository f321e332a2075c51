/**
 * The in-process KV store (`storage: 'memory'`), and the pieces of KV semantics both built-in
 * stores share: key order, list limits and cursors, expiry times, the errors of `incr`.
 *
 * @internal
 * @module
 */
import { FnboxError } from '../../errors.js'
import type { JsonValue } from '../domains/types.js'
import type { KvListOptions, KvListResult, KvSetOptions, KvStore } from './types.js'
import type { Forkable, WriteGate } from '../../storage/memory-gate.js'
import { systemClock, type Clock } from '../../clock.js'
import { compareCodePoints } from '../domains/code-points.js'

/** Keys one `list` call returns by default, and at most. */
const DEFAULT_LIMIT = 100
const MAX_LIMIT = 1000

/** The page size of `list`: `ERR_INVALID_ARGUMENT` outside 1..1000 (it bounds a query). */
export function listLimit(limit: number | undefined): number {
  if (limit === undefined) return DEFAULT_LIMIT
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_LIMIT) {
    throw new FnboxError('ERR_INVALID_ARGUMENT', `options.limit must be an integer from 1 to ${MAX_LIMIT}`, {
      details: { argument: 'options.limit', limit: MAX_LIMIT },
    })
  }
  return limit
}

/** The cursor after `key`: its UTF-8 bytes in base64url, so it is opaque and URL-safe. */
export function encodeCursor(key: string): string {
  return Buffer.from(key, 'utf8').toString('base64url')
}

/**
 * The key a cursor of {@link encodeCursor} ends after. A string that is not one (it does not
 * re-encode to itself, or holds U+0000) fails with `ERR_INVALID_ARGUMENT` rather than reaching
 * the database.
 */
export function decodeCursor(cursor: string): string {
  const key = Buffer.from(cursor, 'base64url').toString('utf8')
  if (encodeCursor(key) !== cursor || key.includes('\0')) {
    throw new FnboxError('ERR_INVALID_ARGUMENT', 'options.cursor is not a cursor returned by list', {
      details: { argument: 'options.cursor' },
    })
  }
  return key
}

/** When an entry written now with these options expires (Unix ms), or `null` if it does not. */
export function expiryOf(now: number, options: KvSetOptions | undefined): number | null {
  return options?.ttl === undefined ? null : now + Math.round(options.ttl * 1000)
}

/** `incr` on a value that is not a number. */
export function notANumber(): FnboxError {
  return new FnboxError('ERR_INVALID_ARGUMENT', 'incr needs a number at key (the stored value is not one)', {
    details: { argument: 'key' },
  })
}

/** `incr` whose result is past the largest number. */
export function incrOverflow(): FnboxError {
  return new FnboxError('ERR_INVALID_ARGUMENT', 'by makes the value overflow', { details: { argument: 'by' } })
}

/** Deep JSON equality as jsonb's `=`: objects ignore key order, arrays do not. */
function jsonEqual(a: JsonValue, b: JsonValue): boolean {
  if (a === b) return true
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false
  if (Array.isArray(a) || Array.isArray(b)) {
    return Array.isArray(a) && Array.isArray(b) && a.length === b.length && a.every((x, i) => jsonEqual(x, b[i]!))
  }
  const keys = Object.keys(a)
  return keys.length === Object.keys(b).length && keys.every((k) => Object.hasOwn(b, k) && jsonEqual(a[k]!, b[k]!))
}

/** A stored entry; replaced, never mutated, so forks can share them. */
interface Entry {
  /** The value as JSON text: immutable, and every read parses a fresh copy. */
  readonly json: string
  /** Unix ms, or `null` for no expiry. */
  readonly expiresAt: number | null
}

const live = (entry: Entry | undefined, now: number): entry is Entry =>
  entry !== undefined && (entry.expiresAt === null || entry.expiresAt > now)

/**
 * KV entries in a map per scope. Writes pass the {@link WriteGate} (when there is one), so they
 * wait while a transaction is open; reads never wait and see the last committed state. A
 * transaction works on a {@link MemoryKvStore.fork} and the store adopts it on commit.
 */
export class MemoryKvStore implements KvStore, Forkable<MemoryKvStore> {
  readonly #gate: WriteGate | undefined
  /** Expiries are dates on this clock's `wallNow()` (the runtime's, so a test moves TTLs). */
  readonly #clock: Clock
  #scopes = new Map<string, Map<string, Entry>>()

  constructor(options: { gate?: WriteGate; clock?: Clock } = {}) {
    this.#gate = options.gate
    this.#clock = options.clock ?? systemClock
  }

  /** A copy of the current state, without the gate: a transaction's own view. */
  fork(): MemoryKvStore {
    const copy = new MemoryKvStore({ clock: this.#clock })
    for (const [scope, entries] of this.#scopes) copy.#scopes.set(scope, new Map(entries))
    return copy
  }

  /** Takes over the state of a fork (a committed transaction); the fork must not be used after. */
  adopt(fork: MemoryKvStore): void {
    this.#scopes = fork.#scopes
  }

  async get(scope: string, key: string): Promise<JsonValue | undefined> {
    const entry = this.#scopes.get(scope)?.get(key)
    return live(entry, this.#clock.wallNow()) ? (JSON.parse(entry.json) as JsonValue) : undefined
  }

  set(scope: string, key: string, value: JsonValue, options?: KvSetOptions): Promise<void> {
    return this.#write(() => {
      this.#entries(scope).set(key, {
        json: JSON.stringify(value),
        expiresAt: expiryOf(this.#clock.wallNow(), options),
      })
    })
  }

  delete(scope: string, key: string): Promise<boolean> {
    return this.#write(() => {
      const entries = this.#scopes.get(scope)
      const entry = entries?.get(key)
      entries?.delete(key)
      return live(entry, this.#clock.wallNow())
    })
  }

  /** Keys in code-point order: the scope's live keys are filtered and sorted on each call. */
  async list(scope: string, options: KvListOptions = {}): Promise<KvListResult> {
    const limit = listLimit(options.limit)
    const prefix = options.prefix ?? ''
    const after = options.cursor === undefined ? undefined : decodeCursor(options.cursor)
    const now = this.#clock.wallNow()
    const keys: { key: string; expiresAt: number | null }[] = []
    for (const [key, entry] of this.#scopes.get(scope) ?? []) {
      if (key.startsWith(prefix) && (after === undefined || compareCodePoints(key, after) > 0) && live(entry, now)) {
        keys.push({ key, expiresAt: entry.expiresAt })
      }
    }
    keys.sort((a, b) => compareCodePoints(a.key, b.key))
    const page = keys.slice(0, limit).map(({ key, expiresAt }) => (expiresAt === null ? { key } : { key, expiresAt }))
    return keys.length > limit ? { keys: page, cursor: encodeCursor(page[page.length - 1]!.key) } : { keys: page }
  }

  incr(scope: string, key: string, by: number): Promise<number> {
    return this.#write(() => {
      const entries = this.#entries(scope)
      const entry = entries.get(key)
      const isLive = live(entry, this.#clock.wallNow())
      const current = isLive ? (JSON.parse(entry.json) as JsonValue) : 0
      if (typeof current !== 'number') throw notANumber()
      const next = current + by
      if (!Number.isFinite(next)) throw incrOverflow()
      entries.set(key, { json: JSON.stringify(next), expiresAt: isLive ? entry.expiresAt : null })
      return next
    })
  }

  compareAndSet(
    scope: string,
    key: string,
    expected: JsonValue | undefined,
    value: JsonValue,
    options?: KvSetOptions,
  ): Promise<boolean> {
    return this.#write(() => {
      const now = this.#clock.wallNow()
      const entries = this.#entries(scope)
      const entry = entries.get(key)
      const matches = live(entry, now)
        ? expected !== undefined && jsonEqual(JSON.parse(entry.json) as JsonValue, expected)
        : expected === undefined
      if (matches) entries.set(key, { json: JSON.stringify(value), expiresAt: expiryOf(now, options) })
      return matches
    })
  }

  sweep(): Promise<number> {
    return this.#write(() => {
      const now = this.#clock.wallNow()
      let removed = 0
      for (const [scope, entries] of this.#scopes) {
        for (const [key, entry] of entries) {
          if (!live(entry, now)) {
            entries.delete(key)
            removed++
          }
        }
        if (entries.size === 0) this.#scopes.delete(scope)
      }
      return removed
    })
  }

  /** Runs a write after any open transaction; the clock is read inside, when it runs. */
  async #write<T>(fn: () => T): Promise<T> {
    return this.#gate ? this.#gate.write(fn) : fn()
  }

  #entries(scope: string): Map<string, Entry> {
    let entries = this.#scopes.get(scope)
    if (!entries) this.#scopes.set(scope, (entries = new Map()))
    return entries
  }
}
