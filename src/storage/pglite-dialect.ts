/**
 * A kysely dialect for PGlite (embedded Postgres in WebAssembly).
 *
 * Written here rather than taken from npm: `kysely-pglite-dialect` pins PGlite below 0.5, and
 * `kysely-pglite` brings a code-generation CLI (oclif, chokidar, ...) along. The dialect is small:
 * Postgres' adapter, compiler and introspector, and a driver over PGlite's one session.
 *
 * PGlite has a single session, so a transaction must own it: the driver hands out its one
 * connection behind a mutex, and a query or transaction waits until the previous one let go.
 *
 * @internal
 * @module
 */
import {
  CompiledQuery,
  PostgresAdapter,
  PostgresIntrospector,
  PostgresQueryCompiler,
  type DatabaseConnection,
  type Dialect,
  type Driver,
  type Kysely,
  type QueryResult,
  type TransactionSettings,
} from 'kysely'
import { startStorageCall } from './call-context.js'
import type { PgliteSession } from './pglite-thread.js'

class PgliteConnection implements DatabaseConnection {
  constructor(readonly pg: PgliteSession) {}

  async executeQuery<R>(compiled: CompiledQuery): Promise<QueryResult<R>> {
    const res = await this.pg.query<R>(compiled.sql, compiled.parameters as unknown[])
    return res.affectedRows === undefined || !isWrite(compiled)
      ? { rows: res.rows }
      : { rows: res.rows, numAffectedRows: BigInt(res.affectedRows) }
  }

  async *streamQuery<R>(): AsyncIterableIterator<QueryResult<R>> {
    throw new Error('streaming queries are not supported on PGlite')
  }
}

function isWrite(compiled: CompiledQuery): boolean {
  const kind = compiled.query.kind
  return (
    kind === 'InsertQueryNode' || kind === 'UpdateQueryNode' || kind === 'DeleteQueryNode' || kind === 'MergeQueryNode'
  )
}

class PgliteDriver implements Driver {
  readonly #connection: PgliteConnection
  /** Settles when the connection's current holder releases it. */
  #tail: Promise<void> = Promise.resolve()
  #release: (() => void) | undefined

  constructor(pg: PgliteSession) {
    this.#connection = new PgliteConnection(pg)
  }

  async init(): Promise<void> {}

  async acquireConnection(): Promise<DatabaseConnection> {
    const previous = this.#tail
    let release!: () => void
    this.#tail = new Promise<void>((resolve) => (release = resolve))
    await previous
    try {
      // A guest's write cancelled while it waited for the session never starts.
      startStorageCall()
    } catch (err) {
      release()
      throw err
    }
    this.#release = release
    return this.#connection
  }

  async releaseConnection(): Promise<void> {
    const release = this.#release
    this.#release = undefined
    release?.()
  }

  async beginTransaction(connection: DatabaseConnection, settings: TransactionSettings): Promise<void> {
    let sql = 'begin'
    if (settings.isolationLevel) sql += ` isolation level ${settings.isolationLevel}`
    if (settings.accessMode) sql += ` ${settings.accessMode}`
    await connection.executeQuery(CompiledQuery.raw(sql))
  }

  async commitTransaction(connection: DatabaseConnection): Promise<void> {
    await connection.executeQuery(CompiledQuery.raw('commit'))
  }

  async rollbackTransaction(connection: DatabaseConnection): Promise<void> {
    await connection.executeQuery(CompiledQuery.raw('rollback'))
  }

  async destroy(): Promise<void> {}
}

/**
 * The dialect, over an in-process `PGlite` or a {@link PgliteSession} in its own thread; closing
 * the kysely instance leaves the session open (its owner closes it).
 */
export class PgliteDialect implements Dialect {
  constructor(readonly pg: PgliteSession) {}

  createAdapter() {
    return new PostgresAdapter()
  }

  createDriver(): Driver {
    return new PgliteDriver(this.pg)
  }

  createQueryCompiler() {
    return new PostgresQueryCompiler()
  }

  createIntrospector(db: Kysely<unknown>) {
    return new PostgresIntrospector(db)
  }
}
