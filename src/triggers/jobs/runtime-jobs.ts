/**
 * Background work in the runtime: what `deploy({ jobs, cron, hooks })` declares (checked in
 * `background-options.ts`), `runtime.jobs` and `runtime.hooks` (`clients.ts`), the guest's `jobs.enqueue`, and the host's one {@link JobWorker} and
 * {@link CronScheduler} over the backend's job store (see docs/jobs.md).
 *
 * Every job runs as an export of a deployed function, through the runtime's own invocation path
 * (a sandbox from the function's warm pool, its limits, its reliability gate), under
 * `limits.jobTimeoutMs`. Three kinds of task:
 * - a task the function names (`jobs: { resize: 'resize' }`): one function per task name;
 * - `fnbox.cron:<function>.<export>`: the slots of the function's cron schedules;
 * - `fnbox.hook:<function>.<export>`: the function's share of an event (`hooks.emit`, table hooks).
 *
 * @internal
 * @module
 */
import { FnboxError } from '../../errors.js'
import type { JsonValue } from '../../host/domains/types.js'
import {
  JOB_LIMITS,
  type ClaimedJob,
  type JobEnqueuer,
  type JobRequest,
  type JobStore,
  type VersionGonePolicy,
} from '../../host/jobs/jobs.js'
import { jobId, listOptions, toJobRequest, type EnqueueContext } from '../../host/jobs/validate.js'
import type { Backend } from '../../storage/backend.js'
import type { Clock } from '../../clock.js'
import { CronScheduler, type CronSchedule } from '../cron/scheduler.js'
import { hookFanOut, hookJobs, unwatchTable, watchTable, type HookSubscriber } from '../hooks/table-hooks.js'
import { checkEvent, type BackgroundSpec, type JobContext, type JobsOptions } from './background-options.js'
import type { HooksClient, JobsClient } from './clients.js'
import { JobWorker, type JobOutcome, type JobRunEnd } from './worker.js'
import type { BackgroundRun } from '../../runtime/invocation.js'

/** The backend's job store (fnbox's, or `adapters.jobs`). */
export const jobStore = (backend: Backend): JobStore => backend.stores.get('jobs') as JobStore

/** The task of table hook jobs (see `table-hooks.ts`). */
const TABLE_HOOK_TASK = 'fnbox.hook'
/** A task this host runs: the function and export that run it. */
interface Route {
  function: string
  export: string
  version: string
  onVersionGone: VersionGonePolicy
  kind: 'task' | 'cron' | 'hook'
}

/** What the runtime lends the background machinery. */
export interface BackgroundHost {
  storage(): Promise<Backend>
  /**
   * The runtime's clock: the worker's polls, heartbeats and backstops and the cron schedules run
   * on it (a test clock drives them; job times are the store's: the memory store's is this clock
   * too, Postgres' is the database's).
   */
  clock?: Clock
  /**
   * Runs `exportName` of function `name` with `args` under the function's `limits.jobTimeoutMs`
   * (or `timeoutMs`), as a call; `signal` aborts it. Rejects as `runtime.call` does.
   */
  run(name: string, exportName: string, args: unknown[], options: BackgroundRun): Promise<unknown>
  onJobStart?(job: ClaimedJob, fn: string | undefined): void
  onJobEnd?(job: ClaimedJob, fn: string | undefined, end: JobRunEnd): void
  onError?(error: unknown, during: string): void
}

interface Deployed {
  version: string
  spec: BackgroundSpec
}

/** The background work of one runtime. */
export class Background {
  readonly #host: BackgroundHost
  readonly #options: JobsOptions | false
  readonly #deployed = new Map<string, Deployed>()
  /** Task → route, from #deployed. */
  #routes = new Map<string, Route>()
  /** Event → subscribers, from #deployed. */
  #hooks = new Map<string, (HookSubscriber & { function: string; export: string })[]>()
  #worker: Promise<JobWorker> | undefined
  #cron: Promise<CronScheduler> | undefined
  /** Serializes applying changes to the worker and the scheduler. */
  #applying: Promise<void> = Promise.resolve()
  #closed = false

