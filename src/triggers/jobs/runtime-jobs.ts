/**
 * Background work in the runtime: what `deploy({ jobs, cron, hooks })` declares, `runtime.jobs`,
 * `runtime.hooks`, the guest's `jobs.enqueue`, and the host's one {@link JobWorker} and
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
import { FnboxError, invalidOption } from '../../errors.js'
import type { JsonValue } from '../../host/domains/types.js'
import {
  JOB_LIMITS,
  type ClaimedJob,
  type EnqueueOptions,
  type EnqueueResult,
  type Job,
  type JobListOptions,
  type JobEnqueuer,
  type JobListResult,
  type JobRequest,
  type JobStore,
  type VersionGonePolicy,
} from '../../host/jobs/jobs.js'
import { jobId, listOptions, taskName, toJobRequest, type EnqueueContext } from '../../host/jobs/validate.js'
import { checkKeys } from '../../options.js'
import type { Backend } from '../../storage/backend.js'
import { CronScheduler, parseSchedule, type CronCatchUp, type CronSchedule } from '../cron/scheduler.js'
import {
  hookFanOut,
  hookJobs,
  unwatchTable,
  watchTable,
  type HookSubscriber,
  type TableEvents,
} from '../hooks/table-hooks.js'
import { JobWorker, type JobOutcome, type JobRunEnd } from './worker.js'
import type { BackgroundRun } from '../../runtime/invocation.js'

/** The backend's job store (fnbox's, or `adapters.jobs`). */
export const jobStore = (backend: Backend): JobStore => backend.stores.get('jobs') as JobStore

/** The task of table hook jobs (see `table-hooks.ts`). */
const TABLE_HOOK_TASK = 'fnbox.hook'
/** Exports named in `jobs`, `cron` and `hooks`: identifiers, short enough to fit in a task name. */
const EXPORT = /^[A-Za-z_$][A-Za-z0-9_$]{0,49}$/

/**
 * The worker of a runtime: `createRuntime({ jobs: { concurrency, pollIntervalMs } })`, or `false`
 * for a host that only enqueues (and fires its cron slots) while other hosts run the jobs.
 *
 * @public
 */
export interface JobsOptions {
  /** Jobs this host runs at once. Default 10. */
  concurrency?: number
  /** How often the worker looks for jobs without a wake-up (and recovers expired leases), in ms. Default 1000. */
  pollIntervalMs?: number
  /** Lease of a running job, renewed every third of it; a dead host's jobs rerun after it. Default 30000. */
  leaseMs?: number
}

/**
 * A task a function handles: its export, and what becomes of the jobs its version enqueued once
 * no host runs that version any more (default `'latest'`).
 *
 * @public
 */
export interface JobHandlerOptions {
  export: string
  onVersionGone?: VersionGonePolicy
}

/**
 * A cron schedule of a function: `schedule` in croner syntax (5 fields, or 6 with seconds first),
 * read in `timezone` (IANA, default UTC). Each slot runs `export({ scheduledTime })` once across
 * every host sharing the database. `catchUp`: slots missed while no host ran: `'once'` (default)
 * runs the latest of them at start, `'skip'` none.
 *
 * @public
 */
export interface CronOptions {
  schedule: string
  export: string
  timezone?: string
  catchUp?: CronCatchUp
}

/**
 * What a job's export gets as its second argument: `ctx.job`.
 *
 * @public
 */
export interface JobContext {
  job: {
    id: string
    task: string
    /** This attempt, from 1. */
    attempt: number
    maxAttempts: number
    /** When the job was due (ISO 8601): its `runAt`, a cron slot's time. */
    scheduledTime: string
  }
}

/** What a function declares at deploy (checked). */
export interface BackgroundSpec {
  jobs: Map<string, { export: string; onVersionGone: VersionGonePolicy }>
  cron: CronOptions[]
  hooks: Map<string, string>
}

