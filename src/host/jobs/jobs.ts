/**
 * The jobs domain as an interface: {@link JobStore} is what a queue implements (fnbox ships a
 * memory and a Postgres one; `adapters.jobs` takes a user's own), and the types the worker loop,
 * the cron scheduler and the runtime pass through it.
 *
 * Semantics every store follows (the conformance suite checks them):
 * - **States.** `queued` (waiting for its first run, or handed back by a closing host), `running`
 *   (claimed, under a lease), `failed` (an attempt failed; it waits for its retry), `dead` (the
 *   last attempt failed, or the failure was permanent; `lastError` keeps why), `completed`,
 *   `cancelled`. `failed` jobs are claimed like `queued` ones once their `runAt` passes.
 * - **Order.** Of the jobs ready to run, the highest `priority` first (default 0; a larger number
 *   runs earlier), then the earliest `runAt`, then the oldest.
 * - **Dedupe.** An enqueue with a `key` while a job with that key is `queued` returns that job's
 *   id and changes nothing. A running, failed, finished or cancelled job does not dedupe: once a
 *   job has started it may have read state older than the reason for the new enqueue.
 * - **Leases and fencing.** A claim bumps the job's `token`; heartbeat, complete, fail and release
 *   act only while the token is the caller's and the lease has not run out, so a worker paused
 *   past its lease changes nothing (another worker may be running the job by then).
 * - **Time.** `runAt`, leases and backoff follow one clock: the database's (`now()`) in the
 *   Postgres store, so hosts with skewed clocks agree.
 *
 * @module
 */
import { maximumDelayMs, minimumDelayMs } from '../../reliability/backoff.js'
import type { JsonValue } from '../domains/types.js'

/** Where a job is in its life. @public */
export type JobState = 'queued' | 'running' | 'completed' | 'failed' | 'dead' | 'cancelled'

/** Every {@link JobState}. @public */
export const JOB_STATES: readonly JobState[] = Object.freeze([
  'queued',
  'running',
  'completed',
  'failed',
  'dead',
  'cancelled',
])

/**
 * What runs a job whose enqueuing version no host runs any more: `'latest'` runs it on the
 * version the claiming host has (default), `'dead'` dead-letters it unrun.
 *
 * @public
 */
export type VersionGonePolicy = 'latest' | 'dead'

/**
 * A job as `get` and `list` show it. Times are ISO 8601 strings (UTC).
 *
 * @public
 */
export interface Job {
  /** A UUID v7: unique across stores, sorts by creation time. */
  id: string
  task: string
  state: JobState
  /** Attempts started so far (a run handed back by a closing host does not count). */
  attempts: number
  maxAttempts: number
  /** Larger runs earlier. */
  priority: number
  /** The dedupe key, if the job was enqueued with one. */
  key: string | null
  /** When the job runs next (for a finished job: when it last became due). */
  runAt: string
  /** Why the last attempt failed, if one did. */
  lastError: string | null
  createdAt: string
  /** When the job completed, died or was cancelled. */
  finishedAt: string | null
}

/**
 * Options of `jobs.enqueue` (guest and host).
 *
 * @example
 * ```ts
 * await runtime.jobs.enqueue('resize', { fileId }, { delayMs: 5_000, key: `resize:${fileId}`, priority: 10 })
 * ```
 * @public
 */
export interface EnqueueOptions {
  /** When to run at the earliest: a `Date`, an ISO 8601 string or Unix ms. Not with `delayMs`. */
  runAt?: Date | string | number
  /** Run at the earliest this many ms after the enqueue (by the database's clock). */
  delayMs?: number
  /** Dedupe key: while a job with this key is `queued`, enqueue returns its id instead. */
  key?: string
  /** Larger runs earlier; an integer from -1000 to 1000, default 0. */
  priority?: number
  /** Attempts before the job is dead (1 to 1000, default 5). */
  maxAttempts?: number
  /** Time limit of one attempt, in ms (default: the worker's, 15 minutes in the runtime). */
  timeoutMs?: number
}

/** What `enqueue` answers. @public */
export interface EnqueueResult {
  id: string
  /** True when a queued job with the same `key` was found and no job was added. */
  deduplicated: boolean
}

/**
 * A validated enqueue, as a store receives it (`toJobRequest` makes one from the public
 * arguments). `version` and `onVersionGone` are set by the runtime, not by callers.
 *
 * @public
 */
export interface JobRequest {
  task: string
  payload: JsonValue
  /** Unix ms; absent: now (plus `delayMs`). */
  runAt?: number
  /** Ms after the store's "now"; absent: 0. Never set together with `runAt`. */
  delayMs?: number
  key?: string
  priority: number
  maxAttempts: number
  timeoutMs?: number
  /** The function version the job belongs to (see {@link ClaimRequest.versions}). */
  version?: string
  onVersionGone: VersionGonePolicy
}

/** A page of {@link JobStore.list}. @public */
export interface JobListOptions {
  state?: JobState
  task?: string
  /** Jobs per page: 1 to 1000, default 100. */
  limit?: number
  /** Where the previous page ended (its `cursor`). */
  cursor?: string
}

