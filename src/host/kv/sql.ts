/**
 * The kv domain's SQL part, loaded only with SQL storage (it brings kysely): its migrations and
 * its Postgres store. On the embedded database (one user: this process) hot keys are read from
 * a cache that every store over that database shares (its own and its transactions').
 *
 * @internal
 * @module
 */
import { sql, type Kysely } from 'kysely'
import type { SqlParts } from '../domain.js'
import { PostgresKvStore } from './postgres.js'
import { KvReadCache } from './read-cache.js'
import type { KvStore } from './types.js'

export const kvSql: SqlParts<KvStore> = {
  migrations: {
    '0001_kv': {
      async up(db: Kysely<unknown>) {
        // UNLOGGED: no write-ahead log, so writes are cheaper; a crash of the server empties it.
        // (On PGlite every crash of the host process is one: 0011 makes it logged.)
        await sql`
        create unlogged table fnbox_kv (
          scope text collate "C" not null,
          key text collate "C" not null,
          value jsonb not null,
          expires_at bigint,
          primary key (scope, key)
        )`.execute(db)
        await sql`create index fnbox_kv_expires on fnbox_kv (expires_at) where expires_at is not null`.execute(db)
      },
    },
    '0011_kv_logged': {
      async up(db: Kysely<unknown>) {
        // Durable by default: an acknowledged kv write survives a crash (of the host process on
        // PGlite, of the server on Postgres). A server may opt back in to a cache with
        // `storage: { postgres, kv: { unlogged: true } }`, applied at every start (see storage/sql.ts).
        await sql`alter table fnbox_kv set logged`.execute(db)
      },
    },
  },
  shared: (kind, clock) => (kind === 'pglite' ? new KvReadCache({ clock }) : undefined),
  store: (db, { shared, clock }) => new PostgresKvStore(db, { cache: shared as KvReadCache | undefined, clock }),
}