/** The deploy options of background work, checked; undefined when the deploy declares none. */
export function resolveBackgroundSpec(opts: Record<string, unknown>): BackgroundSpec | undefined {
  if (opts.jobs === undefined && opts.cron === undefined && opts.hooks === undefined) return undefined
  const spec: BackgroundSpec = { jobs: new Map(), cron: [], hooks: new Map() }
  if (opts.jobs !== undefined) {
    const jobs = record(opts.jobs, 'options.jobs')
    for (const [task, value] of Object.entries(jobs)) {
      const name = `options.jobs.${task}`
      checkTask(task, name)
      if (typeof value === 'string') {
        spec.jobs.set(task, { export: exportName(value, name), onVersionGone: 'latest' })
        continue
      }
      const handler = checkKeys(value, name, ['export', 'onVersionGone'])
      const gone = handler.onVersionGone ?? 'latest'
      if (gone !== 'latest' && gone !== 'dead') {
        throw invalidOption(`${name}.onVersionGone`, "'latest' or 'dead'", gone)
      }
      spec.jobs.set(task, { export: exportName(handler.export, `${name}.export`), onVersionGone: gone })
    }
  }
  if (opts.cron !== undefined) {
    if (!Array.isArray(opts.cron)) throw invalidOption('options.cron', 'an array of { schedule, export }', opts.cron)
    for (const [i, entry] of (opts.cron as unknown[]).entries()) {
      const name = `options.cron[${i}]`
      const c = checkKeys(entry, name, ['schedule', 'export', 'timezone', 'catchUp'])
      if (typeof c.schedule !== 'string') throw invalidOption(`${name}.schedule`, 'a croner pattern', c.schedule)
      if (c.timezone !== undefined && typeof c.timezone !== 'string') {
        throw invalidOption(`${name}.timezone`, 'an IANA timezone', c.timezone)
      }
      const cron: CronOptions = { schedule: c.schedule, export: exportName(c.export, `${name}.export`) }
      if (c.timezone !== undefined) cron.timezone = c.timezone as string
      if (c.catchUp !== undefined) cron.catchUp = c.catchUp as CronCatchUp
      parseSchedule({ id: '', job: undefined as never, ...cron }, name)
      spec.cron.push(cron)
    }
  }
  if (opts.hooks !== undefined) {
    for (const [event, value] of Object.entries(record(opts.hooks, 'options.hooks'))) {
      checkEvent(event, `options.hooks.${event}`)
      spec.hooks.set(event, exportName(value, `options.hooks.${event}`))
    }
  }
  return spec
}

/** The spec as plain data, for the version hash (a change of handlers is a new version). */
export function specForHash(spec: BackgroundSpec | undefined): unknown {
  if (!spec) return undefined
  return { jobs: [...spec.jobs], cron: spec.cron, hooks: [...spec.hooks] }
}

function record(value: unknown, name: string): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw invalidOption(name, 'an object', value)
  }
  return value as Record<string, unknown>
}

function exportName(value: unknown, name: string): string {
  if (typeof value !== 'string' || !EXPORT.test(value)) {
    throw invalidOption(name, 'the name of an export of the function (an identifier of at most 50 chars)', value)
  }
  return value
}

function checkTask(task: string, name: string): void {
  try {
    taskName(task, name)
  } catch {
    throw invalidOption(name, 'a task name: letters, digits and _ $ . : / - (at most 128 bytes)', task)
  }
  if (task.startsWith('fnbox.')) throw invalidOption(name, 'a task name not starting with "fnbox." (reserved)', task)
}

function checkEvent(event: string, name: string): void {
  taskName(event, name)
}

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
   * Runs `exportName` of function `name` with `args` under the function's `limits.jobTimeoutMs`
   * (or `timeoutMs`), as a call; `signal` aborts it. Rejects as `runtime.call` does.
   */
  run(name: string, exportName: string, args: unknown[], options: BackgroundRun): Promise<unknown>
  onJobStart?(job: ClaimedJob, fn: string | undefined): void
  onJobEnd?(job: ClaimedJob, fn: string | undefined, end: JobRunEnd): void
  onError?(error: unknown, during: string): void
}

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

export function resolveJobsOption(value: unknown): JobsOptions | false {
  if (value === false) return false
  if (value === undefined) return {}
  const opts = checkKeys(value, 'options.jobs', ['concurrency', 'pollIntervalMs', 'leaseMs'])
  for (const [key, min] of [
    ['concurrency', 1],
    ['pollIntervalMs', 10],
    ['leaseMs', 100],
  ] as const) {
    const v = opts[key]
    if (v !== undefined && (typeof v !== 'number' || !Number.isInteger(v) || v < min)) {
      throw invalidOption(`options.jobs.${key}`, `an integer of at least ${min}`, v)
    }
  }
  return opts as JobsOptions
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
