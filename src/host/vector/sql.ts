/**
 * The vector domain's SQL part, loaded only with SQL storage (it brings kysely): its migrations
 * and its pgvector store.
 *
 * @internal
 * @module
 */
import { sql, type Kysely } from 'kysely'
import type { SqlParts } from '../domain.js'
import { PostgresVectorStore } from './postgres.js'
import type { VectorStore } from './types.js'

export const vectorSql: SqlParts<VectorStore> = {
  migrations: {
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
  },
  store: (db) => new PostgresVectorStore(db),
}
