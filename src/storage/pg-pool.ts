/**
 * The slice of a `pg` pool that fnbox uses, as the type of `storage: { postgres: pool }`: fnbox's
 * published types then compile without `@types/pg` (the `pg` package ships no types of its own).
 * A `pg.Pool` satisfies it, and so does any pool with the same `connect()`.
 *
 * @module
 */

/**
 * A pooled connection, as `pg`'s `PoolClient`: queries with positional parameters, notifications
 * (LISTEN), and `release()` back to the pool.
 *
 * @public
 */
export interface PgPoolClientLike {
  /** Runs one statement with `$1`-style parameters. */
  query(text: string, values?: readonly unknown[]): Promise<{ rows: unknown[]; rowCount: number | null }>
  /** A NOTIFY on a channel this connection LISTENs to. */
  on(event: 'notification', listener: (message: { channel: string; payload?: string | undefined }) => void): unknown
  /** The connection failed. */
  on(event: 'error', listener: (err: Error) => void): unknown
  /** The connection ended. */
  on(event: 'end', listener: () => void): unknown
  /** Drops the listeners fnbox added before the connection goes back to the pool. */
  removeAllListeners(event?: string): unknown
  /** Gives the connection back (with an error: the pool destroys it). */
  release(err?: Error | boolean): void
}

/**
 * Your own `pg` pool (`new pg.Pool(...)`), for `createRuntime({ storage: { postgres: pool } })`.
 * fnbox takes connections from it and never ends it.
 *
 * @example
 * ```ts
 * import pg from 'pg'
 * const pool = new pg.Pool({ connectionString: process.env.DATABASE_URL, max: 20 })
 * const runtime = await createRuntime({ storage: { postgres: pool } })
 * ```
 * @public
 */
export interface PgPoolLike {
  /** A connection of the pool, given back with `release()`. */
  connect(): Promise<PgPoolClientLike>
}
