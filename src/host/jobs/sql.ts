/**
 * The jobs domain's SQL part, loaded only with SQL storage (it brings kysely): its migration and
 * the Postgres store, which hears new jobs through the database's LISTEN and, on PGlite (no
 * autovacuum), vacuums its table after each sweep.
 *
 * @internal
 * @module
 */
import type { SqlParts } from '../domain.js'
import type { JobStore } from './jobs.js'
import { jobsMigration } from './migrations.js'
import { PostgresJobStore } from './postgres-jobs.js'

export const jobsSql: SqlParts<JobStore> = {
  // Numbered after a gap: migrations of other domains may take the numbers before it.
  migrations: { '0010_jobs': jobsMigration },
  store: (db, { kind, listen }) =>
    new PostgresJobStore(db, { vacuum: kind === 'pglite', ...(listen ? { notifications: { listen } } : {}) }),
}