/** Jobs in creation order (oldest first). @public */
export interface JobListResult {
  jobs: Job[]
  /** Pass as `cursor` for the next page; absent on the last page. */
  cursor?: string
}

/**
 * The fencing pair of a claim: the job and the token the claim gave it. Every lease operation
 * takes one and acts only while the job still holds that token under a live lease.
 *
 * @public
 */
export interface JobLease {
  readonly id: string
  readonly token: number
}

/** A job handed to a worker by {@link JobStore.claim}. @public */
export interface ClaimedJob extends JobLease {
  task: string
  payload: JsonValue
  /** This attempt's number, from 1. */
  attempt: number
  maxAttempts: number
  priority: number
  key: string | null
  /** When the job was due (ISO 8601): the scheduled time of this run. */
  runAt: string
  createdAt: string
  timeoutMs: number | null
  /** The version that enqueued it, if any. */
  version: string | null
  onVersionGone: VersionGonePolicy
}

/** What a worker asks {@link JobStore.claim} for. @public */
export interface ClaimRequest {
  /** The claiming worker (recorded on the job; see {@link JobStore.register}). */
  workerId: string
  /** Tasks this worker runs. */
  tasks: readonly string[]
  /**
   * Versions this worker runs. A job with a version is claimed only by a worker that runs it, or,
   * once no registered worker does, by any worker of its task (its `onVersionGone` then decides).
   */
  versions: readonly string[]
  /** Most jobs to claim. */
  limit: number
  /** Lease length in ms; a job not completed, failed, released or heartbeated by then is recovered. */
  leaseMs: number
}

/** How an attempt failed. @public */
export interface JobFailure {
  /** Kept as `lastError` (cut to {@link JOB_LIMITS}.maxErrorBytes). */
  message: string
  /** False: dead now, whatever attempts are left (default true). */
  retry?: boolean
}

/** What completes with a job, atomically. @public */
export interface CompleteOptions {
  /** Jobs enqueued in the same transaction as the completion (a fan-out is then exactly once). */
  enqueue?: readonly JobRequest[]
}

/** A worker's entry in the registry of {@link JobStore.register}. @public */
export interface WorkerRegistration {
  id: string
  tasks: readonly string[]
  versions: readonly string[]
}

/** What {@link JobStore.fireCronSlot} did. @public */
export interface CronFiring {
  /** True when this call claimed the slot; false when another host (or a later slot) had. */
  fired: boolean
  /** The job enqueued for the slot, when one was. */
  jobId?: string
}

/**
 * A durable job queue: the extension point behind `runtime.jobs` and the workers. Arguments reach
 * a store validated (see `validate.ts`). Every method is atomic on its own.
 *
 * @public
 */
export interface JobStore {
  /** Adds a job (or finds the queued one with the same key). */
  enqueue(request: JobRequest): Promise<EnqueueResult>
  get(id: string): Promise<Job | undefined>
  /**
   * Cancels a job that has not finished: true if this call cancelled it. A running job is cancelled
   * too; its worker learns at its next heartbeat, and its completion then changes nothing.
   */
  cancel(id: string): Promise<boolean>
  list(options?: JobListOptions): Promise<JobListResult>

  /** Claims up to `limit` ready jobs of `tasks` (skipping ones other workers hold), under a lease. */
  claim(request: ClaimRequest): Promise<ClaimedJob[]>
  /** Extends the lease by `leaseMs` from now; false if the lease is lost (expired, cancelled, taken). */
  heartbeat(lease: JobLease, leaseMs: number): Promise<boolean>
  /** Marks the job completed; false (and nothing done) if the lease is lost. */
  complete(lease: JobLease, options?: CompleteOptions): Promise<boolean>
  /**
   * Records a failed attempt: `failed` with a backoff while attempts are left (and `retry` is not
   * false), else `dead`. Answers the new state, or `undefined` if the lease is lost.
   */
  fail(lease: JobLease, failure: JobFailure): Promise<'failed' | 'dead' | undefined>
  /** Hands the job back, due now, without counting the attempt; false if the lease is lost. */
  release(lease: JobLease): Promise<boolean>
  /** Fails every job whose lease ran out (its worker died or stalled): answers how many. */
  recover(): Promise<number>
  /** Deletes finished jobs older than the store's retention: answers how many. */
  sweep(): Promise<number>

  /** Records (or renews) a worker and what it runs, for `ttlMs`: version affinity reads this. */
  register(worker: WorkerRegistration, ttlMs: number): Promise<void>
  unregister(workerId: string): Promise<void>

  /** The last slot fired of cron schedule `id` (Unix ms), if it ever fired. */
  lastCronSlot(id: string): Promise<number | undefined>
  /**
   * Claims slot `slot` (Unix ms) of cron schedule `id` across every host sharing the store, and
   * enqueues `job` for it in the same transaction. A slot at or before the last one fired is not
   * claimed again. `job` undefined: mark the slot fired without a job (a skipped slot).
   */
  fireCronSlot(id: string, slot: number, job: JobRequest | undefined): Promise<CronFiring>

