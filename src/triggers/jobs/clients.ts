/**
 * The host's API of background work: `runtime.jobs` and `runtime.hooks` (implemented by
 * `Background` in `runtime-jobs.ts`).
 *
 * @internal
 * @module
 */
import type { EnqueueOptions, EnqueueResult, Job, JobListOptions, JobListResult } from '../../host/jobs/jobs.js'
import type { TableEvents } from '../hooks/table-hooks.js'

/**
 * Jobs of the runtime's store: enqueue, read, cancel, list. Arguments are checked as the guest's
 * are (typed `FnboxError`s naming the argument and the limit).
 *
 * @example
 * ```ts
 * const { id } = await runtime.jobs.enqueue('export', { userId: 42 }, { key: 'export:42' })
 * const job = await runtime.jobs.get(id) // { state: 'queued' | 'running' | 'completed' | ... }
 * ```
 * @public
 */
export interface JobsClient {
  /** Stores a job of `task`; resolves once it is durable. */
  enqueue(task: string, payload?: unknown, options?: EnqueueOptions): Promise<EnqueueResult>
  /** The job, or undefined (unknown id, or swept after its retention). */
  get(id: string): Promise<Job | undefined>
  /** Cancels a job that has not finished: true if this call cancelled it. */
  cancel(id: string): Promise<boolean>
  /** Jobs in creation order, filtered by `state` and `task`, a page at a time. */
  list(options?: JobListOptions): Promise<JobListResult>
}

/**
 * App and database hooks: functions subscribe at deploy (`hooks: { 'order.created': 'onOrder' }`).
 *
 * @example
 * ```ts
 * await runtime.hooks.run('order.validate', order) // now; rejects if a subscriber throws
 * await runtime.hooks.emit('order.created', order) // one durable job per subscriber
 * await runtime.hooks.watchTable('public.orders', { insert: 'order.created' })
 * ```
 * @public
 */
export interface HooksClient {
  /**
   * Runs every subscriber of `event` now, at once, each `export(payload, { event })`; rejects
   * with the first failure once all have settled (a "before" hook can veto the host's operation).
   */
  run(event: string, payload?: unknown): Promise<void>
  /** Enqueues one job per subscriber (at-least-once, with retries), together: all or none. */
  emit(event: string, payload?: unknown): Promise<{ ids: string[] }>
  /**
   * Installs a trigger on a table of the host's database (PGlite or server Postgres storage):
   * each row change of a listed operation emits its event in the changing transaction, as one
   * job per subscriber; a rolled-back change emits nothing. `TRUNCATE` emits nothing.
   */
  watchTable(table: string, events: TableEvents): Promise<void>
  /** Removes the trigger of `watchTable`. */
  unwatchTable(table: string): Promise<void>
}