  readonly jobs: JobsClient
  readonly hooks: HooksClient

  constructor(host: BackgroundHost, options: JobsOptions | false) {
    this.#host = host
    this.#options = options
    const store = async (): Promise<JobStore> => jobStore(await this.#host.storage())
    this.jobs = {
      enqueue: async (task, payload, options) => {
        const request = this.request(task, payload, options)
        return (await store()).enqueue(request)
      },
      get: async (id) => {
        const valid = jobId(id)
        return valid === undefined ? undefined : (await store()).get(valid)
      },
      cancel: async (id) => {
        const valid = jobId(id)
        return valid === undefined ? false : (await store()).cancel(valid)
      },
      list: async (options) => (await store()).list(listOptions(options)),
    }
    this.hooks = {
      run: (event, payload) => this.#runHooks(event, payload),
      emit: (event, payload) => this.#emit(event, payload),
      watchTable: async (table, events) => watchTable(await this.#sqlFor('watchTable'), table, events),
      unwatchTable: async (table) => unwatchTable(await this.#sqlFor('unwatchTable'), table),
    }
  }

  /** An enqueue's request: checked, with the version of the function that handles the task here. */
  request(task: unknown, payload: unknown, options: unknown): JobRequest {
    return toJobRequest(task, payload, options, this.context(task))
  }

  /**
   * What the runtime adds to an enqueue of `task`: the version of the function that handles it
   * on this host (none if no function here does), and that task's `onVersionGone`. Refuses the
   * reserved `fnbox.` tasks.
   */
  context(task: unknown): EnqueueContext {
    if (typeof task === 'string' && task.startsWith('fnbox.')) {
      throw new FnboxError('ERR_INVALID_ARGUMENT', 'task names starting with "fnbox." are reserved', {
        details: { argument: 'task', value: task },
      })
    }
    const route = typeof task === 'string' ? this.#routes.get(task) : undefined
    return route ? { version: route.version, onVersionGone: route.onVersionGone } : {}
  }

  /**
   * Refuses a deploy of `name` whose tasks another function handles (one function per task),
   * naming that function. Synchronous: run it right before the deploy takes effect too.
   */
  check(name: string, spec: BackgroundSpec | undefined): void {
    if (!spec) return
    for (const task of spec.jobs.keys()) {
      const owner = this.#routes.get(task)
      if (owner && owner.function !== name) {
        throw new FnboxError(
          'ERR_INVALID_OPTION',
          `task ${JSON.stringify(task)} is already handled by function ${JSON.stringify(owner.function)}; a task has one function`,
          { details: { option: `options.jobs.${task}`, task, function: owner.function } },
        )
      }
    }
  }

  /**
   * Function `name` now runs `version` with `spec` (a deploy; undefined: it declares none).
   * Synchronous for the routes (enqueues see them at once); resolves once the worker and the
   * cron scheduler have taken the change.
   */
  set(name: string, version: string, spec: BackgroundSpec | undefined): Promise<void> {
    const had = this.#deployed.has(name)
    if (spec) {
      this.check(name, spec)
      this.#deployed.set(name, { version, spec })
    } else {
      this.#deployed.delete(name)
    }
    if (!spec && !had) return Promise.resolve()
    return this.#apply()
  }

  /** Function `name` is gone (undeploy). */
  remove(name: string): Promise<void> {
    if (!this.#deployed.delete(name)) return Promise.resolve()
    return this.#apply()
  }

  #rebuild(): { schedules: CronSchedule[] } {
    const routes = new Map<string, Route>()
    const hooks = new Map<string, (HookSubscriber & { function: string; export: string })[]>()
    const schedules: CronSchedule[] = []
    for (const [fn, { version, spec }] of this.#deployed) {
      for (const [task, handler] of spec.jobs) {
        routes.set(task, {
          function: fn,
          export: handler.export,
          version,
          onVersionGone: handler.onVersionGone,
          kind: 'task',
        })
      }
      for (const cron of spec.cron) {
        const task = `fnbox.cron:${fn}.${cron.export}`
        routes.set(task, { function: fn, export: cron.export, version, onVersionGone: 'latest', kind: 'cron' })
        const schedule: CronSchedule = {
          id: `${fn}:${cron.export}:${cron.schedule}:${cron.timezone ?? 'UTC'}`,
          schedule: cron.schedule,
          job: { task, version, onVersionGone: 'latest', priority: 0, maxAttempts: 5 },
        }
        if (cron.timezone !== undefined) schedule.timezone = cron.timezone
        if (cron.catchUp !== undefined) schedule.catchUp = cron.catchUp
        // The same schedule listed twice in one function fires once.
        if (!schedules.some((s) => s.id === schedule.id)) schedules.push(schedule)
      }
      for (const [event, exp] of spec.hooks) {
        const task = `fnbox.hook:${fn}.${exp}`
        routes.set(task, { function: fn, export: exp, version, onVersionGone: 'latest', kind: 'hook' })
        const list = hooks.get(event) ?? []
        list.push({ task, version, function: fn, export: exp })
        hooks.set(event, list)
      }
    }
    this.#routes = routes
    this.#hooks = hooks
    return { schedules }
  }

  /** Rebuilds the routes now; the worker's tasks and the schedules follow, in order. */
  #apply(): Promise<void> {
    const { schedules } = this.#rebuild()
    const tasks = [...this.#routes.keys()]
    if (this.#hooks.size > 0) tasks.push(TABLE_HOOK_TASK)
    const versions = [...new Set([...this.#deployed.values()].map((d) => d.version))]
    const next = this.#applying.then(async () => {
      if (this.#closed) return
      if (this.#options !== false && (tasks.length > 0 || this.#worker)) {
        const worker = await this.#startWorker()
        await worker.setTasks(tasks, versions)
      }
      if (schedules.length > 0 || this.#cron) {
        const cron = await this.#startCron()
        await cron.set(schedules)
      }
    })
    this.#applying = next.catch(() => undefined)
    return next
  }

  #startWorker(): Promise<JobWorker> {
    this.#worker ??= (async () => {
      const backend = await this.#host.storage()
      const options = this.#options || {}
      const worker = new JobWorker({
        store: jobStore(backend),
        ...(this.#host.clock ? { clock: this.#host.clock } : {}),
        handler: (job, signal) => this.#handle(job, signal),
        tasks: [],
        concurrency: options.concurrency,
        pollIntervalMs: options.pollIntervalMs,
        leaseMs: options.leaseMs,
        // Each run has its function's own limit (`limits.jobTimeoutMs`) as its deadline, or the
        // job's `timeoutMs`, which the sandbox enforces too: its error names the option, and the
        // worker's timer (5 s later) is a backstop.
        timeoutMs: JOB_LIMITS.maxTimeoutMs,
        backstopMs: 5000,
        events: {
          onError: (err, during) => this.#host.onError?.(err, during),
          onJobStart: (job) => this.#host.onJobStart?.(job, this.#routes.get(job.task)?.function),
          onJobEnd: (job, end) => this.#host.onJobEnd?.(job, this.#routes.get(job.task)?.function, end),
        },
      })
      await worker.start()
      return worker
    })().catch((err: unknown) => {
      this.#worker = undefined
      throw err
    })
    return this.#worker
  }

  #startCron(): Promise<CronScheduler> {
    this.#cron ??= (async () => {
      const backend = await this.#host.storage()
      return new CronScheduler({
        store: jobStore(backend),
        ...(this.#host.clock ? { clock: this.#host.clock } : {}),
        onError: (err) => this.#host.onError?.(err, 'cron'),
      })
    })().catch((err: unknown) => {
      this.#cron = undefined
      throw err
    })
    return this.#cron
  }

  async #handle(job: ClaimedJob, signal: AbortSignal): Promise<void | JobOutcome> {
    if (job.task === TABLE_HOOK_TASK) return hookFanOut((event) => this.#hooks.get(event) ?? [])(job)
    const route = this.#routes.get(job.task)
    // Undeployed between the claim and now: another host (or a redeploy) runs it on a retry.
    if (!route) throw new FnboxError('ERR_NOT_FOUND', `no function on this host handles task ${job.task}`)
    const ctx: JobContext = {
      job: { id: job.id, task: job.task, attempt: job.attempt, maxAttempts: job.maxAttempts, scheduledTime: job.runAt },
    }
    const options = { signal, job: true, ...(job.timeoutMs === null ? {} : { timeoutMs: job.timeoutMs }) }
    await this.#host.run(route.function, route.export, [job.payload, ctx], options)
  }

  async #runHooks(event: unknown, payload: unknown): Promise<void> {
    checkEvent(typeof event === 'string' ? event : String(event), 'event')
    const subscribers = this.#hooks.get(event as string) ?? []
    const outcomes = await Promise.allSettled(
      subscribers.map((s) => this.#host.run(s.function, s.export, [payload ?? null, { event }], { job: false })),
    )
    const failed = outcomes.find((o): o is PromiseRejectedResult => o.status === 'rejected')
    if (failed) throw failed.reason
  }

  async #emit(event: unknown, payload: unknown): Promise<{ ids: string[] }> {
    checkEvent(typeof event === 'string' ? event : String(event), 'event')
    // Checked as an enqueue's payload is (JSON, at most 256 KiB).
    const { payload: value } = toJobRequest(TABLE_HOOK_TASK, payload)
    const requests = hookJobs(value as JsonValue, this.#hooks.get(event as string) ?? [])
    if (requests.length === 0) return { ids: [] }
    const backend = await this.#host.storage()
    const store = jobStore(backend)
    if (requests.length === 1) return { ids: [(await store.enqueue(requests[0]!)).id] }
    if (backend.adapted.size > 0) {
      // An adapter (jobs, or a store tx needs): one enqueue each (a failure midway leaves the first ones).
      const ids: string[] = []
      for (const request of requests) ids.push((await store.enqueue(request)).id)
      return { ids }
    }
    const t = await backend.transaction()
    const inTx = t.stores.get('jobs') as JobEnqueuer
    try {
      const ids: string[] = []
      for (const request of requests) ids.push((await inTx.enqueue(request)).id)
      await t.commit()
      return { ids }
    } catch (err) {
      await t.rollback().catch(() => undefined)
      throw err
    }
  }

  async #sqlFor(method: string) {
    const backend = await this.#host.storage()
    if (!backend.sql) {
      throw new FnboxError('ERR_INVALID_OPTION', `hooks.${method} needs PGlite or server Postgres storage`, {
        details: { option: 'options.storage' },
      })
    }
    if (backend.adapted.has('jobs')) {
      throw new FnboxError(
        'ERR_INVALID_OPTION',
        `hooks.${method} needs fnbox's job store (options.adapters.jobs replaces it)`,
        {
          details: { option: 'options.adapters.jobs' },
        },
      )
    }
    return backend.sql.db
  }

  /**
   * Stops claiming and firing; running jobs get `timeoutMs` to finish, then go back to the queue
   * for another host at once.
   */
  async close(timeoutMs: number): Promise<void> {
    this.#closed = true
    await this.#applying
    const cron = this.#cron?.catch(() => undefined)
    const worker = this.#worker?.catch(() => undefined)
    await Promise.all([(await cron)?.close(), (await worker)?.close({ timeoutMs })])
  }
}
