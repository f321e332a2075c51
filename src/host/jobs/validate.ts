/**
 * Validation of the jobs domain's arguments, before a store sees them: `enqueue`'s task, payload
 * and options (guest and host calls alike), job ids, list options. Typed errors name the
 * argument, the limit and the value.
 *
 * @internal
 * @module
 */
import { invalid, jsonValue, limit, object, text } from '../domains/validate.js'
import {
  JOB_DEFAULTS,
  JOB_LIMITS,
  JOB_STATES,
  type JobListOptions,
  type JobRequest,
  type JobState,
  type VersionGonePolicy,
} from './jobs.js'

/** Task names: letters, digits and `_ $ . : / -`, starting with a letter, digit or `_`. */
const TASK = /^[A-Za-z0-9_$][A-Za-z0-9_$.:/-]*$/

/** The lowercase hex form of a UUID (any version): what job ids look like. */
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/

export function taskName(v: unknown, argument = 'task'): string {
  const task = text(v, argument, JOB_LIMITS.maxTaskBytes)
  if (!TASK.test(task))
    throw invalid(argument, 'must be letters, digits and _ $ . : / - (starting with a letter, digit or _)')
  return task
}

/** A job id: `undefined` for anything that cannot be one (so `get` of garbage finds nothing). */
export function jobId(v: unknown): string | undefined {
  return typeof v === 'string' && UUID.test(v) ? v : undefined
}

function integer(v: unknown, argument: string, min: number, max: number): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
    throw invalid(argument, `must be an integer from ${min} to ${max} (got ${String(v)})`, { limit: max })
  }
  return v
}

/** `runAt` as Unix ms: a valid Date, ISO 8601 string or finite number, at most ten years ahead. */
function runAtMs(v: unknown, argument: string, now: number): number {
  let ms: number
  if (v instanceof Date) ms = v.getTime()
  else if (typeof v === 'number') ms = v
  else if (typeof v === 'string') ms = Date.parse(v)
  else throw invalid(argument, 'must be a Date, an ISO 8601 string or Unix ms')
  if (!Number.isFinite(ms)) throw invalid(argument, `is not a valid time (got ${String(v)})`)
  if (ms - now > JOB_LIMITS.maxDelayMs) {
    throw invalid(argument, 'must be at most ten years ahead', { limit: JOB_LIMITS.maxDelayMs, value: ms - now })
  }
  return Math.round(ms)
}

/** What the runtime adds to an enqueue: who enqueued it, and what to do once that is gone. */
export interface EnqueueContext {
  version?: string
  onVersionGone?: VersionGonePolicy
  /** Unix ms of the host's clock, to bound `runAt` (the store still uses its own clock). */
  now?: number
}

/**
 * The store's form of `enqueue(task, payload, options)`: every option checked, defaults filled.
 *
 * @example
 * ```ts
 * await store.enqueue(toJobRequest('resize', { fileId: 'a' }, { delayMs: 1000 }))
 * ```
 */
export function toJobRequest(
  task: unknown,
  payload: unknown,
  options?: unknown,
  context: EnqueueContext = {},
): JobRequest {
  const opts = object(options, 'options')
  const request: JobRequest = {
    task: taskName(task),
    payload: jsonValue(payload === undefined ? null : payload, 'payload', JOB_LIMITS.maxPayloadBytes),
    priority:
      opts.priority === undefined
        ? JOB_DEFAULTS.priority
        : integer(opts.priority, 'options.priority', -JOB_LIMITS.maxPriority, JOB_LIMITS.maxPriority),
    maxAttempts:
      opts.maxAttempts === undefined
        ? JOB_DEFAULTS.maxAttempts
        : integer(opts.maxAttempts, 'options.maxAttempts', 1, JOB_LIMITS.maxAttempts),
    onVersionGone: context.onVersionGone ?? JOB_DEFAULTS.onVersionGone,
  }
  if (opts.runAt !== undefined && opts.delayMs !== undefined) {
    throw invalid('options.runAt', 'cannot be set together with options.delayMs')
  }
  if (opts.runAt !== undefined) request.runAt = runAtMs(opts.runAt, 'options.runAt', context.now ?? Date.now())
  if (opts.delayMs !== undefined) request.delayMs = integer(opts.delayMs, 'options.delayMs', 0, JOB_LIMITS.maxDelayMs)
  if (opts.key !== undefined) request.key = text(opts.key, 'options.key', JOB_LIMITS.maxKeyBytes)
  if (opts.timeoutMs !== undefined) {
    request.timeoutMs = integer(opts.timeoutMs, 'options.timeoutMs', 1, JOB_LIMITS.maxTimeoutMs)
  }
  for (const name of Object.keys(opts)) {
    if (!ENQUEUE_OPTIONS.has(name)) throw invalid(`options.${name}`, 'is not an enqueue option')
  }
  if (context.version !== undefined) request.version = text(context.version, 'version', JOB_LIMITS.maxVersionBytes)
  return request
}

const ENQUEUE_OPTIONS = new Set(['runAt', 'delayMs', 'key', 'priority', 'maxAttempts', 'timeoutMs'])

export function jobState(v: unknown, argument = 'options.state'): JobState {
  if (typeof v !== 'string' || !(JOB_STATES as readonly string[]).includes(v)) {
    throw invalid(argument, `must be one of ${JOB_STATES.join(', ')} (got ${String(v)})`)
  }
  return v as JobState
}

/** `list`'s options, checked; the cursor is a job id. */
export function listOptions(options: unknown): JobListOptions {
  const opts = object(options, 'options')
  const out: JobListOptions = { limit: limit(opts.limit, 'options.limit') }
  if (opts.state !== undefined) out.state = jobState(opts.state)
  if (opts.task !== undefined) out.task = taskName(opts.task, 'options.task')
  if (opts.cursor !== undefined) {
    const cursor = jobId(opts.cursor)
    if (!cursor) throw invalid('options.cursor', 'is not a cursor returned by list')
    out.cursor = cursor
  }
  return out
}
