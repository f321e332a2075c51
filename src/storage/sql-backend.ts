/**
 * The stores of a SQL backend (PGlite or server Postgres) over one migrated database. Loaded by
 * `backend.ts` at the first use of such storage: this module and kysely, which it and the
 * Postgres stores import, cost a host that keeps its data in memory (or never touches it) nothing.
 *
 * @internal
 * @module
 */
import { sql } from 'kysely'
import type { KvStore, SealedSecretStore, VectorStore } from '../host/domains/types.js'
import { PostgresKvStore } from '../host/kv/postgres.js'
import { KvReadCache } from '../host/kv/read-cache.js'
import { PostgresSealedSecretStore } from '../host/secrets/postgres.js'
import { PostgresVectorStore } from '../host/vector/postgres.js'
import { PostgresJobStore } from '../host/jobs/postgres-jobs.js'
import type { JobStore } from '../host/jobs/jobs.js'
import type { OpenTransaction } from './backend.js'
import { openSql, type SqlConfig, type SqlDatabase } from './sql.js'

/** The built-in stores of a backend, and what opens a transaction over kv and vector. */
export interface BuiltInStores {
  readonly kv: KvStore
  readonly vector: VectorStore
  readonly sealed: SealedSecretStore
  readonly jobs: JobStore
  /** The database, for what needs SQL itself (table hooks, LISTEN/NOTIFY); absent in memory. */
  readonly sql?: SqlDatabase
  transaction(): Promise<OpenTransaction>
  close(): Promise<void>
}

/** Opens and migrates the database of `config`, and the stores over it. */
export async function openSqlStores(config: SqlConfig): Promise<BuiltInStores> {
  const database = await openSql(config)
  const db = database.db
  // The embedded database has one user, this process: hot keys may be read from memory.
  const kvOptions = database.kind === 'pglite' ? { cache: new KvReadCache() } : {}
  // PGlite has no autovacuum: the jobs table is vacuumed after each sweep.
  const jobs = new PostgresJobStore(db, { notifications: database, vacuum: database.kind === 'pglite' })
  return {
    jobs,
    sql: database,
    kv: new PostgresKvStore(db, kvOptions),
    vector: new PostgresVectorStore(db),
    sealed: new PostgresSealedSecretStore(db),
    async transaction() {
      // SERIALIZABLE: a read-modify-write in `tx` never loses an update to a concurrent one (on
      // server Postgres, READ COMMITTED let 100 concurrent increments end at 8 to 18). A
      // conflict fails with SQLSTATE 40001, which the guest's `tx` retries. PGlite runs one
      // transaction at a time anyway.
      const trx = await db.startTransaction().setIsolationLevel('serializable').execute()
      let open = true
      const finish = async (commit: boolean): Promise<void> => {
        if (!open) return
        open = false
        await (commit ? trx.commit() : trx.rollback()).execute()
      }
      return {
        kv: new PostgresKvStore(trx, kvOptions),
        vector: new PostgresVectorStore(trx),
        jobs: jobs.using(trx),
        commit: () => finish(true),
        rollback: () => finish(false),
        // In an aborted transaction every statement fails (SQLSTATE 25P02) until it ends.
        aborted: () =>
          sql`select 1`.execute(trx).then(
            () => false,
            () => true,
          ),
      }
    },
    close: () => database.close(),
  }
}
