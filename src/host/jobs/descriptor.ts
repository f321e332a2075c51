/**
 * The jobs domain: a durable queue with retries, leases, cron and table hooks. Its parts:
 * `jobs.ts` (the store interface and its types), `validate.ts`, `memory-jobs.ts`,
 * `postgres-jobs.ts` with `sql.ts` (migrations); the worker loop and the scheduler live in
 * `src/triggers/`.
 *
 * Described, not wired yet: storage creates its tables (migration `0010_jobs`), but opens no
 * store and guests see no `jobs` export until the runtime wires the engine (its operations and
 * guest client then join this descriptor).
 *
 * @internal
 * @module
 */
import { defineDomain } from '../domain.js'
import type { JobStore } from './jobs.js'
import { MemoryJobStore } from './memory-jobs.js'

export const jobsDomain = defineDomain<JobStore>({
  name: 'jobs',
  opened: false,
  memory: ({ gate }) => new MemoryJobStore({ gate }),
  sql: async () => (await import('./sql.js')).jobsSql,
})
