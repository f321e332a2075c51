/**
 * The jobs domain: a durable queue with retries, leases, cron and table hooks (`jobs` of
 * `fnbox:host`, `runtime.jobs`). Its parts: `jobs.ts` (the store interface and its types),
 * `validate.ts`, `operations.ts`, `memory-jobs.ts`, `postgres-jobs.ts` with `sql.ts`
 * (migrations), `guest.js` and `guest-types.ts`; the worker loop, the scheduler and the
 * runtime's wiring live in `src/triggers/` (see docs/jobs.md).
 *
 * @internal
 * @module
 */
import { defineDomain } from '../domain.js'
import { JOBS_GUEST_TYPES } from './guest-types.js'
import type { JobStore } from './jobs.js'
import { MemoryJobStore } from './memory-jobs.js'
import { JOBS_OPERATIONS } from './operations.js'

export const jobsDomain = defineDomain<JobStore>({
  name: 'jobs',
  adapter: true,
  transactional: true,
  operations: JOBS_OPERATIONS as never,
  memory: ({ gate, clock }) => new MemoryJobStore({ gate, clock }),
  sql: async () => (await import('./sql.js')).jobsSql,
  guest: { name: 'jobs', client: './jobs/guest.js', types: JOBS_GUEST_TYPES, typeName: 'FnboxJobs' },
})