  /**
   * How many jobs are in each state (the `fnbox_jobs` gauge reads it at scrape time). Optional: a
   * store without it has no such gauge.
   */
  counts?(): Promise<Partial<Record<JobState, number>>>

  /**
   * Calls `onWake` when jobs may have become ready: once listening starts, then after each
   * notification (and each reconnection, after which some may have been missed). Optional:
   * without it, workers find jobs by polling. The result unsubscribes.
   */
  subscribe?(onWake: () => void): () => void
}

/** What a transaction offers of a store: enqueues that commit with it, or not at all. @public */
export type JobEnqueuer = Pick<JobStore, 'enqueue'>

/**
 * Limits of the jobs domain: bad input fails with `ERR_INVALID_ARGUMENT` or `ERR_TOO_LARGE`
 * (`details` name the argument, the limit and the value).
 *
 * @public
 */
export const JOB_LIMITS = Object.freeze({
  /** A payload, as JSON text in UTF-8 bytes. Larger data goes in `files`; pass its path. */
  maxPayloadBytes: 256 * 1024,
  /** A task name, in bytes. */
  maxTaskBytes: 128,
  /** A dedupe key, in UTF-8 bytes. */
  maxKeyBytes: 512,
  /** A version id, in bytes. */
  maxVersionBytes: 128,
  /** `lastError` is cut to this many UTF-8 bytes. */
  maxErrorBytes: 4096,
  /** `priority` is an integer in [-maxPriority, maxPriority]. */
  maxPriority: 1000,
  maxAttempts: 1000,
  /** `timeoutMs`: one day. */
  maxTimeoutMs: 24 * 3600 * 1000,
  /** `delayMs`, and how far ahead `runAt` may be: ten years. */
  maxDelayMs: 10 * 365 * 24 * 3600 * 1000,
})

/** Defaults of an enqueue. @public */
export const JOB_DEFAULTS = Object.freeze({
  priority: 0,
  maxAttempts: 5,
  onVersionGone: 'latest' as VersionGonePolicy,
})

/**
 * How a store spaces retries: the n-th retry (from 0) waits
 * `min(maxDelayMs, minDelayMs × factor^n)`, stretched by a random factor in [1, 2) with
 * `jitter` (and still at most `maxDelayMs`): the model of `src/reliability/backoff.ts`.
 *
 * @public
 */
export interface JobRetryPolicy {
  /** Default 1000. */
  minDelayMs: number
  /** Default 15 minutes. */
  maxDelayMs: number
  /** Default 2. */
  factor: number
  /** Default true. */
  jitter: boolean
}

/** Defaults of {@link JobRetryPolicy}. @public */
export const DEFAULT_JOB_RETRY: Readonly<JobRetryPolicy> = Object.freeze({
  minDelayMs: 1000,
  maxDelayMs: 15 * 60 * 1000,
  factor: 2,
  jitter: true,
})

/** The shortest and longest wait before retry `n` (0-based) under `policy`. */
export function retryDelayBounds(policy: JobRetryPolicy, n: number): [number, number] {
  const resolved = { ...policy, retries: 0 }
  return [minimumDelayMs(resolved, n), maximumDelayMs(resolved, n)]
}

/** The wait before retry `n` (0-based), `random` in [0, 1) drawing the jitter. */
export function retryDelayMs(policy: JobRetryPolicy, n: number, random: number = Math.random()): number {
  const base = policy.minDelayMs * policy.factor ** n
  return Math.min(policy.maxDelayMs, Math.round(policy.jitter ? base * (1 + random) : base))
}

/** How long finished jobs stay readable before {@link JobStore.sweep} deletes them. @public */
export interface JobRetention {
  /** Completed and cancelled jobs: default one day. */
  completedMs: number
  /** Dead jobs (the dead letters): default 14 days. */
  deadMs: number
}

/** Defaults of {@link JobRetention}. @public */
export const DEFAULT_JOB_RETENTION: Readonly<JobRetention> = Object.freeze({
  completedMs: 24 * 3600 * 1000,
  deadMs: 14 * 24 * 3600 * 1000,
})

/** The `lastError` of a job whose lease ran out. */
export const LEASE_EXPIRED_ERROR = 'lease expired: the worker stopped or stalled before it finished'

/**
 * `message` as storable text: U+0000 and lone surrogates replaced (Postgres' text refuses them),
 * cut to at most `maxBytes` of UTF-8 without splitting a character.
 */
export function errorText(message: string, maxBytes: number = JOB_LIMITS.maxErrorBytes): string {
  const clean = message.replaceAll('\0', '\uFFFD').toWellFormed()
  if (Buffer.byteLength(clean) <= maxBytes) return clean
  let out = Buffer.from(clean)
    .subarray(0, maxBytes - 3)
    .toString('utf8')
  // A cut inside a multi-byte character leaves U+FFFD at the end: drop it.
  if (out.endsWith('\uFFFD')) out = out.slice(0, -1)
  return out + '...'
}
