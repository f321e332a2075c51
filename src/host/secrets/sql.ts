/**
 * The secrets domain's SQL part, loaded only with SQL storage (it brings kysely): its migration
 * and its Postgres store of sealed values.
 *
 * @internal
 * @module
 */
import { sql, type Kysely } from 'kysely'
import type { SqlParts } from '../domain.js'
import { PostgresSealedSecretStore } from './postgres.js'
import type { SealedSecretStore } from './types.js'

export const secretsSql: SqlParts<SealedSecretStore> = {
  migrations: {
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
  },
  store: (db) => new PostgresSealedSecretStore(db),
}
