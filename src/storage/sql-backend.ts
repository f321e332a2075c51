/**
 * The stores of a SQL backend (PGlite or server Postgres) over one migrated database. Loaded by
 * `backend.ts` at the first use of such storage: this module and kysely, which it and the
 * Postgres stores import, cost a host that keeps its data in memory (or never touches it) nothing.
 *
 * @internal
 * @module
 */
import type { KvStore, SealedSecretStore, StorageTransaction, VectorStore } from '../host/domains/types.js'
import { PostgresKvStore } from '../host/kv/postgres.js'
import { KvReadCache } from '../host/kv/read-cache.js'
import { PostgresSealedSecretStore } from '../host/secrets/postgres.js'
import { PostgresVectorStore } from '../host/vector/postgres.js'
import { openSql, type SqlConfig } from './sql.js'

/** The built-in stores of a backend, and what opens a transaction over kv and vector. */
export interface BuiltInStores {
  readonly kv: KvStore
  readonly vector: VectorStore
  readonly sealed: SealedSecretStore
  transaction(): Promise<StorageTransaction>
  close(): Promise<void>
}

/** Opens and migrates the database of `config`, and the stores over it. */
export async function openSqlStores(config: SqlConfig): Promise<BuiltInStores> {
  const sql = await openSql(config)
  const db = sql.db
  // The embedded database has one user, this process: hot keys may be read from memory.
  const kvOptions = sql.kind === 'pglite' ? { cache: new KvReadCache() } : {}
  return {
    kv: new PostgresKvStore(db, kvOptions),
    vector: new PostgresVectorStore(db),
    sealed: new PostgresSealedSecretStore(db),
    async transaction() {
      const trx = await db.startTransaction().execute()
      let open = true
      const finish = async (commit: boolean): Promise<void> => {
        if (!open) return
        open = false
        await (commit ? trx.commit() : trx.rollback()).execute()
      }
      return {
        kv: new PostgresKvStore(trx, kvOptions),
        vector: new PostgresVectorStore(trx),
        commit: () => finish(true),
        rollback: () => finish(false),
      }
    },
    close: () => sql.close(),
  }
}
