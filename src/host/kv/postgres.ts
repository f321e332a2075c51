/**
 * The KV store over Postgres (PGlite or a server), in the `fnbox_kv` table.
 *
 * @internal
 * @module
 */
import { CompiledQuery, type Kysely } from 'kysely'
import { FnboxError } from '../../errors.js'
import type { JsonValue } from '../domains/types.js'
import type { KvListOptions, KvListResult, KvSetOptions, KvStore } from './types.js'
import { decodeCursor, encodeCursor, expiryOf, incrOverflow, listLimit, notANumber } from './memory.js'
import type { KvReadCache, ReadTicket } from './read-cache.js'
import { successor } from '../domains/code-points.js'
import { systemClock, type Clock } from '../../clock.js'

// Statements of a fixed shape, as SQL text: a call only binds its parameters (no query builder).
// Times are parameters from the host's clock (`wallNow()`), never SQL `now()`, so every backend
// follows one clock.

const GET = `select value, expires_at from fnbox_kv where scope = $1 and key = $2 and (expires_at is null or expires_at > $3)`

// Gets that queued while another was in flight, as one statement: `$1`/`$2` the scopes and keys,
// `i` each one's position in the batch.
const GET_MANY = `select q.i::int as i, t.value, t.expires_at from unnest($1::text[], $2::text[]) with ordinality as q(scope, key, i)
join fnbox_kv t on t.scope = q.scope collate "C" and t.key = q.key collate "C"
where t.expires_at is null or t.expires_at > $3`

const SET = `insert into fnbox_kv (scope, key, value, expires_at) values ($1, $2, $3::jsonb, $4)
on conflict (scope, key) do update set value = excluded.value, expires_at = excluded.expires_at`

const DELETE = `delete from fnbox_kv where scope = $1 and key = $2
returning expires_at is null or expires_at > $3 as live`

// An expired row restarts at `by` with no expiry. The `where` skips (returns no row for) a live
// non-number before `value::float8` could fail. float8 arithmetic is JavaScript's, so the result
// equals the memory store's to the last bit (numeric would give 0.1 + 0.2 = 0.3).
const INCR = `insert into fnbox_kv as t (scope, key, value, expires_at) values ($1, $2, to_jsonb($3::float8), null)
on conflict (scope, key) do update set
  value = case when t.expires_at <= $4 then excluded.value else to_jsonb(t.value::float8 + $3::float8) end,
  expires_at = case when t.expires_at <= $4 then null else t.expires_at end
where t.expires_at <= $4 or jsonb_typeof(t.value) = 'number'
returning value`

// `expected === undefined`: insert, or replace an expired row. The conflict's `where` is checked
// against the row's latest version, so of concurrent inserts one wins.
const CAS_ABSENT = `insert into fnbox_kv as t (scope, key, value, expires_at) values ($1, $2, $3::jsonb, $4)
on conflict (scope, key) do update set value = excluded.value, expires_at = excluded.expires_at
where t.expires_at <= $5
returning 1`

// jsonb `=` ignores object key order and compares numbers by value.
const CAS_SWAP = `update fnbox_kv set value = $3::jsonb, expires_at = $4
where scope = $1 and key = $2 and (expires_at is null or expires_at > $5) and value = $6::jsonb
returning 1`

/** Expired rows removed per statement, so one sweep never holds locks on a huge set at once. */
const SWEEP_BATCH = 10_000

// The outer `expires_at` check is repeated so a row renewed meanwhile (by `set`) is kept.
const SWEEP = `with removed as (
  delete from fnbox_kv
  where (scope, key) in (select scope, key from fnbox_kv where expires_at <= $1 limit ${SWEEP_BATCH})
    and expires_at <= $1
  returning 1
) select count(*)::int as n from removed`

/** Postgres' SQLSTATE for a float8 result past its range. */
const NUMERIC_VALUE_OUT_OF_RANGE = '22003'

interface QueuedGet {
  scope: string
  key: string
  ticket: ReadTicket | undefined
  resolve(value: JsonValue | undefined): void
  reject(err: unknown): void
}

interface GetRow {
  value: JsonValue
  expires_at: string | number | bigint | null
}

