/**
 * The job store over Postgres (PGlite or a server), in `fnbox_jobs` and its tables (see
 * `migrations.ts`), as graphile-worker and pg-boss build theirs:
 *
 * - A claim is one statement: `FOR UPDATE SKIP LOCKED` over the ready-jobs index, so concurrent
 *   workers (any number of hosts) never wait on each other nor take one job twice.
 * - Every lease operation is conditional on the claim's token and a live lease (fencing).
 * - Completions and heartbeats that arrive while one statement is in flight go out together as
 *   the next statement (`unnest` of the ids and tokens): at thousands of jobs a second, one round
 *   trip serves many jobs.
 * - Time is the database's `now()` (`$1` is null), so hosts with skewed clocks agree on `runAt`,
 *   leases and backoff; a test may pass a clock instead (`$1` is its time).
 * - Backoff is computed in SQL, so a failure and a lease recovered by another host follow the
 *   same policy.
 *
 * @internal
 * @module
 */
import { CompiledQuery, type Kysely } from 'kysely'
import { invalidOption } from '../../errors.js'
import type { Clock } from '../../clock.js'
import {
  DEFAULT_JOB_RETENTION,
  DEFAULT_JOB_RETRY,
  LEASE_EXPIRED_ERROR,
  errorText,
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
  type JobState,
  type JobRequest,
  type JobRetention,
  type JobRetryPolicy,
  type JobStore,
  type WorkerRegistration,
} from './jobs.js'
import { JOBS_CHANNEL } from './migrations.js'
import { toClaimed, toJob, type ClaimFields, type JobFields } from './rows.js'

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Db = Kysely<any>

/** LISTEN, as `SqlDatabase.listen` offers it (a payload, or `undefined` after a reconnection). */
export interface Notifications {
  listen(channel: string, listener: (payload: string | undefined) => void): Promise<() => void>
}

/** Options of {@link PostgresJobStore}. */
export interface PostgresJobStoreOptions {
  retry?: JobRetryPolicy
  retention?: JobRetention
  /** Read time from this clock instead of the database's `now()` (tests). */
  clock?: Clock
  /** Where NOTIFYs of new jobs arrive (the database's LISTEN); without it workers only poll. */
  notifications?: Notifications
  /**
   * VACUUM ANALYZE the jobs table after each sweep: for PGlite, which has no autovacuum (every
   * claim and completion leaves a dead row version; unvacuumed, claims slow down).
   */
  vacuum?: boolean
}

/** "Now" in every statement: the clock's time when one is given, else the database's. */
const NOW = 'coalesce($1::timestamptz, now())'

const COLUMNS = `id, task, state, attempts, max_attempts as "maxAttempts", priority, key, run_at as "runAt",
  last_error as "lastError", created_at as "createdAt", finished_at as "finishedAt"`

const ENQUEUE = `insert into fnbox_jobs as j
  (task, payload, priority, run_at, max_attempts, timeout_ms, key, version, on_version_gone, created_at)
values ($2, $3::jsonb, $4, coalesce($5::timestamptz, ${NOW} + $6::float8 * interval '1 millisecond'), $7, $8, $9, $10, $11, ${NOW})
on conflict (key) where state = 'queued' and key is not null do update set key = j.key
returning id, xmax <> 0 as deduplicated`

const GET = `select ${COLUMNS} from fnbox_jobs where id = $1`

const CANCEL = `update fnbox_jobs set state = 'cancelled', finished_at = ${NOW}, locked_by = null, locked_until = null
where id = $2 and state in ('queued', 'failed', 'running') returning id`

const LIST = `select ${COLUMNS} from fnbox_jobs
where ($1::uuid is null or id > $1) and ($2::text is null or state = $2) and ($3::text is null or task = $3)
order by id limit $4`

