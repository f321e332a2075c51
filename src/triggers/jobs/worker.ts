/**
 * The worker loop of one host: claims jobs of the tasks it runs (up to `concurrency` at once),
 * runs each through an injected handler, keeps their leases alive, and records how each ended.
 *
 * - **Finding work.** A claim runs when a slot is free and work may be waiting: after a wake-up
 *   (the store's NOTIFY), after a claim that filled every slot it asked for, and on every poll
 *   tick (`pollIntervalMs`), which also recovers expired leases. One claim at a time; wake-ups
 *   meanwhile make it claim again.
 * - **Leases.** Every `leaseMs / 3` the worker heartbeats its running jobs (batched by the
 *   store) and renews its registration (the versions it runs, for version affinity). A job
 *   whose heartbeat fails was cancelled or taken over: its handler is aborted and its outcome is
 *   not recorded.
 * - **Outcomes.** Resolved: complete (with the follow-up jobs the handler returned, atomically).
 *   Thrown: fail (retried with backoff by the store, dead after `maxAttempts`; an error with
 *   `retryable: false` is dead at once). Past its time limit: aborted and failed with
 *   `ERR_TIMEOUT`. A store error while recording is retried for a while; after that the lease
 *   runs out and another host reruns the job (at-least-once).
 * - **A handler that ignores its signal** keeps its slot until it settles, or `abortGraceMs`
 *   after the abort, whichever comes first (the runtime's handler stops a sandbox on abort).
 * - **close()** stops claiming, lets running jobs finish until its deadline, then aborts the rest
 *   and releases them at once (due now, the attempt not counted) for another host.
 *
 * Time (polls, heartbeats, time limits, the close deadline) comes from an injected clock.
 *
 * @internal
 * @module
 */
import { hostname } from 'node:os'
import { randomUUID } from 'node:crypto'
import { FnboxError } from '../../errors.js'
import { sleep, systemClock, type Clock } from '../../clock.js'
import type { ClaimedJob, JobRequest, JobStore } from '../../host/jobs/jobs.js'

/** What a handler may answer: follow-up jobs enqueued atomically with the completion. */
export interface JobOutcome {
  enqueue?: readonly JobRequest[]
}

/**
 * Runs one job. Resolves: the job completed. Rejects: the attempt failed (`retryable: false` on
 * the error: no retry). `signal` aborts on timeout, lost lease, cancellation or close.
 */
export type JobHandler = (job: ClaimedJob, signal: AbortSignal) => Promise<void | JobOutcome>

/** How a run ended, as {@link JobWorkerEvents.onJobEnd} reports it. */
export type JobRunEnd =
  | { kind: 'completed' }
  | { kind: 'failed' | 'dead'; error: string }
  /** The lease was lost (cancelled, expired, taken over): nothing was recorded. */
  | { kind: 'lost' }
  /** Handed back by close(). */
  | { kind: 'released' }

export interface JobWorkerEvents {
  /** A store call failed (claim, heartbeat, recording an outcome, ...). The worker carries on. */
  onError?(error: unknown, during: string): void
  onJobStart?(job: ClaimedJob): void
  onJobEnd?(job: ClaimedJob, end: JobRunEnd): void
}

export interface JobWorkerOptions {
  store: JobStore
  handler: JobHandler
  /** Tasks this worker runs (see {@link JobWorker.setTasks}). */
  tasks: readonly string[]
  /** Versions this worker runs (version affinity); default none. */
  versions?: readonly string[]
  /** Jobs run at once. Default 10. */
  concurrency?: number
  /** Poll for jobs (and recover expired leases) this often, in ms. Default 1000. */
  pollIntervalMs?: number
  /** Lease of a claimed job, renewed every third of it. Default 30,000. */
  leaseMs?: number
  /** Time limit of a job without its own `timeoutMs`. Default 15 minutes. */
  timeoutMs?: number
  /**
   * Added to every job's limit before the worker aborts it, in ms. Default 0. For a handler that
   * enforces the job's limit itself (the runtime's sandbox deadline): its own timeout error, which
   * names the option to raise, arrives first, and the worker's timer stays a backstop.
   */
  backstopMs?: number
  /** How long an aborted handler keeps its slot at most, in ms. Default 5000. */
  abortGraceMs?: number
  /** Delete finished jobs past their retention this often, in ms. Default 60,000. */
  sweepIntervalMs?: number
  /** Most jobs one claim asks for. Default: the free slots. */
  batchSize?: number
  clock?: Clock
  /** Default: host, pid and a random part. */
  workerId?: string
  events?: JobWorkerEvents
}

