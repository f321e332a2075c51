/**
 * The versioned schema of fnbox's Postgres-backed domains, applied by kysely's `Migrator`
 * (history in `fnbox_migrations`). On Postgres the migrator holds a transaction-scoped advisory
 * lock, so two hosts starting at once against one database apply each migration once.
 *
 * Migrations are append-only: a released one is never edited, a change is a new entry.
 *
 * @internal
 * @module
 */
import { sql, type Kysely, type Migration } from 'kysely'
import { jobsMigration } from '../host/jobs/migrations.js'

/** Every migration by name; names sort in the order they apply. */
export const MIGRATIONS: Record<string, Migration> = {
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
  '0002_vector': {
    async up(db: Kysely<unknown>) {
      // The registry only: each index's vectors live in a table of their own (`table_name`,
      // created with the index), whose column has the index's dimensions and an HNSW index.
      // The `vector` extension is created with the first index, so a server without pgvector
      // runs every other domain.
      await sql`
        create table fnbox_vector_indexes (
          scope text collate "C" not null,
          name text collate "C" not null,
          dimensions integer not null,
          metric text not null,
          table_name text not null unique,
          created_at timestamptz not null default now(),
          primary key (scope, name)
        )`.execute(db)
      await sql`create sequence fnbox_vector_table_seq`.execute(db)
    },
  },
  '0003_secrets': {
    async up(db: Kysely<unknown>) {
      await sql`
        create table fnbox_secrets (
          name text collate "C" primary key,
          sealed bytea not null,
          updated_at timestamptz not null default now()
        )`.execute(db)
    },
  },
  // Numbered after a gap: migrations of other domains may take the numbers before it.
  '0010_jobs': jobsMigration,
  '0011_kv_logged': {
    async up(db: Kysely<unknown>) {
      // Durable by default: an acknowledged kv write survives a crash (of the host process on
      // PGlite, of the server on Postgres). A server may opt back in to a cache with
      // `storage: { postgres, kv: { unlogged: true } }`, applied at every start (see sql.ts).
      await sql`alter table fnbox_kv set logged`.execute(db)
    },
  },
}
