/**
 * The files domain's SQL part, loaded only with SQL storage (it brings kysely): its migration and
 * the store of files in the database (`files: 'database'`).
 *
 * @internal
 * @module
 */
import { sql, type Kysely } from 'kysely'
import type { SqlParts } from '../domain.js'
import { PostgresFileStore } from './postgres.js'
import type { FileStore } from './types.js'

export const filesSql: SqlParts<FileStore> = {
  migrations: {
    '0012_files': {
      async up(db: Kysely<unknown>) {
        // "C": paths sort by code point, as every store lists them; `blob` names the file's
        // current chunks (a write stages a new blob, then swaps it in).
        await sql`
        create table fnbox_files (
          scope text collate "C" not null,
          path text collate "C" not null,
          size bigint not null,
          modified_at bigint not null,
          blob uuid not null,
          primary key (scope, path)
        )`.execute(db)
        await sql`
        create table fnbox_file_chunks (
          blob uuid not null,
          n int not null,
          data bytea not null,
          primary key (blob, n)
        )`.execute(db)
      },
    },
  },
  store: (db, { clock }) => new PostgresFileStore(db, { clock }),
}