/** Options of {@link JobWorker.close}. */
export interface JobWorkerCloseOptions {
  /** How long running jobs may take to finish before they are released. Default 30,000. */
  timeoutMs?: number
}

/** One job in progress. */
interface Run {
  readonly job: ClaimedJob
  readonly controller: AbortController
  /** Set once the outcome is decided (recorded, being recorded, or not to be recorded). */
  decided: boolean
  /** Frees the slot (once). */
  free(): void
  /** Resolves once the outcome is decided and recorded (or known not to be recordable). */
  readonly done: Promise<void>
  /** Resolves {@link Run.done} after `recorded`. */
  finish(recorded: Promise<void>): void
}

const RECORD_RETRIES = 5

export class JobWorker {
  readonly id: string
  readonly #store: JobStore
  readonly #handler: JobHandler
  readonly #clock: Clock
  readonly #events: JobWorkerEvents
  readonly #concurrency: number
  readonly #pollMs: number
  readonly #leaseMs: number
  readonly #timeoutMs: number
  readonly #backstopMs: number
  readonly #graceMs: number
  readonly #sweepMs: number
  readonly #batchSize: number
  #tasks: readonly string[]
  #versions: readonly string[]

  readonly #runs = new Map<string, Run>()
  /** Outcome recordings in flight (close waits for them). */
  readonly #recording = new Set<Promise<void>>()
  #claiming: Promise<void> | undefined
  /** Work may be waiting: a wake-up came, or the last claim filled what it asked for. */
  #more = true
  #wakes = 0
  #started = false
  #closing = false
  #unsubscribe: (() => void) | undefined
  readonly #timers = { poll: undefined as unknown, beat: undefined as unknown, sweep: undefined as unknown }
  #recovering = false
  #pumpScheduled = false

  constructor(options: JobWorkerOptions) {
    this.#store = options.store
    this.#handler = options.handler
    this.#clock = options.clock ?? systemClock
    this.#events = options.events ?? {}
    this.#tasks = [...options.tasks]
    this.#versions = [...(options.versions ?? [])]
    this.#concurrency = positive(options.concurrency ?? 10, 'concurrency')
    this.#pollMs = positive(options.pollIntervalMs ?? 1000, 'pollIntervalMs')
    this.#leaseMs = positive(options.leaseMs ?? 30_000, 'leaseMs')
    this.#timeoutMs = positive(options.timeoutMs ?? 15 * 60_000, 'timeoutMs')
    this.#backstopMs = positive(options.backstopMs ?? 0, 'backstopMs', 0)
    this.#graceMs = positive(options.abortGraceMs ?? 5000, 'abortGraceMs', 0)
    this.#sweepMs = positive(options.sweepIntervalMs ?? 60_000, 'sweepIntervalMs')
    this.#batchSize = positive(options.batchSize ?? this.#concurrency, 'batchSize')
    this.id = options.workerId ?? `${hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`
  }

  /** Jobs running now. */
  get running(): number {
    return this.#runs.size
  }

  /** Registers the worker and starts claiming. */
  async start(): Promise<void> {
    if (this.#started) return
    this.#started = true
    await this.#register()
    this.#unsubscribe = this.#store.subscribe?.(() => this.wake())
    this.#timers.poll = this.#clock.setTimeout(() => this.#poll(), this.#pollMs)
    this.#timers.beat = this.#clock.setTimeout(() => this.#beat(), this.#leaseMs / 3)
    this.#timers.sweep = this.#clock.setTimeout(() => this.#sweep(), this.#sweepMs)
    this.#pump()
  }

  /** Changes what the worker runs (a deploy): registered at once, then claimed. */
  async setTasks(tasks: readonly string[], versions: readonly string[] = []): Promise<void> {
    this.#tasks = [...tasks]
    this.#versions = [...versions]
    if (!this.#started || this.#closing) return
    await this.#register()
    this.wake()
  }

  /** Work may be waiting: claim if a slot is free. */
  wake(): void {
    this.#wakes++
    this.#more = true
    this.#pump()
  }

  #error(err: unknown, during: string): void {
    this.#events.onError?.(err, during)
  }

  async #register(): Promise<void> {
    try {
      await this.#store.register({ id: this.id, tasks: this.#tasks, versions: this.#versions }, this.#leaseMs)
    } catch (err) {
      this.#error(err, 'register')
    }
  }

  /**
   * Claims once the current burst of finished jobs has freed its slots: many quick jobs end in
   * one turn of the event loop, and one claim for all their slots beats one claim each.
   */
  #pumpSoon(): void {
    if (this.#pumpScheduled) return
    this.#pumpScheduled = true
    setImmediate(() => {
      this.#pumpScheduled = false
      this.#pump()
    })
  }

