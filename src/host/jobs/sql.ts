/**
 * The jobs domain's SQL part, loaded only with SQL storage (it brings kysely): its migration.
 * The Postgres store (`postgres-jobs.ts`) takes the database's notifications and the runtime's
 * retry policy, so the runtime makes it when it wires the jobs engine.
 *
 * @internal
 * @module
 */
import type { SqlParts } from '../domain.js'
import type { JobStore } from './jobs.js'
import { jobsMigration } from './migrations.js'

export const jobsSql: SqlParts<JobStore> = {
  // Numbered after a gap: migrations of other domains may take the numbers before it.
  migrations: { '0010_jobs': jobsMigration },
}
