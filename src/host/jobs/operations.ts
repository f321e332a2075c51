/**
 * The jobs domain's operation: `jobs.enqueue` of `fnbox:host` (also inside `tx`, where it commits
 * with the transaction). The runtime adds `context` to its arguments before it runs (the version
 * of the function that handles the task here, and that task's `onVersionGone`), overwriting any
 * the guest sent; see `DataSession`'s `annotate`.
 *
 * @internal
 * @module
 */
import type { Operation } from '../domain.js'
import type { EnqueueContext } from './validate.js'
import { toJobRequest } from './validate.js'
import type { JobEnqueuer } from './jobs.js'

export const JOBS_OPERATIONS: Readonly<Record<string, Operation<JobEnqueuer>>> = {
  enqueue: {
    guest: true,
    transaction: true,
    write: true,
    run: (store, _scope, a) =>
      store.enqueue(toJobRequest(a.task, a.payload, a.options, (a.context ?? {}) as EnqueueContext)),
  },
}