  #pump(): void {
    if (!this.#started || this.#closing || this.#claiming || !this.#more) return
    const free = this.#concurrency - this.#runs.size
    if (free <= 0 || this.#tasks.length === 0) return
    const limit = Math.min(free, this.#batchSize)
    const wakes = this.#wakes
    this.#claiming = this.#store
      .claim({ workerId: this.id, tasks: this.#tasks, versions: this.#versions, limit, leaseMs: this.#leaseMs })
      .then(
        (jobs) => {
          // Fewer than asked, and no wake-up since: nothing more is ready (until one comes).
          if (jobs.length < limit && wakes === this.#wakes) this.#more = false
          for (const job of jobs) this.#start(job)
        },
        (err: unknown) => {
          this.#more = false // the next poll tries again
          this.#error(err, 'claim')
        },
      )
      .finally(() => {
        this.#claiming = undefined
        this.#pump()
      })
  }

  #start(job: ClaimedJob): void {
    const controller = new AbortController()
    let freed = false
    // Set below; `free` may run before they are (a job claimed while closing).
    const timers: { limit?: unknown; grace?: unknown } = {}
    let finish!: (recorded: Promise<void>) => void
    const done = new Promise<void>((resolve) => (finish = (recorded) => void recorded.then(resolve, resolve)))
    const run: Run = {
      job,
      controller,
      decided: false,
      done,
      finish,
      free: () => {
        if (freed) return
        freed = true
        this.#clock.clearTimeout(timers.limit)
        this.#clock.clearTimeout(timers.grace)
        if (this.#runs.get(job.id) === run) this.#runs.delete(job.id)
        this.#pumpSoon()
      },
    }
    this.#runs.set(job.id, run)
    if (this.#closing) {
      // Claimed while close() began: straight back.
      this.#decide(run, { kind: 'released' })
      run.free()
      return
    }
    const limitMs = job.timeoutMs ?? this.#timeoutMs
    timers.limit = this.#clock.setTimeout(() => {
      const message = `ERR_TIMEOUT: the job ran past its time limit (${limitMs} ms)`
      this.#abort(run, new FnboxError('ERR_TIMEOUT', message, { details: { limit: limitMs } }))
      this.#decide(run, { kind: 'failed', error: message })
    }, limitMs + this.#backstopMs)
    // Aborted: the handler has abortGraceMs to settle before its slot is taken back.
    controller.signal.addEventListener('abort', () => {
      timers.grace = this.#clock.setTimeout(run.free, this.#graceMs)
    })

    if (job.version !== null && job.onVersionGone === 'dead' && !this.#versions.includes(job.version)) {
      this.#decide(run, {
        kind: 'dead',
        error: `the version that enqueued the job (${job.version}) runs on no host any more (onVersionGone: 'dead')`,
      })
      run.free()
      return
    }
    this.#events.onJobStart?.(job)
    let result: Promise<void | JobOutcome>
    try {
      result = this.#handler(job, controller.signal)
    } catch (err) {
      result = Promise.reject(err)
    }
    result.then(
      (outcome) => this.#decide(run, { kind: 'completed' }, outcome ?? undefined),
      (err: unknown) => {
        const error = describeError(err)
        const retry = (err as { retryable?: unknown } | null)?.retryable !== false
        this.#decide(run, { kind: retry ? 'failed' : 'dead', error })
      },
    )
    result.catch(() => undefined).finally(run.free)
  }

  #abort(run: Run, reason: unknown): void {
    if (!run.controller.signal.aborted) run.controller.abort(reason)
  }

  /**
   * Records how `run` ended, once: `failed` and `dead` are what the worker asks for; the store
   * answers whether attempts are left.
   */
  #decide(run: Run, end: JobRunEnd, outcome?: JobOutcome): void {
    if (run.decided) return
    run.decided = true
    const { job } = run
    const report = (final: JobRunEnd): void => this.#events.onJobEnd?.(job, final)
    let write: () => Promise<JobRunEnd>
    switch (end.kind) {
      case 'completed':
        write = async () =>
          (await this.#store.complete(job, outcome?.enqueue ? { enqueue: outcome.enqueue } : {}))
            ? end
            : { kind: 'lost' }
        break
      case 'failed':
      case 'dead': {
        const failure = { message: end.error, retry: end.kind === 'failed' }
        write = async () => {
          const state = await this.#store.fail(job, failure)
          return state ? { kind: state, error: end.error } : { kind: 'lost' }
        }
        break
      }
      case 'released':
        write = async () => ((await this.#store.release(job)) ? end : { kind: 'lost' })
        break
      case 'lost':
        report(end)
        run.finish(Promise.resolve())
        return
    }
    const recorded = this.#persist(write, `recording ${end.kind}`).then(
      (final) => report(final ?? { kind: 'lost' }),
      () => undefined,
    )
    run.finish(recorded)
    this.#recording.add(recorded)
    void recorded.finally(() => this.#recording.delete(recorded))
  }

  /** Runs a store write, retried with backoff while it fails; `undefined` if it never succeeded. */
  async #persist<T>(write: () => Promise<T>, during: string): Promise<T | undefined> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await write()
      } catch (err) {
        this.#error(err, during)
        if (attempt >= RECORD_RETRIES) return undefined
        await sleep(this.#clock, Math.min(this.#leaseMs / 4, 100 * 2 ** attempt))
      }
    }
  }

  #poll(): void {
    this.#timers.poll = this.#clock.setTimeout(() => this.#poll(), this.#pollMs)
    if (!this.#recovering) {
      this.#recovering = true
      this.#store
        .recover()
        .catch((err: unknown) => this.#error(err, 'recover'))
        .finally(() => (this.#recovering = false))
    }
    // As a wake-up: a claim in flight now may have read the time before jobs fell due.
    this.wake()
  }

  #beat(): void {
    this.#timers.beat = this.#clock.setTimeout(() => this.#beat(), this.#leaseMs / 3)
    void this.#register()
    for (const run of this.#runs.values()) {
      if (run.decided) continue
      this.#store.heartbeat(run.job, this.#leaseMs).then(
        (held) => {
          if (held || run.decided) return
          // Cancelled, or taken over after our lease ran out: stop, record nothing.
          this.#abort(run, new FnboxError('ERR_CLOSED', 'the job was cancelled or its lease was lost'))
          this.#decide(run, { kind: 'lost' })
        },
        (err: unknown) => this.#error(err, 'heartbeat'),
      )
    }
  }

  #sweep(): void {
    this.#timers.sweep = this.#clock.setTimeout(() => this.#sweep(), this.#sweepMs)
    this.#store.sweep().catch((err: unknown) => this.#error(err, 'sweep'))
  }

