/**
 * A read cache for the KV store of a database that has one user: the embedded PGlite, which only
 * this process opens. Hot keys are then read without a statement (the embedded database runs one
 * statement at a time, in a thread of its own); every write through any store sharing the cache
 * drops the key's entry, so the cache never answers what the database would not.
 *
 * Coherence, without locks: a read may fill the cache only if no write of its key started after
 * the read did. Statements reach the database's one session in the order they were issued (the
 * dialect's connection mutex, FIFO), so a read issued after a write sees that write; one issued
 * before it may return an older value, which must not be kept. Writes inside a transaction drop
 * their keys the same way, and reads inside one never touch the cache (they may see uncommitted
 * data); a read outside waits for the transaction to end, so what it fills is what was committed.
 *
 * Values are kept as JSON text (each hit parses a fresh copy); entries carry their expiry and are
 * checked against the clock of every KV statement (the host's `wallNow()`).
 *
 * @internal
 * @module
 */
import type { JsonValue } from '../domains/types.js'
import { systemClock, type Clock } from '../../clock.js'

export interface KvReadCacheOptions {
  /** Entries kept at most (least recently used go first). Default 10,000. */
  maxEntries?: number
  /** JSON text kept at most, in UTF-16 code units. Default 16 Mi. */
  maxChars?: number
  /** Larger values are never kept. Default 64 Ki. */
  maxValueChars?: number
  /** The clock of the stores sharing the cache. Default: the system clock. */
  clock?: Clock
}

interface Entry {
  /** JSON text of the value; `undefined` for a key known to be absent. */
  text: string | undefined
  /** Unix ms, or `null` for no expiry. */
  expiresAt: number | null
}

/** What a read remembers from when it was issued. */
export type ReadTicket = number

export class KvReadCache {
  readonly #entries = new Map<string, Entry>()
  readonly #maxEntries: number
  readonly #maxChars: number
  readonly #maxValueChars: number
  readonly #clock: Clock
  #chars = 0
  /** Counts writes; a write's number goes to its key in {@link KvReadCache.#lastWrite}. */
  #writes = 0
  readonly #lastWrite = new Map<string, number>()
  /** Reads issued and not yet settled: while there are none, `#lastWrite` may be forgotten. */
  #reading = 0

  constructor(options: KvReadCacheOptions = {}) {
    this.#maxEntries = options.maxEntries ?? 10_000
    this.#maxChars = options.maxChars ?? 16 * 1024 * 1024
    this.#maxValueChars = options.maxValueChars ?? 64 * 1024
    this.#clock = options.clock ?? systemClock
  }

  /**
   * The cached value: `{ value }` (`value` undefined for an absent key) on a hit, `undefined` on a
   * miss. A hit refreshes the entry's place in the LRU order.
   */
  get(scope: string, key: string): { value: JsonValue | undefined } | undefined {
    const id = cacheKey(scope, key)
    const entry = this.#entries.get(id)
    if (!entry) return undefined
    if (entry.expiresAt !== null && entry.expiresAt <= this.#clock.wallNow()) {
      this.#drop(id, entry)
      return undefined
    }
    this.#entries.delete(id)
    this.#entries.set(id, entry)
    return { value: entry.text === undefined ? undefined : (JSON.parse(entry.text) as JsonValue) }
  }

  /** Call when a read of the database is issued; hand the ticket to {@link KvReadCache.settle}. */
  issue(): ReadTicket {
    this.#reading++
    return this.#writes
  }

  /**
   * Call when a read issued with `ticket` settled: with what it read (`found` false on failure),
   * it fills the entry unless a write of the key started since.
   */
  settle(
    ticket: ReadTicket,
    scope: string,
    key: string,
    found?: { value: JsonValue | undefined; expiresAt: number | null },
  ): void {
    this.#reading--
    const id = cacheKey(scope, key)
    if (found && (this.#lastWrite.get(id) ?? 0) <= ticket) {
      const text = found.value === undefined ? undefined : JSON.stringify(found.value)
      if (text === undefined || text.length <= this.#maxValueChars) this.#put(id, { text, expiresAt: found.expiresAt })
    }
    // No read older than now is left: every later read is issued after every write so far.
    if (this.#reading === 0) this.#lastWrite.clear()
  }

  /** Call when a write of the key is issued (before its statement is sent). */
  written(scope: string, key: string): void {
    const id = cacheKey(scope, key)
    const entry = this.#entries.get(id)
    if (entry) this.#drop(id, entry)
    if (this.#reading > 0) this.#lastWrite.set(id, ++this.#writes)
  }

  /** Entries and their JSON text in UTF-16 code units (for tests and stats). */
  get size(): { entries: number; chars: number } {
    return { entries: this.#entries.size, chars: this.#chars }
  }

  #put(id: string, entry: Entry): void {
    const old = this.#entries.get(id)
    if (old) this.#drop(id, old)
    this.#entries.set(id, entry)
    this.#chars += weight(id, entry)
    for (const [oldest, e] of this.#entries) {
      if (this.#entries.size <= this.#maxEntries && this.#chars <= this.#maxChars) break
      this.#drop(oldest, e)
    }
  }

  #drop(id: string, entry: Entry): void {
    this.#entries.delete(id)
    this.#chars -= weight(id, entry)
  }
}

function cacheKey(scope: string, key: string): string {
  // Scopes hold no NUL (checked): the pair is unambiguous.
  return `${scope}\0${key}`
}

function weight(id: string, entry: Entry): number {
  return id.length + (entry.text?.length ?? 0)
}
