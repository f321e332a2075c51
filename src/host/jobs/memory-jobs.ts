/**
 * The in-process job store (`storage: 'memory'`, tests, one host): the semantics of the Postgres
 * store over a map, its "database time" the injected clock.
 *
 * @internal
 * @module
 */
import type { JsonValue } from '../domains/types.js'
import type { Forkable, WriteGate } from '../../storage/memory-gate.js'
import { systemClock, type Clock } from '../../clock.js'
import { uuidV7 } from './ids.js'
import { toClaimed as claimed, toJob } from './rows.js'
import {
  DEFAULT_JOB_RETENTION,
  DEFAULT_JOB_RETRY,
  LEASE_EXPIRED_ERROR,
  errorText,
  retryDelayMs,
  type ClaimRequest,
  type ClaimedJob,
  type CompleteOptions,
  type CronFiring,
  type EnqueueResult,
  type Job,
  type JobEnqueuer,
  type JobFailure,
  type JobLease,
  type JobListOptions,
  type JobListResult,
  type JobRequest,
  type JobRetention,
  type JobRetryPolicy,
  type JobState,
  type JobStore,
  type VersionGonePolicy,
  type WorkerRegistration,
} from './jobs.js'

/** A job as the memory store keeps it. */
export interface MemoryJobRow {
  readonly id: string
  readonly task: string
  /** JSON text: every claim parses a fresh copy. */
  readonly payload: string
  state: JobState
  readonly priority: number
  runAt: number
  attempts: number
  readonly maxAttempts: number
  readonly timeoutMs: number | null
  key: string | null
  version: string | null
  readonly onVersionGone: VersionGonePolicy
  token: number
  lockedBy: string | null
  lockedUntil: number | null
  lastError: string | null
  readonly createdAt: number
  finishedAt: number | null
}

/** Options of {@link MemoryJobStore}. */
export interface MemoryJobStoreOptions {
  /** "Database time" and nothing else (the store sets no timers). Default: the system clock. */
  clock?: Clock
  retry?: JobRetryPolicy
  retention?: JobRetention
  /** The memory backend's write gate: enqueues wait while a transaction is open. */
  gate?: WriteGate
}

const waiting = (row: MemoryJobRow): boolean => row.state === 'queued' || row.state === 'failed'

/** The job store in a map. */
export class MemoryJobStore implements JobStore, Forkable<MemoryJobFork> {
  readonly #rows = new Map<string, MemoryJobRow>()
  readonly #workers = new Map<string, { tasks: readonly string[]; versions: readonly string[]; expiresAt: number }>()
  readonly #cron = new Map<string, number>()
  readonly #listeners = new Set<() => void>()
  readonly #clock: Clock
  readonly #retry: JobRetryPolicy
  readonly #retention: JobRetention
  readonly #gate: WriteGate | undefined

  constructor(options: MemoryJobStoreOptions = {}) {
    this.#clock = options.clock ?? systemClock
    this.#retry = options.retry ?? DEFAULT_JOB_RETRY
    this.#retention = options.retention ?? DEFAULT_JOB_RETENTION
    this.#gate = options.gate
  }