  /**
   * Stops claiming, waits up to `timeoutMs` for running jobs, then aborts the rest and releases
   * them for another host; resolves once every outcome is recorded and the worker unregistered.
   */
  async close(options: JobWorkerCloseOptions = {}): Promise<void> {
    if (this.#closing) return
    this.#closing = true
    this.#unsubscribe?.()
    // Heartbeats go on while running jobs finish: their leases must hold until then.
    this.#clock.clearTimeout(this.#timers.poll)
    this.#clock.clearTimeout(this.#timers.sweep)
    await this.#claiming
    const pending = [...this.#runs.values()]
    const timeoutMs = options.timeoutMs ?? 30_000
    if (pending.length > 0 && timeoutMs > 0) {
      let deadline: unknown
      const timedOut = new Promise<void>((resolve) => {
        deadline = this.#clock.setTimeout(resolve, timeoutMs)
      })
      await Promise.race([Promise.all(pending.map((run) => run.done)), timedOut])
      this.#clock.clearTimeout(deadline)
    }
    if (pending.length > 0) {
      for (const run of pending) {
        if (run.decided) continue
        this.#abort(run, new FnboxError('ERR_CLOSED', 'the worker is closing: the job goes back to the queue'))
        this.#decide(run, { kind: 'released' })
        run.free()
      }
    }
    while (this.#recording.size > 0) await Promise.all(this.#recording)
    this.#clock.clearTimeout(this.#timers.beat)
    if (this.#started) await this.#store.unregister(this.id).catch((err: unknown) => this.#error(err, 'unregister'))
  }
}

function positive(value: number, name: string, min = 1): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < min) {
    throw new FnboxError(
      'ERR_INVALID_OPTION',
      `jobs.${name} must be a number of at least ${min} (got ${String(value)})`,
      {
        details: { option: `jobs.${name}` },
      },
    )
  }
  return value
}

/** The message kept as `lastError`: the code first when the error has one. */
function describeError(err: unknown): string {
  if (err instanceof Error) {
    const code = (err as { code?: unknown }).code
    return typeof code === 'string' && !err.message.startsWith(code) ? `${code}: ${err.message}` : err.message
  }
  return typeof err === 'string' ? err : (JSON.stringify(err) ?? String(err))
}
