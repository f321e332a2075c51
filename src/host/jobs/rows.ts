/**
 * A job's stored fields, as both built-in stores read them (the Postgres store names its columns
 * so), and the records `get`, `list` and `claim` answer with.
 *
 * @internal
 * @module
 */
import type { JsonValue } from '../domains/types.js'
import type { ClaimedJob, Job, JobState, VersionGonePolicy } from './jobs.js'

/** A time as a store holds it: Unix ms (memory), a `Date` or a string (drivers). */
type Time = number | Date | string

export interface JobFields {
  id: string
  task: string
  state: JobState
  attempts: number
  maxAttempts: number
  priority: number
  key: string | null
  runAt: Time
  lastError: string | null
  createdAt: Time
  finishedAt: Time | null
}

export interface ClaimFields extends Omit<JobFields, 'state' | 'lastError' | 'finishedAt'> {
  token: number
  payload: JsonValue
  timeoutMs: number | null
  version: string | null
  onVersionGone: VersionGonePolicy
}

const iso = (time: Time): string => new Date(time).toISOString()

export function toJob(row: JobFields): Job {
  return {
    id: row.id,
    task: row.task,
    state: row.state,
    attempts: row.attempts,
    maxAttempts: row.maxAttempts,
    priority: row.priority,
    key: row.key,
    runAt: iso(row.runAt),
    lastError: row.lastError,
    createdAt: iso(row.createdAt),
    finishedAt: row.finishedAt === null ? null : iso(row.finishedAt),
  }
}

export function toClaimed(row: ClaimFields): ClaimedJob {
  return {
    id: row.id,
    token: row.token,
    task: row.task,
    payload: row.payload,
    attempt: row.attempts,
    maxAttempts: row.maxAttempts,
    priority: row.priority,
    key: row.key,
    runAt: iso(row.runAt),
    createdAt: iso(row.createdAt),
    timeoutMs: row.timeoutMs,
    version: row.version,
    onVersionGone: row.onVersionGone,
  }
}