  #now(): number {
    return this.#clock.wallNow()
  }

  #wake(): void {
    if (this.#listeners.size === 0) return
    queueMicrotask(() => {
      for (const listener of this.#listeners) listener()
    })
  }

  #write<T>(fn: () => T): Promise<T> {
    return this.#gate ? this.#gate.write(fn) : Promise.resolve().then(fn)
  }

  /** The queued job holding `key`, if any. */
  #queuedWithKey(key: string): MemoryJobRow | undefined {
    for (const row of this.#rows.values()) if (row.key === key && row.state === 'queued') return row
    return undefined
  }

  /** @internal The row `request` adds now, or the queued one with its key (nothing is stored). */
  insert(request: JobRequest, pending: readonly MemoryJobRow[] = []): { row: MemoryJobRow; result: EnqueueResult } {
    if (request.key !== undefined) {
      const existing =
        pending.find((r) => r.key === request.key && r.state === 'queued') ?? this.#queuedWithKey(request.key)
      if (existing) return { row: existing, result: { id: existing.id, deduplicated: true } }
    }
    const now = this.#now()
    const row: MemoryJobRow = {
      id: uuidV7(now),
      task: request.task,
      payload: JSON.stringify(request.payload),
      state: 'queued',
      priority: request.priority,
      runAt: request.runAt ?? now + (request.delayMs ?? 0),
      attempts: 0,
      maxAttempts: request.maxAttempts,
      timeoutMs: request.timeoutMs ?? null,
      key: request.key ?? null,
      version: request.version ?? null,
      onVersionGone: request.onVersionGone,
      token: 0,
      lockedBy: null,
      lockedUntil: null,
      lastError: null,
      createdAt: now,
      finishedAt: null,
    }
    return { row, result: { id: row.id, deduplicated: false } }
  }

  enqueue(request: JobRequest): Promise<EnqueueResult> {
    return this.#write(() => {
      const { row, result } = this.insert(request)
      if (!result.deduplicated) {
        this.#rows.set(row.id, row)
        this.#wake()
      }
      return result
    })
  }

  get(id: string): Promise<Job | undefined> {
    const row = this.#rows.get(id)
    return Promise.resolve(row && toJob(row))
  }

  cancel(id: string): Promise<boolean> {
    return this.#write(() => {
      const row = this.#rows.get(id)
      if (!row || !(waiting(row) || row.state === 'running')) return false
      row.state = 'cancelled'
      row.finishedAt = this.#now()
      row.lockedBy = null
      row.lockedUntil = null
      return true
    })
  }

  counts(): Promise<Partial<Record<JobState, number>>> {
    const counts: Partial<Record<JobState, number>> = {}
    for (const row of this.#rows.values()) counts[row.state] = (counts[row.state] ?? 0) + 1
    return Promise.resolve(counts)
  }

  list(options: JobListOptions = {}): Promise<JobListResult> {
    const limit = options.limit ?? 100
    const rows = [...this.#rows.values()]
      .filter(
        (row) =>
          (options.cursor === undefined || row.id > options.cursor) &&
          (options.state === undefined || row.state === options.state) &&
          (options.task === undefined || row.task === options.task),
      )
      .sort((a, b) => (a.id < b.id ? -1 : 1))
    const jobs = rows.slice(0, limit).map(toJob)
    return Promise.resolve(rows.length > limit ? { jobs, cursor: jobs[jobs.length - 1]!.id } : { jobs })
  }

  #liveVersions(now: number): Set<string> {
    const live = new Set<string>()
    for (const worker of this.#workers.values()) {
      if (worker.expiresAt > now) for (const v of worker.versions) live.add(v)
    }
    return live
  }

  claim(request: ClaimRequest): Promise<ClaimedJob[]> {
    const now = this.#now()
    const tasks = new Set(request.tasks)
    const mine = new Set(request.versions)
    const live = this.#liveVersions(now)
    const ready = [...this.#rows.values()].filter(
      (row) =>
        waiting(row) &&
        row.runAt <= now &&
        tasks.has(row.task) &&
        (row.version === null || mine.has(row.version) || !live.has(row.version)),
    )
    ready.sort((a, b) => b.priority - a.priority || a.runAt - b.runAt || (a.id < b.id ? -1 : 1))
    const claimed = ready.slice(0, request.limit).map((row) => {
      row.state = 'running'
      row.attempts++
      row.token++
      row.lockedBy = request.workerId
      row.lockedUntil = now + request.leaseMs
      return toClaimed(row)
    })
    return Promise.resolve(claimed)
  }

  /** The row `lease` names while the lease holds, else `undefined`. */
  #held(lease: JobLease, now: number): MemoryJobRow | undefined {
    const row = this.#rows.get(lease.id)
    if (!row || row.token !== lease.token || row.state !== 'running') return undefined
    if (row.lockedUntil === null || row.lockedUntil < now) return undefined
    return row
  }

  heartbeat(lease: JobLease, leaseMs: number): Promise<boolean> {
    const now = this.#now()
    const row = this.#held(lease, now)
    if (row) row.lockedUntil = now + leaseMs
    return Promise.resolve(row !== undefined)
  }

  complete(lease: JobLease, options: CompleteOptions = {}): Promise<boolean> {
    return this.#write(() => {
      const now = this.#now()
      const row = this.#held(lease, now)
      if (!row) return false
      this.#finish(row, 'completed', now)
      if (options.enqueue?.length) {
        for (const request of options.enqueue) {
          const { row: added, result } = this.insert(request)
          if (!result.deduplicated) this.#rows.set(added.id, added)
        }
        this.#wake()
      }
      return true
    })
  }

  #finish(row: MemoryJobRow, state: 'completed' | 'dead', now: number): void {
    row.state = state
    row.finishedAt = now
    row.lockedBy = null
    row.lockedUntil = null
  }

  /** A failed attempt of `row`: a retry after a backoff while attempts are left, else dead. */
  #failRow(row: MemoryJobRow, message: string, retry: boolean, now: number): 'failed' | 'dead' {
    row.lastError = errorText(message)
    if (!retry || row.attempts >= row.maxAttempts) {
      this.#finish(row, 'dead', now)
      return 'dead'
    }
    row.state = 'failed'
    row.runAt = now + retryDelayMs(this.#retry, row.attempts - 1)
    row.lockedBy = null
    row.lockedUntil = null
    return 'failed'
  }

  fail(lease: JobLease, failure: JobFailure): Promise<'failed' | 'dead' | undefined> {
    const now = this.#now()
    const row = this.#held(lease, now)
    return Promise.resolve(row && this.#failRow(row, failure.message, failure.retry !== false, now))
  }

  release(lease: JobLease): Promise<boolean> {
    const now = this.#now()
    const row = this.#held(lease, now)
    if (!row) return Promise.resolve(false)
    row.state = 'queued'
    row.attempts--
    row.runAt = now
    row.lockedBy = null
    row.lockedUntil = null
    // Another job took the key while this one ran: both run (this one without its key).
    if (row.key !== null && this.#queuedWithKey(row.key)) row.key = null
    this.#wake()
    return Promise.resolve(true)
  }

  recover(): Promise<number> {
    const now = this.#now()
    let n = 0
    for (const row of this.#rows.values()) {
      if (row.state === 'running' && row.lockedUntil !== null && row.lockedUntil < now) {
        this.#failRow(row, LEASE_EXPIRED_ERROR, true, now)
        n++
      }
    }
    return Promise.resolve(n)
  }

  sweep(): Promise<number> {
    const now = this.#now()
    let n = 0
    for (const row of this.#rows.values()) {
      if (row.finishedAt === null) continue
      const keep = row.state === 'dead' ? this.#retention.deadMs : this.#retention.completedMs
      if (row.finishedAt < now - keep) {
        this.#rows.delete(row.id)
        n++
      }
    }
    return Promise.resolve(n)
  }

  register(worker: WorkerRegistration, ttlMs: number): Promise<void> {
    this.#workers.set(worker.id, {
      tasks: [...worker.tasks],
      versions: [...worker.versions],
      expiresAt: this.#now() + ttlMs,
    })
    return Promise.resolve()
  }

  unregister(workerId: string): Promise<void> {
    this.#workers.delete(workerId)
    return Promise.resolve()
  }

  lastCronSlot(id: string): Promise<number | undefined> {
    return Promise.resolve(this.#cron.get(id))
  }

  fireCronSlot(id: string, slot: number, job: JobRequest | undefined): Promise<CronFiring> {
    return this.#write(() => {
      const last = this.#cron.get(id)
      if (last !== undefined && last >= slot) return { fired: false }
      this.#cron.set(id, slot)
      if (!job) return { fired: true }
      const { row, result } = this.insert(job)
      if (!result.deduplicated) {
        this.#rows.set(row.id, row)
        this.#wake()
      }
      return { fired: true, jobId: result.id }
    })
  }

  subscribe(onWake: () => void): () => void {
    this.#listeners.add(onWake)
    queueMicrotask(onWake)
    return () => this.#listeners.delete(onWake)
  }

  /** A transaction's view: its enqueues are kept aside until {@link MemoryJobStore.adopt}. */
  fork(): MemoryJobFork {
    return new MemoryJobFork(this)
  }

  /** Commits a fork's enqueues (the caller holds the gate, as the memory backend's commit does). */
  adopt(fork: MemoryJobFork): void {
    const rows = fork.take()
    for (const row of rows) this.#rows.set(row.id, row)
    if (rows.length > 0) this.#wake()
  }
}

/** The enqueues of one transaction over a {@link MemoryJobStore}. */
export class MemoryJobFork implements JobEnqueuer {
  readonly #store: MemoryJobStore
  #pending: MemoryJobRow[] = []

  constructor(store: MemoryJobStore) {
    this.#store = store
  }

  enqueue(request: JobRequest): Promise<EnqueueResult> {
    const { row, result } = this.#store.insert(request, this.#pending)
    if (!result.deduplicated) this.#pending.push(row)
    return Promise.resolve(result)
  }

  /** The rows to commit (once). */
  take(): MemoryJobRow[] {
    const rows = this.#pending
    this.#pending = []
    return rows
  }
}

const toClaimed = (row: MemoryJobRow): ClaimedJob => claimed({ ...row, payload: JSON.parse(row.payload) as JsonValue })