// `live`: every version a registered worker runs (one scan of a small table, once per claim).
// A job of a version no live worker runs may go to any worker of its task (onVersionGone decides).
const CLAIM = `with live as (
  select coalesce(array_agg(v), '{}') as versions
  from fnbox_job_workers w cross join unnest(w.versions) v where w.expires_at > ${NOW}
), ready as (
  select j.id from fnbox_jobs j
  where j.state in ('queued', 'failed') and j.run_at <= ${NOW} and j.task = any($2::text[])
    and (j.version is null or j.version = any($3::text[]) or not (j.version = any((select versions from live)::text[])))
  order by j.priority desc, j.run_at, j.id
  limit $4
  for update of j skip locked
)
update fnbox_jobs j set state = 'running', attempts = j.attempts + 1, token = j.token + 1,
  locked_by = $5, locked_until = ${NOW} + $6::float8 * interval '1 millisecond'
from ready where j.id = ready.id
returning j.id, j.token, j.task, j.payload, j.attempts, j.max_attempts as "maxAttempts", j.priority, j.key,
  j.run_at as "runAt", j.created_at as "createdAt", j.timeout_ms as "timeoutMs", j.version,
  j.on_version_gone as "onVersionGone"`

/** The jobs a lease operation names: `$2` ids, `$3` tokens. */
const HELD = `from unnest($2::uuid[], $3::int[]) as v(id, token)
where j.id = v.id and j.token = v.token and j.state = 'running' and j.locked_until >= ${NOW}`

const HEARTBEAT = `update fnbox_jobs j set locked_until = ${NOW} + $4::float8 * interval '1 millisecond'
${HELD} returning j.id, j.token`

const COMPLETE = `update fnbox_jobs j set state = 'completed', finished_at = ${NOW}, locked_by = null, locked_until = null
${HELD} returning j.id, j.token`

// A released job keeps its key unless another queued job took it meanwhile (the unique index).
const RELEASE = `with released as (
  update fnbox_jobs j set state = 'queued', attempts = j.attempts - 1, run_at = ${NOW}, locked_by = null,
    locked_until = null,
    key = case when j.key is null or exists (select 1 from fnbox_jobs o where o.key = j.key and o.state = 'queued')
      then null else j.key end
  ${HELD} returning j.id
) select id, pg_notify('${JOBS_CHANNEL}', '') from released`

const REGISTER = `insert into fnbox_job_workers (id, tasks, versions, expires_at)
values ($2, $3::text[], $4::text[], ${NOW} + $5::float8 * interval '1 millisecond')
on conflict (id) do update set tasks = excluded.tasks, versions = excluded.versions, expires_at = excluded.expires_at`

/** Registrations expired this long ago are deleted (they are kept a while for inspection). */
const FORGET_WORKERS = `delete from fnbox_job_workers where expires_at < ${NOW} - interval '1 hour'`

const UNREGISTER = `delete from fnbox_job_workers where id = $1`

const LAST_CRON = `select last_slot from fnbox_cron where id = $1`

// Of concurrent claims of one slot, one inserts or advances the row; the others wait on it, then
// find the slot taken (or, if that host died before committing, take it themselves).
const FIRE_CRON = `insert into fnbox_cron as c (id, last_slot, updated_at) values ($2, $3, ${NOW})
on conflict (id) do update set last_slot = excluded.last_slot, updated_at = excluded.updated_at
where c.last_slot < excluded.last_slot
returning 1`

/** Finished rows deleted per statement, so one sweep never holds locks on a huge set at once. */
const SWEEP_BATCH = 10_000

const SWEEP = `with removed as (
  delete from fnbox_jobs where id in (
    select id from fnbox_jobs where finished_at is not null and (
      (state = 'dead' and finished_at < ${NOW} - $2::float8 * interval '1 millisecond') or
      (state <> 'dead' and finished_at < ${NOW} - $3::float8 * interval '1 millisecond'))
    limit ${SWEEP_BATCH})
  returning 1
) select count(*)::int as n from removed`

/** Postgres' SQLSTATE for a unique violation. */
const UNIQUE_VIOLATION = '23505'