/** Options of {@link PostgresKvStore}. */
export interface PostgresKvStoreOptions {
  /** The time expiries are dates on (`wallNow()`). Default: the system clock. */
  clock?: Clock
  /**
   * A read cache shared by every store over the database (transactions' included), for a
   * database no one else writes: the embedded PGlite. Reads outside transactions use it; every
   * write drops its key.
   */
  cache?: KvReadCache
}

/** int8 comes back as a string from `pg` and as a number (or bigint) from PGlite. */
const toNumber = (v: string | number | bigint): number => Number(v)

/**
 * The KV store in Postgres. `db` may be the database or a transaction of it: inside one, the
 * store's statements run on the transaction's connection and commit with it.
 *
 * Each method is one statement, atomic by itself: `incr` and `compareAndSet` are upserts or
 * conditional updates, so concurrent callers (other hosts included) never lose an update.
 * Expired rows are invisible to every statement and removed by {@link PostgresKvStore.sweep}.
 */
export class PostgresKvStore implements KvStore {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  readonly #db: Kysely<any>
  /** Gets waiting for the next statement. */
  #waiting: QueuedGet[] | undefined
  /** A get statement is in flight or scheduled. */
  #busy = false
  readonly #cache: KvReadCache | undefined
  readonly #clock: Clock

  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  constructor(db: Kysely<any>, options: PostgresKvStoreOptions = {}) {
    this.#db = db
    this.#cache = options.cache
    this.#clock = options.clock ?? systemClock
  }

  /**
   * Gets are batched: the first waits one turn of the event loop, those arriving meanwhile or
   * while a statement is in flight go together as one statement. PGlite runs one statement at a
   * time at ~150-300 µs each, so under concurrency this multiplies read throughput; a lone get
   * pays one loop turn. Every get still runs after it was issued, so it sees every write that
   * completed before it. Inside a transaction gets run one by one, on the transaction's connection.
   */
  get(scope: string, key: string): Promise<JsonValue | undefined> {
    if (this.#db.isTransaction) return this.#getOne(scope, key).then((row) => row?.value)
    const cached = this.#cache?.get(scope, key)
    if (cached) return Promise.resolve(cached.value)
    const ticket = this.#cache?.issue()
    const promise = new Promise<JsonValue | undefined>((resolve, reject) => {
      ;(this.#waiting ??= []).push({ scope, key, ticket, resolve, reject })
    })
    if (!this.#busy) {
      this.#busy = true
      // One turn of the event loop: gets arriving meanwhile (from other executor threads'
      // messages, which a synchronous PGlite statement would otherwise never overlap) join in.
      setImmediate(() => this.#flush())
    }
    return promise
  }

  async #getOne(scope: string, key: string): Promise<GetRow | undefined> {
    const rows = await this.#rows<GetRow>(GET, [scope, key, this.#clock.wallNow()])
    return rows[0]
  }

  /** Answers a queued get with its row (absent: no live entry), filling the cache. */
  #answer(get: QueuedGet, row: GetRow | undefined): void {
    if (get.ticket !== undefined) {
      const expiresAt = row?.expires_at == null ? null : toNumber(row.expires_at)
      this.#cache!.settle(get.ticket, get.scope, get.key, { value: row?.value, expiresAt })
    }
    get.resolve(row?.value)
  }

  #fail(get: QueuedGet, err: unknown): void {
    if (get.ticket !== undefined) this.#cache!.settle(get.ticket, get.scope, get.key)
    get.reject(err)
  }

