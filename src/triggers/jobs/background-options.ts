/**
 * What a function and a runtime declare about background work, checked: the deploy options
 * `jobs`, `cron` and `hooks` (a {@link BackgroundSpec}), `createRuntime({ jobs })`, and what a
 * job's export receives (`ctx.job`). The runtime's wiring of them is `runtime-jobs.ts`.
 *
 * @internal
 * @module
 */
import { invalidOption } from '../../errors.js'
import type { VersionGonePolicy } from '../../host/jobs/jobs.js'
import { taskName } from '../../host/jobs/validate.js'
import { checkKeys } from '../../options.js'
import { parseSchedule, type CronCatchUp } from '../cron/scheduler.js'

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

export function checkEvent(event: string, name: string): void {
  taskName(event, name)
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