/** The statements whose shape depends on the retry policy (it is written into them). */
function policyStatements(policy: JobRetryPolicy): { fail: string; recover: string } {
  // Written into SQL: only finite numbers may pass (the runtime validates the options first).
  for (const [name, value] of Object.entries({ ...policy, jitter: policy.jitter ? 1 : 0 })) {
    if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
      throw invalidOption(`jobs.retry.${name}`, 'a finite number of at least 0', value)
    }
  }
  // Past this many retries the delay is maxDelayMs anyway: capping the exponent keeps power()
  // finite for any number of attempts.
  const cap =
    policy.factor <= 1 || policy.minDelayMs === 0
      ? 0
      : Math.ceil(Math.log(Math.max(1, policy.maxDelayMs / policy.minDelayMs)) / Math.log(policy.factor)) + 1
  const jitter = policy.jitter ? '(1 + random())' : '1'
  const backoff = `least(${policy.maxDelayMs}::float8, round(${policy.minDelayMs}::float8 * power(${policy.factor}::float8, least(j.attempts - 1, ${cap})) * ${jitter}))`
  // `$dead`: the condition under which this failure is the last.
  const settle = (dead: string, error: string) => `state = case when ${dead} then 'dead' else 'failed' end,
    run_at = case when ${dead} then j.run_at else ${NOW} + ${backoff} * interval '1 millisecond' end,
    finished_at = case when ${dead} then ${NOW} end,
    last_error = ${error}, locked_by = null, locked_until = null`
  return {
    fail: `update fnbox_jobs j set ${settle('(not $4 or j.attempts >= j.max_attempts)', '$5')}
      ${HELD} returning j.state`,
    recover: `with expired as (
      select id from fnbox_jobs where state = 'running' and locked_until < ${NOW} for update skip locked
    ) update fnbox_jobs j set ${settle('j.attempts >= j.max_attempts', '$2')}
      from expired where j.id = expired.id returning 1`,
  }
}

/**
 * Calls made while a statement is in flight, sent as the next one: `run` gets the batch and
 * answers, for each call, its result.
 */
class Coalescer<T, R> {
  #queue: { item: T; resolve(r: R): void; reject(e: unknown): void }[] = []
  #busy = false

  constructor(readonly run: (items: T[]) => Promise<R[]>) {}

  add(item: T): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      this.#queue.push({ item, resolve, reject })
      if (!this.#busy) {
        this.#busy = true
        // Calls of the same tick join the first statement too.
        queueMicrotask(() => void this.#flush())
      }
    })
  }

  async #flush(): Promise<void> {
    while (this.#queue.length > 0) {
      const batch = this.#queue
      this.#queue = []
      try {
        const results = await this.run(batch.map((b) => b.item))
        batch.forEach((b, i) => b.resolve(results[i]!))
      } catch (err) {
        for (const b of batch) b.reject(err)
      }
    }
    this.#busy = false
  }
}

const leaseKey = (id: string, token: number): string => `${id}:${token}`

/**
 * The job store in Postgres. `db` is the database; {@link PostgresJobStore.using} gives the
 * enqueue of a transaction of it.
 */