  /** Sends the gets that queued behind the last statement, or ends batching if there are none. */
  #flush(): void {
    const batch = this.#waiting
    this.#waiting = undefined
    if (!batch) {
      this.#busy = false
      return
    }
    const run =
      batch.length === 1
        ? this.#getOne(batch[0]!.scope, batch[0]!.key).then((row) => this.#answer(batch[0]!, row))
        : this.#rows<GetRow & { i: number }>(GET_MANY, [
            batch.map((g) => g.scope),
            batch.map((g) => g.key),
            this.#clock.wallNow(),
          ]).then((rows) => {
            const found = new Array<GetRow | undefined>(batch.length)
            for (const row of rows) found[row.i - 1] = row
            batch.forEach((g, i) => this.#answer(g, found[i]))
          })
    void run.catch((err: unknown) => batch.forEach((g) => this.#fail(g, err))).finally(() => this.#flush())
  }

  async set(scope: string, key: string, value: JsonValue, options?: KvSetOptions): Promise<void> {
    this.#cache?.written(scope, key)
    await this.#rows(SET, [scope, key, JSON.stringify(value), expiryOf(this.#clock.wallNow(), options)])
  }

  async delete(scope: string, key: string): Promise<boolean> {
    this.#cache?.written(scope, key)
    const rows = await this.#rows<{ live: boolean }>(DELETE, [scope, key, this.#clock.wallNow()])
    return rows[0]?.live === true
  }

  /** A range scan of the primary key; one row past the page tells whether another follows. */
  async list(scope: string, options: KvListOptions = {}): Promise<KvListResult> {
    const limit = listLimit(options.limit)
    const prefix = options.prefix ?? ''
    const after = options.cursor === undefined ? undefined : decodeCursor(options.cursor)
    const upper = successor(prefix)
    const now = this.#clock.wallNow()
    let query = this.#db
      .selectFrom('fnbox_kv')
      .select(['key', 'expires_at'])
      .where('scope', '=', scope)
      .where((eb) => eb.or([eb('expires_at', 'is', null), eb('expires_at', '>', now)]))
    if (prefix !== '') query = query.where('key', '>=', prefix)
    if (upper !== undefined) query = query.where('key', '<', upper)
    if (after !== undefined) query = query.where('key', '>', after)
    let rows: { key: string; expires_at: string | number | bigint | null }[]
    try {
      rows = await query
        .orderBy('key')
        .limit(limit + 1)
        .execute()
    } catch (cause) {
      throw storageError(cause)
    }
    const keys = rows
      .slice(0, limit)
      .map(({ key, expires_at }) => (expires_at === null ? { key } : { key, expiresAt: toNumber(expires_at) }))
    return rows.length > limit ? { keys, cursor: encodeCursor(keys[keys.length - 1]!.key) } : { keys }
  }

  async incr(scope: string, key: string, by: number): Promise<number> {
    this.#cache?.written(scope, key)
    const rows = await this.#rows<{ value: number }>(INCR, [scope, key, by, this.#clock.wallNow()]).catch(
      (err: FnboxError) => {
        throw sqlState(err.cause) === NUMERIC_VALUE_OUT_OF_RANGE ? incrOverflow() : err
      },
    )
    if (rows.length === 0) throw notANumber()
    return rows[0]!.value
  }

  async compareAndSet(
    scope: string,
    key: string,
    expected: JsonValue | undefined,
    value: JsonValue,
    options?: KvSetOptions,
  ): Promise<boolean> {
    this.#cache?.written(scope, key)
    const now = this.#clock.wallNow()
    const params = [scope, key, JSON.stringify(value), expiryOf(now, options), now]
    const rows =
      expected === undefined
        ? await this.#rows(CAS_ABSENT, params)
        : await this.#rows(CAS_SWAP, [...params, JSON.stringify(expected)])
    return rows.length > 0
  }

  /** Deletes expired rows in batches of 10,000 until a batch comes back short. */
  async sweep(): Promise<number> {
    const now = this.#clock.wallNow()
    let total = 0
    for (;;) {
      const [row] = await this.#rows<{ n: number }>(SWEEP, [now])
      const removed = row?.n ?? 0
      total += removed
      if (removed < SWEEP_BATCH) return total
    }
  }

  /** Runs one statement; a database failure becomes `ERR_STORAGE`, its cause kept for the host. */
  async #rows<R>(text: string, parameters: unknown[]): Promise<R[]> {
    try {
      return (await this.#db.executeQuery<R>(CompiledQuery.raw(text, parameters))).rows
    } catch (cause) {
      throw storageError(cause)
    }
  }
}

function storageError(cause: unknown): FnboxError {
  return new FnboxError('ERR_STORAGE', 'the key-value store failed', { cause })
}

function sqlState(err: unknown): unknown {
  return typeof err === 'object' && err !== null ? (err as { code?: unknown }).code : undefined
}