export class PostgresJobStore implements JobStore {
  readonly #db: Db
  readonly #clock: Clock | undefined
  readonly #retention: JobRetention
  readonly #notifications: Notifications | undefined
  readonly #vacuum: boolean
  readonly #wakers = new Set<() => void>()
  /** Stops listening; set while subscribers are. */
  #listening: Promise<(() => void) | undefined> | undefined
  readonly #fail: string
  readonly #recover: string
  readonly #complete = new Coalescer<JobLease, boolean>((leases) => this.#leaseBatch(COMPLETE, leases))
  readonly #heartbeat = new Coalescer<{ lease: JobLease; leaseMs: number }, boolean>(async (items) => {
    // One statement per lease length; a worker uses one, so that is one statement.
    const held = new Map<object, boolean>()
    for (const ms of new Set(items.map((i) => i.leaseMs))) {
      const group = items.filter((i) => i.leaseMs === ms)
      const answers = await this.#leaseBatch(
        HEARTBEAT,
        group.map((g) => g.lease),
        [ms],
      )
      group.forEach((g, i) => held.set(g, answers[i]!))
    }
    return items.map((item) => held.get(item)!)
  })

  constructor(db: Db, options: PostgresJobStoreOptions = {}) {
    this.#db = db
    this.#clock = options.clock
    this.#retention = options.retention ?? DEFAULT_JOB_RETENTION
    this.#notifications = options.notifications
    this.#vacuum = options.vacuum === true
    const statements = policyStatements(options.retry ?? DEFAULT_JOB_RETRY)
    this.#fail = statements.fail
    this.#recover = statements.recover
  }

  /** `$1` of every statement: the clock's time, or null for the database's. */
  #now(): Date | null {
    return this.#clock ? new Date(this.#clock.wallNow()) : null
  }

  async #query<R>(text: string, params: unknown[], db: Db = this.#db): Promise<R[]> {
    const result = await db.executeQuery<R>(CompiledQuery.raw(text, params))
    return result.rows
  }

  /** Runs a fenced statement over `leases`: for each, whether it still held. */
  async #leaseBatch(text: string, leases: JobLease[], extra: unknown[] = []): Promise<boolean[]> {
    const rows = await this.#query<{ id: string; token: number }>(text, [
      this.#now(),
      leases.map((l) => l.id),
      leases.map((l) => l.token),
      ...extra,
    ])
    const held = new Set(rows.map((r) => leaseKey(r.id, r.token)))
    return leases.map((l) => held.has(leaseKey(l.id, l.token)))
  }

  #insert(request: JobRequest, db: Db): Promise<EnqueueResult> {
    return this.#query<{ id: string; deduplicated: boolean }>(
      ENQUEUE,
      [
        this.#now(),
        request.task,
        JSON.stringify(request.payload),
        request.priority,
        request.runAt === undefined ? null : new Date(request.runAt),
        request.delayMs ?? 0,
        request.maxAttempts,
        request.timeoutMs ?? null,
        request.key ?? null,
        request.version ?? null,
        request.onVersionGone,
      ],
      db,
    ).then(([row]) => ({ id: row!.id, deduplicated: row!.deduplicated }))
  }

  enqueue(request: JobRequest): Promise<EnqueueResult> {
    return this.#insert(request, this.#db)
  }

  /** The enqueue of a transaction (`executor`): the job commits with it, or not at all. */
  using(executor: Db): JobEnqueuer {
    return { enqueue: (request) => this.#insert(request, executor) }
  }

  async get(id: string): Promise<Job | undefined> {
    const [row] = await this.#query<JobFields>(GET, [id])
    return row && toJob(row)
  }

  async cancel(id: string): Promise<boolean> {
    return (await this.#query(CANCEL, [this.#now(), id])).length > 0
  }

  async counts(): Promise<Partial<Record<JobState, number>>> {
    const rows = await this.#query<{ state: JobState; n: number }>(
      'select state, count(*)::int as n from fnbox_jobs group by state',
      [],
    )
    return Object.fromEntries(rows.map((r) => [r.state, Number(r.n)]))
  }

  async list(options: JobListOptions = {}): Promise<JobListResult> {
    const limit = options.limit ?? 100
    const rows = await this.#query<JobFields>(LIST, [
      options.cursor ?? null,
      options.state ?? null,
      options.task ?? null,
      limit + 1,
    ])
    const jobs = rows.slice(0, limit).map(toJob)
    return rows.length > limit ? { jobs, cursor: jobs[jobs.length - 1]!.id } : { jobs }
  }

  async claim(request: ClaimRequest): Promise<ClaimedJob[]> {
    if (request.tasks.length === 0 || request.limit < 1) return []
    const rows = await this.#query<ClaimFields>(CLAIM, [
      this.#now(),
      request.tasks,
      request.versions,
      request.limit,
      request.workerId,
      request.leaseMs,
    ])
    return rows.map(toClaimed).sort((a, b) => b.priority - a.priority || (a.runAt < b.runAt ? -1 : 1))
  }

  heartbeat(lease: JobLease, leaseMs: number): Promise<boolean> {
    return this.#heartbeat.add({ lease: { id: lease.id, token: lease.token }, leaseMs })
  }

  complete(lease: JobLease, options: CompleteOptions = {}): Promise<boolean> {
    const then = options.enqueue ?? []
    if (then.length === 0) return this.#complete.add({ id: lease.id, token: lease.token })
    return this.#db.transaction().execute(async (trx) => {
      const held = await this.#query(COMPLETE, [this.#now(), [lease.id], [lease.token]], trx)
      if (held.length === 0) return false
      for (const request of then) await this.#insert(request, trx)
      return true
    })
  }

  async fail(lease: JobLease, failure: JobFailure): Promise<'failed' | 'dead' | undefined> {
    const [row] = await this.#query<{ state: 'failed' | 'dead' }>(this.#fail, [
      this.#now(),
      [lease.id],
      [lease.token],
      failure.retry !== false,
      errorText(failure.message),
    ])
    return row?.state
  }

  async release(lease: JobLease): Promise<boolean> {
    const params = [this.#now(), [lease.id], [lease.token]]
    try {
      return (await this.#query(RELEASE, params)).length > 0
    } catch (err) {
      // Another job took the key between our check and our update: hand it back without its key.
      if ((err as { code?: string }).code !== UNIQUE_VIOLATION) throw err
      return (await this.#query(RELEASE.replace('when j.key is null or', 'when true or'), params)).length > 0
    }
  }

  async recover(): Promise<number> {
    return (await this.#query(this.#recover, [this.#now(), LEASE_EXPIRED_ERROR])).length
  }

  async sweep(): Promise<number> {
    let total = 0
    for (;;) {
      const [row] = await this.#query<{ n: number }>(SWEEP, [
        this.#now(),
        this.#retention.deadMs,
        this.#retention.completedMs,
      ])
      total += row!.n
      if (row!.n < SWEEP_BATCH) break
    }
    if (this.#vacuum) await this.#query('vacuum analyze fnbox_jobs', [])
    return total
  }

  async register(worker: WorkerRegistration, ttlMs: number): Promise<void> {
    await this.#query(REGISTER, [this.#now(), worker.id, worker.tasks, worker.versions, ttlMs])
    await this.#query(FORGET_WORKERS, [this.#now()])
  }

  async unregister(workerId: string): Promise<void> {
    await this.#query(UNREGISTER, [workerId])
  }

  async lastCronSlot(id: string): Promise<number | undefined> {
    const [row] = await this.#query<{ last_slot: Date | string }>(LAST_CRON, [id])
    return row && new Date(row.last_slot).getTime()
  }

  fireCronSlot(id: string, slot: number, job: JobRequest | undefined): Promise<CronFiring> {
    return this.#db.transaction().execute(async (trx) => {
      const claimed = await this.#query(FIRE_CRON, [this.#now(), id, new Date(slot)], trx)
      if (claimed.length === 0) return { fired: false }
      if (!job) return { fired: true }
      const { id: jobId } = await this.#insert(job, trx)
      return { fired: true, jobId }
    })
  }

  subscribe(onWake: () => void): () => void {
    this.#wakers.add(onWake)
    const wakeAll = (): void => this.#wakers.forEach((fn) => fn())
    if (this.#notifications && !this.#listening) {
      this.#listening = this.#notifications.listen(JOBS_CHANNEL, wakeAll).then(
        (stop) => {
          // Jobs enqueued before we listened sent their notifications to no one.
          wakeAll()
          return stop
        },
        () => undefined, // no wake-ups then: the workers' polling finds the jobs
      )
    } else if (!this.#notifications) {
      queueMicrotask(onWake)
    }
    return () => {
      if (!this.#wakers.delete(onWake) || this.#wakers.size > 0) return
      const listening = this.#listening
      this.#listening = undefined
      void listening?.then((stop) => stop?.())
    }
  }
}
