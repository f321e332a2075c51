/**
 * The facade: options → filled options, deploy / fetch / call / close, events.
 *
 * @module
 */
import { createHash, randomUUID } from 'node:crypto'
import { join } from 'node:path'
import { EventEmitter } from 'eventemitter3'
import { FnboxError, invalidOption, isFnboxError } from './errors.js'
import type { RuntimeEvents } from './events.js'
import {
  checkScope,
  DEFAULT_SCOPE,
  FilesClientImpl,
  KvClientImpl,
  SecretsClientImpl,
  VectorClientImpl,
  type FilesClient,
  type KvClient,
  type SecretsClient,
  type VectorClient,
} from './host/domains/clients.js'
import { DataSession } from './host/domains/session.js'
import type { StorageAdapters } from './host/domains/types.js'
import { GuestHostSession } from './host/guest-session.js'
import { SecretRedactor } from './host/secrets/redact.js'
import { createGuardedFetch, parseAllowedHosts, preloadGuestFetch } from './host/net/index.js'
import { bundle, type BundleOptions } from './bundle/bundle.js'
import { StackMapper } from './bundle/source-map.js'
import {
  checkFunctionName,
  checkKeys,
  DEFAULT_LIMITS,
  MAX_CODE_BYTES,
  resolveHosts,
  resolveLimits,
  resolvePool,
  resolveRuntimePool,
  resolveThreads,
  type Limits,
  type PoolBudgetOptions,
  type PoolOptions,
} from './options.js'
import { systemClock, type Clock } from './pool/clock.js'
import { Executor, type FunctionSource, type InstanceRef, type InvocationBudgetSpec } from './pool/executor.js'
import { RecentWindow } from './observability/window.js'
import type { FunctionPool } from './pool/function-pool.js'
import { PoolManager, type PoolBudgetStats } from './pool/pool-manager.js'
import type { GuestRequestMeta, GuestResponseMeta } from './sandbox/bridge-types.js'
import { createExpressMiddleware, type ExpressMiddleware } from './triggers/http/express.js'
import { createKoaMiddleware, type KoaMiddleware, type KoaMountOptions } from './triggers/http/koa.js'
import { responseBytes, type HttpMountOptions } from './triggers/http/node-http.js'
import { StreamedBody } from './triggers/http/streamed-body.js'
import {
  Background,
  resolveBackgroundSpec,
  resolveJobsOption,
  specForHash,
  type CronOptions,
  type HooksClient,
  type JobHandlerOptions,
  type JobsClient,
  type JobsOptions,
} from './triggers/jobs/runtime-jobs.js'
import { announceSecretChange, listenSecretChanges } from './host/secrets/notify.js'
import {
  defaultFilesRoot,
  openBackend,
  resolveStorageOption,
  type Backend,
  type StorageOption,
} from './storage/backend.js'
import { admit, invocationOutcome, type GateTicket } from './reliability/admission.js'
import { resolveCallRetry, retrying, type CallRetryOptions, type ResolvedCallRetry } from './reliability/backoff.js'
import {
  BucketRotation,
  CircuitBreaker,
  resolveBreaker,
  type BreakerOptions,
  type BreakerState,
  type BreakerStats,
  type ResolvedBreakerOptions,
} from './reliability/breaker.js'
import { Deadline } from './reliability/deadline.js'
import { Egress, type UpstreamStats } from './reliability/egress.js'
import {
  FunctionQuota,
  resolveQuota,
  type QuotaOptions,
  type QuotaStats,
  type ResolvedQuota,
} from './reliability/quota.js'
import {
  LoadShedder,
  ProcessLoadProbe,
  resolvePriority,
  resolveShedding,
  type LoadStats,
  type Priority,
  type SheddingOptions,
} from './reliability/shedding.js'
import {
  resolveEgress,
  resolveUpstreamGrants,
  resolveUpstreams,
  type EgressOptions,
  type ResolvedUpstream,
  type UpstreamOptions,
} from './reliability/upstreams.js'

/**
 * Options of {@link createRuntime}. Every field is optional.
 *
 * @public
 */
export interface RuntimeOptions {
  /** Executor threads that run guests. Default: one per core (`os.availableParallelism()`). */
  threads?: number
  /** Default limits of every function; a deploy may override each field. */
  limits?: Partial<Limits>
  /**
   * Default pool of every function (a deploy may override each of those fields), and the budget
   * all functions share: `maxTotalInstances`, `memoryBudgetMb`, `blankEngines`,
   * `retainedVersions`, `scaleIntervalMs`.
   */
  pool?: Partial<PoolOptions & PoolBudgetOptions>
  /**
   * The time source of the pools (call wait timeouts, idle timeouts, the autoscaler's ticks).
   * Default: the system clock. Tests pass one they move by hand.
   */
  clock?: Clock
  /**
   * The egress allow-list of every function: when given (here or at deploy), a guest may `fetch`
   * only these destinations (and its granted upstreams), every redirect checked again; without
   * it, any public destination. Entries: a host, `host:port`, `*.domain`, an IP or `IP:port`,
   * `*` (any public host). A deploy's own list adds to this one. Private and loopback addresses
   * are reached only through an entry naming them as an IP (`'10.0.0.5'`, `'[::1]:9000'`) or a
   * local name (`'localhost:8080'`, `'db'`, `'db.internal'`); a public name that resolves to one
   * is refused by the SSRF guard, which checks every resolved address at connect time.
   */
  allowedHosts?: string[]
  /**
   * Where the data of `fnbox:host` (kv, vector, secrets) lives. Default `{ pglite: '.fnbox/pglite' }`:
   * embedded Postgres with pgvector, opened on first use; one process owns the folder.
   * `'memory'` for tests; `{ postgres: 'postgres://...' }` (or a `pg` pool) to share one database
   * between hosts, with `kv: { unlogged: true }` to keep kv as a cache that a server crash empties.
   */
  storage?: StorageOption
  /**
   * The root folder of `files` (each data scope gets a folder in it), or `'memory'`. Default
   * `.fnbox/files`, or memory when `storage` is in memory.
   */
  files?: string
  /** The key that encrypts secrets at rest: 32 bytes, as 64 hex chars or base64. Default `FNBOX_SECRET_KEY`. */
  secrets?: { key?: string | Uint8Array }
  /** Your own stores in place of fnbox's (each an interface; see the `KvStore` family). */
  adapters?: StorageAdapters
  /**
   * The circuit breaker of every function's invocations (each function version has its own);
   * a deploy may override fields or pass `false`. `false` turns breakers off. On by default
   * with {@link DEFAULT_BREAKER}.
   */
  breaker?: BreakerOptions | false
  /** Quotas and rate limits each function gets (its own counters, in this process); a deploy may override fields. */
  quota?: QuotaOptions
  /** When the host sheds calls by function `priority`; `false` turns it off. On by default with {@link DEFAULT_SHEDDING}. */
  shedding?: SheddingOptions | false
  /** Timeout, retries and a circuit breaker for guests' `fetch`, per upstream host. */
  egress?: EgressOptions
  /**
   * Upstreams declared by name: an origin with its own egress policy and, optionally,
   * credentials from secrets that the host injects for the functions granted the upstream
   * (`deploy(name, { upstreams: ['openai'] })`). The guest never sees them.
   */
  upstreams?: Record<string, UpstreamOptions>
  /** Retries of `runtime.call` for every function (opt-in: only for idempotent exports). Default off. */
  retry?: CallRetryOptions | false
  /**
   * The job worker: this host runs the jobs of the tasks its functions handle (`deploy({ jobs })`,
   * their cron slots and hooks), `concurrency` at once. `false`: this host only enqueues (and
   * fires cron slots); other hosts run the jobs.
   */
  jobs?: JobsOptions | false
}

/**
 * Options of {@link Runtime.deploy}.
 *
 * @public
 */
export interface DeployOptions {
  /**
   * The function: an ES module (`export default { fetch }`, `export function GET`, named exports).
   * Give either `code` or `entry`.
   */
  code?: string
  /**
   * A TypeScript or JavaScript entry file with npm dependencies, bundled into `code` (with its
   * source map) by {@link bundle} at deploy. `bundle` passes options on.
   */
  entry?: string
  /** Options of the bundler when `entry` is given (`cwd`, `minify`, ...). */
  bundle?: BundleOptions
  /**
   * The source map of `code` (JSON): guest stack traces in errors (`details.stack`) and
   * `invoke` events are mapped through it to the original files. Filled in for `entry`.
   */
  sourceMap?: string
  /** Overrides of the runtime's limits for this function. */
  limits?: Partial<Limits>
  /** Overrides of the runtime's pool options for this function. */
  pool?: Partial<PoolOptions>
  /**
   * Destinations this function may fetch, in addition to the runtime's `allowedHosts`. Giving
   * either list limits the function's egress to the two together (plus its granted upstreams);
   * `[]` with no runtime list allows no destination but its upstreams. See
   * {@link RuntimeOptions.allowedHosts} for the entries.
   */
  allowedHosts?: string[]
  /** File name shown in guest stack traces. Default `<name>.js`. */
  filename?: string
  /**
   * The data scope of the function's kv, vector and files: functions in one scope share data,
   * other scopes are invisible to them. Default `'default'` (the scope of `runtime.kv`).
   */
  scope?: string
  /**
   * Names of the secrets the function may read with `secrets.get`. Their values are redacted
   * from its errors and logs (verbatim and common encodings; see the README's Secrets section).
   */
  secrets?: string[]
  /** Overrides of the runtime's breaker for this function, or `false` for none. */
  breaker?: BreakerOptions | false
  /** Overrides of the runtime's quota for this function. */
  quota?: QuotaOptions
  /** Which functions are refused first when the host is overloaded. Default `'normal'`. */
  priority?: Priority
  /**
   * Declared upstreams (`createRuntime({ upstreams })`) whose credentials the host adds to this
   * function's requests; their origins may be fetched even when private.
   */
  upstreams?: string[]
  /** Retries of `runtime.call` of this function (its exports must be idempotent), or `false`. */
  retry?: CallRetryOptions | false
  /**
   * Tasks this function runs: `{ resize: 'resize' }` runs each job of task `resize` as
   * `resize(payload, ctx)` (`ctx.job`: id, task, attempt, maxAttempts, scheduledTime), under
   * `limits.jobTimeoutMs`. One function per task name.
   */
  jobs?: Record<string, string | JobHandlerOptions>
  /** Cron schedules: each slot runs `export({ scheduledTime })` once across every host of the database. */
  cron?: CronOptions[]
  /** Events this function subscribes to (`runtime.hooks`): `{ 'order.created': 'onOrder' }`. */
  hooks?: Record<string, string>
}

/** What {@link Runtime.deploy} returns. @public */
export interface Deployment {
  name: string
  /** Content hash of the code and its settings: the same input gives the same version. */
  version: string
}

/** Per-function figures of {@link Runtime.stats}. @public */
export interface FunctionStats {
  version: string
  /** Warm instances (idle and in use). */
  instances: number
  idle: number
  inUse: number
  /** Calls waiting for an instance. */
  queued: number
  /** Versions still finishing calls after a redeploy. */
  draining: number
  /** Instances created (each evaluated the function's code). */
  coldStarts: number
  /** Idle instances released to make room for other functions under the global budget. */
  evictions: number
  /** Instances the autoscaler aims at now (between `pool.min` and `pool.max`). */
  target: number
  /** Time calls waited for an instance, over the last 1,024 calls, in ms. */
  acquireWaitMs: { p50: number; p99: number }
  /** Calls of the current version that got an instance (a refused call never does). */
  acquired: number
  /** The circuit breaker of the current version; null when turned off. */
  breaker: BreakerStats | null
  /** Quota counters (per function name, kept across versions). */
  quota: QuotaStats
  priority: Priority
}

/** Per-thread figures of {@link Runtime.stats}. @public */
export interface ExecutorThreadStats {
  thread: number
  instances: number
  inflight: number
  restarts: number
  /** Blank engines ready on the thread. */
  blanks: number
  /** How busy the thread has been lately: its event-loop utilisation (0-1), what placement uses. */
  utilization: number
}

/** @public */
export interface RuntimeStats {
  functions: Record<string, FunctionStats>
  executors: ExecutorThreadStats[]
  /** Load signals and the shed level; null when shedding is off. */
  load: LoadStats | null
  /** Guests' fetch traffic per upstream: declared ones by name, other hosts by origin. */
  upstreams: Record<string, UpstreamStats>
  pool: PoolBudgetStats
}

/** Options of {@link Runtime.close}. @public */
export interface CloseOptions {
  /** Calls in flight get this long to finish, in ms, before the threads are stopped. Default 10000. */
  timeoutMs?: number
}

/** Options of {@link Runtime.fetch}. @public */
export interface FetchOptions {
  /** Aborting it cancels the invocation (the guest's `request.signal` aborts). */
  signal?: AbortSignal
}

interface FunctionVersion {
  name: string
  version: string
  key: string
  scope: string
  /** Names of the secrets granted at deploy. */
  grants: string[]
  /** What the executors load; `source.secrets` holds the granted secrets' current values. */
  source: FunctionSource
  limits: Limits
  pool: FunctionPool
  allowedHosts: ReturnType<typeof parseAllowedHosts>
  /** Waits for an instance over the last calls. */
  acquireWaits: RecentWindow
  /** The breaker's options; undefined when it is off. */
  breakerOptions: ResolvedBreakerOptions | undefined
  /** Undefined when the function's breaker is off, or its version no longer holds instances. */
  breaker: CircuitBreaker | undefined
  quotaOptions: ResolvedQuota
  /** The function's quota counters (shared by its versions; see Runtime.#quotas). */
  quota: FunctionQuota
  /** Calls that got an instance. */
  acquired: number
  priority: Priority
  /** Upstreams whose credentials are injected for it. */
  upstreamGrants: ReadonlySet<string>
  retry: ResolvedCallRetry | undefined
  /** The invocation time limit: `limits.timeoutMs`, or the breaker's `timeoutMs` when shorter. */
  timeoutMs: number
  /** Maps guest stacks through the deploy's source map, when it has one. */
  stacks: StackMapper | undefined
}

/** One invocation between acquiring its instance and releasing it. */
interface OpenCall {
  requestId: string
  ref: InstanceRef
  session: GuestHostSession
  started: number
  acquired: number
  gate: GateTicket
  deadline: Deadline
  /** Its limits for the executor, counted from the deadline's start; the deadline moves when it streams. */
  budget: InvocationBudgetSpec
  /** The caller went away (aborted, or cancelled a streamed body): not the function's failure. */
  clientGone: boolean
}

/** @internal Also the keys of a function in fnbox.json (src/dev/manifest.ts). */
export const DEPLOY_KEYS = [
  'code',
  'entry',
  'bundle',
  'sourceMap',
  'limits',
  'pool',
  'allowedHosts',
  'filename',
  'scope',
  'secrets',
  'breaker',
  'quota',
  'priority',
  'upstreams',
  'retry',
  'jobs',
  'cron',
  'hooks',
] as const
const RUNTIME_KEYS = [
  'threads',
  'limits',
  'pool',
  'clock',
  'allowedHosts',
  'storage',
  'files',
  'secrets',
  'adapters',
  'breaker',
  'quota',
  'shedding',
  'egress',
  'upstreams',
  'retry',
  'jobs',
] as const
const SECRET_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,127}$/
const NULL_BODY_STATUS = new Set([101, 103, 204, 205, 304])
let deploySeq = 0

/**
 * A runtime: executor threads, deployed functions and their warm pools. Create it with
 * {@link createRuntime}.
 *
 * @public
 */
export class Runtime extends EventEmitter<RuntimeEvents> {
  readonly #limits: Limits
  readonly #pool: PoolOptions
  /** The runtime's egress allow-list; undefined when not given (any public destination). */
  readonly #allowedHosts: string[] | undefined
  readonly #executors: Executor[] = []
  readonly #functions = new Map<string, FunctionVersion>()
  /** Replaced or undeployed versions still held: draining their calls, or retired and revivable. */
  readonly #draining = new Map<string, Set<FunctionVersion>>()
  readonly #pools: PoolManager
  readonly #net: ReturnType<typeof createGuardedFetch>
  readonly #restarts = new Map<number, number>()
  #closed: Promise<void> | undefined
  readonly #openBackend: () => Promise<Backend>
  #backend: Promise<Backend> | undefined
  readonly #breaker: ResolvedBreakerOptions | undefined
  readonly #quota: ResolvedQuota
  readonly #retry: ResolvedCallRetry | undefined
  readonly #upstreams: ReadonlyMap<string, ResolvedUpstream>
  /** Quota counters by function name: they outlive versions. */
  readonly #quotas = new Map<string, FunctionQuota>()
  readonly #rotation = new BucketRotation()
  readonly #egress: Egress
  readonly #shedder: LoadShedder | undefined
  readonly #loadProbe: ProcessLoadProbe | undefined

  /** The key-value store of the `'default'` data scope (`.scope(name)` for others). */
  readonly kv: KvClient
  /** Vector indexes of the `'default'` data scope, and their management. */
  readonly vector: VectorClient
  /** Files of the `'default'` data scope. */
  readonly files: FilesClient
  /** Secrets: set, delete and list names; functions read those granted to them. */
  readonly secrets: SecretsClient
  /** Durable jobs: enqueue, get, cancel, list. */
  readonly jobs: JobsClient
  /** App and database hooks: run, emit, watchTable. */
  readonly hooks: HooksClient
  readonly #background: Background

  /** @internal Use {@link createRuntime}. */
  constructor(options: RuntimeOptions = {}, workerUrl: URL) {
    super()
    const opts = checkKeys(options, 'options', RUNTIME_KEYS)
    const threads = resolveThreads(opts.threads)
    this.#limits = resolveLimits(opts.limits, 'options.limits', DEFAULT_LIMITS)
    const { defaults: pool, budget } = resolveRuntimePool(opts.pool, threads, this.#limits.memoryMb)
    this.#pool = pool
    const clock = resolveClock(opts.clock)
    if (opts.allowedHosts !== undefined) {
      this.#allowedHosts = resolveHosts(opts.allowedHosts, 'options.allowedHosts')
      parseAllowedHosts(this.#allowedHosts, 'options.allowedHosts')
    }
    this.#net = createGuardedFetch()
    this.#breaker = resolveBreaker(opts.breaker, 'options.breaker', resolveBreaker({}, 'options.breaker', undefined))
    this.#quota = resolveQuota(opts.quota, 'options.quota')
    this.#retry = resolveCallRetry(opts.retry, 'options.retry', undefined)
    const egress = resolveEgress(opts.egress, 'options.egress')
    this.#upstreams = resolveUpstreams(opts.upstreams, 'options.upstreams', egress)
    const shedding = resolveShedding(opts.shedding, 'options.shedding')
    this.#openBackend = resolveStorage(opts)
    const backend = (): Promise<Backend> => this.#storage()
    this.kv = new KvClientImpl(backend, DEFAULT_SCOPE)
    this.vector = new VectorClientImpl(backend, DEFAULT_SCOPE)
    this.files = new FilesClientImpl(backend, DEFAULT_SCOPE)
    this.secrets = new SecretsClientImpl(backend, async (name) => {
      await announceSecretChange(await this.#storage(), name)
      await this.#secretChanged(name)
    })
    this.#background = new Background(
      {
        storage: backend,
        run: (name, exportName, args, run) => this.#runBackground(name, exportName, args, run),
        onJobStart: (job, fn) =>
          this.emit('job:start', { id: job.id, task: job.task, attempt: job.attempt, function: fn }),
        onJobEnd: (job, fn, end) =>
          this.emit('job:end', {
            id: job.id,
            task: job.task,
            attempt: job.attempt,
            function: fn,
            outcome: end.kind,
            error: 'error' in end ? end.error : undefined,
          }),
        onError: (error, during) => this.emit('jobs:error', { error, during }),
      },
      resolveJobsOption(opts.jobs),
    )
    this.jobs = this.#background.jobs
    this.hooks = this.#background.hooks
    this.#egress = new Egress({
      net: this.#net,
      defaults: egress,
      upstreams: this.#upstreams,
      readSecret: async (name) => (await this.#storage()).secrets().get(name),
      rotation: this.#rotation,
      onBreaker: (upstream, state, stats) =>
        this.#breakerEvent(state, { target: 'upstream', name: upstream, version: undefined, stats }),
      onCredential: (event) => this.emit('upstream:credential', event),
    })
    if (shedding) {
      const probe = new ProcessLoadProbe(() => {
        let queued = 0
        for (const fn of this.#functions.values()) queued += fn.pool.stats().queued
        return queued
      })
      this.#loadProbe = probe
      this.#shedder = new LoadShedder(shedding, {
        sample: () => probe.sample(),
        onLevel: (event) => this.emit('load:level', event),
      })
    }
    this.#pools = new PoolManager({ ...budget, clock, blankMemoryMb: this.#limits.memoryMb }, () => this.#executors, {
      scaled: ({ pool, from, to, reason }) => {
        if (this.listenerCount('pool:scale') === 0) return
        const target = pool.stats().target
        this.emit('pool:scale', { function: pool.name, version: pool.version, from, to, reason, target })
      },
      released: (pool) => this.#released(pool),
    })
    for (let i = 0; i < threads; i++) {
      this.#executors.push(
        new Executor(i, workerUrl, this.#limits.memoryMb, this.#pools.blankTarget(i, threads), {
          restarted: (executor, reason) => {
            this.#restarts.set(executor.index, (this.#restarts.get(executor.index) ?? 0) + 1)
            this.emit('executor:restart', { thread: executor.index, reason })
          },
          snapshot: (_executor, source, snapshot) => {
            this.emit('snapshot', {
              function: source.name,
              version: source.version,
              bytes: snapshot.data.byteLength,
              evaluateMs: snapshot.evaluateMs,
              takeMs: snapshot.takeMs,
            })
          },
        }),
      )
    }
  }

  /** @internal */
  async start(): Promise<void> {
    await Promise.all(this.#executors.map((e) => e.ready))
  }

  /** The storage backend, opened on first use (PGlite takes seconds to start: only if needed). */
  #storage(): Promise<Backend> {
    if (this.#closed) return Promise.reject(new FnboxError('ERR_CLOSED', 'the runtime is closed'))
    this.#backend ??= this.#openBackend().then(
      (b) => {
        // Hosts sharing a server: a secret set on another reaches this one's functions.
        void listenSecretChanges(
          b,
          (name) => this.#secretChanged(name),
          () => this.#grantedNames(),
        ).catch(() => undefined)
        return b
      },
      (err: unknown) => {
        this.#backend = undefined // a later call may retry (the database may come up)
        throw err
      },
    )
    return this.#backend
  }

  #breakerEvent(state: BreakerState, event: Parameters<RuntimeEvents['breaker:open']>[0]): void {
    const name = state === 'open' ? 'breaker:open' : state === 'halfOpen' ? 'breaker:halfOpen' : 'breaker:close'
    this.emit(name, event)
  }

  /** Names of the secrets some loaded version is granted. */
  #grantedNames(): string[] {
    const versions = [...this.#functions.values(), ...[...this.#draining.values()].flatMap((set) => [...set])]
    return [...new Set(versions.flatMap((fn) => fn.grants))]
  }

  /** Sends a secret's new value to every loaded version granted it. */
  async #secretChanged(name: string): Promise<void> {
    this.#egress.secretChanged(name)
    const versions = [...this.#functions.values(), ...[...this.#draining.values()].flatMap((set) => [...set])]
    const affected = versions.filter((fn) => fn.grants.includes(name))
    if (affected.length === 0) return
    const value = await (await this.#storage()).secrets().get(name)
    for (const fn of affected) {
      const next = { ...fn.source.secrets }
      if (value === undefined) delete next[name]
      else next[name] = value
      fn.source.secrets = next
      // Added before the thread can read it; a replaced value stays redacted too.
      if (value !== undefined) fn.source.redactor.add([value])
      for (const e of this.#executors) e.updateSecrets(fn.key, next)
    }
  }

  #assertOpen(): void {
    if (this.#closed) throw new FnboxError('ERR_CLOSED', 'the runtime is closed')
  }

  /**
   * Deploys (or redeploys) a function. Resolves once its first instance is warm, so a function
   * that does not compile, or whose top-level code throws, fails here with `ERR_DEPLOY_FAILED`.
   * Redeploying swaps versions: calls in flight finish on the old one, which then drains.
   *
   * @example
   * ```ts
   * const { version } = await runtime.deploy('hello', {
   *   code: `export default { fetch: (req) => new Response('hi from ' + new URL(req.url).pathname) }`,
   *   limits: { timeoutMs: 5000 },
   * })
   * ```
   */
  async deploy(name: string, options: DeployOptions): Promise<Deployment> {
    this.#assertOpen()
    checkFunctionName(name)
    const opts = checkKeys(options, 'options', DEPLOY_KEYS)
    let code = opts.code
    let sourceMap = opts.sourceMap
    if (opts.entry !== undefined) {
      if (code !== undefined) throw invalidOption('options.code', 'absent when options.entry is given', code)
      if (typeof opts.entry !== 'string' || opts.entry.length === 0) {
        throw invalidOption('options.entry', 'a path to the function entry file', opts.entry)
      }
      if (opts.bundle !== undefined && (typeof opts.bundle !== 'object' || opts.bundle === null)) {
        throw invalidOption('options.bundle', 'an object of bundle options', opts.bundle)
      }
      const bundled = await bundle(opts.entry, opts.bundle as BundleOptions | undefined)
      code = bundled.code
      sourceMap ??= bundled.sourceMap
    }
    if (typeof code !== 'string' || code.length === 0) throw invalidOption('options.code', 'a non-empty string', code)
    if (sourceMap !== undefined && typeof sourceMap !== 'string') {
      throw invalidOption('options.sourceMap', 'a source map (JSON string)', sourceMap)
    }
    const codeBytes = Buffer.byteLength(code)
    if (codeBytes > MAX_CODE_BYTES) {
      throw new FnboxError('ERR_INVALID_OPTION', `options.code is ${codeBytes} bytes; the limit is ${MAX_CODE_BYTES}`, {
        details: { option: 'options.code', limit: MAX_CODE_BYTES, value: codeBytes },
      })
    }
    const limits = resolveLimits(opts.limits, 'options.limits', this.#limits)
    const pool = resolvePool(opts.pool, 'options.pool', this.#pool)
    const ownHosts = resolveHosts(opts.allowedHosts, 'options.allowedHosts')
    parseAllowedHosts(ownHosts, 'options.allowedHosts') // validates, naming the index in this list
    // Either list given limits egress to both together; with neither, any public destination.
    const restricted = this.#allowedHosts !== undefined || opts.allowedHosts !== undefined
    const hosts = restricted ? [...(this.#allowedHosts ?? []), ...ownHosts] : ['*']
    if (opts.filename !== undefined && typeof opts.filename !== 'string') {
      throw invalidOption('options.filename', 'a string', opts.filename)
    }
    const filename = (opts.filename as string | undefined) ?? `${name}.js`
    let stacks: StackMapper | undefined
    try {
      stacks = sourceMap ? new StackMapper(sourceMap, filename) : undefined
    } catch (err) {
      throw invalidOption('options.sourceMap', `a source map (${(err as Error).message})`, sourceMap?.slice(0, 40))
    }
    const scope = opts.scope === undefined ? DEFAULT_SCOPE : checkScope(opts.scope, 'options.scope')
    const grants = resolveGrants(opts.secrets)
    const breaker = resolveBreaker(opts.breaker, 'options.breaker', this.#breaker)
    const quota = resolveQuota(opts.quota, 'options.quota', this.#quota)
    const priority = resolvePriority(opts.priority, 'options.priority', 'normal')
    const upstreams = resolveUpstreamGrants(opts.upstreams, this.#upstreams)
    const retry = resolveCallRetry(opts.retry, 'options.retry', this.#retry)
    const background = resolveBackgroundSpec(opts)
    this.#background.check(name, background)
    // A granted upstream's origin is vouched for by the host: reachable, even when private.
    const vouched = upstreams.map((u) => this.#upstreams.get(u)!.hostPort)
    // A function given destinations will fetch: its first fetch should not wait for undici to load.
    if ((restricted && hosts.length > 0) || vouched.length > 0) preloadGuestFetch()
    // One that imports the data domains will use them: its first calls should not wait seconds
    // for the database to start (PGlite's first start; 200 calls right after it timed out).
    if (code.includes('fnbox:host')) void this.#storage().catch(() => undefined)
    const policies = {
      breaker: breaker ?? false,
      quota,
      priority,
      upstreams,
      retry: retry && { ...retry, on: [...retry.on] },
    }
    const version = createHash('sha256')
      .update(code)
      .update('\0')
      .update(
        JSON.stringify({
          limits,
          pool,
          hosts,
          vouched,
          filename,
          scope,
          grants,
          ...policies,
          background: specForHash(background),
        }),
      )
      .digest('hex')
      .slice(0, 16)
    const current = this.#functions.get(name)
    if (current?.version === version) return { name, version }
    // A version deployed before and still held (draining or retired with a warm instance).
    const held = [...(this.#draining.get(name) ?? [])].find((v) => v.version === version)
    if (held) this.#background.check(name, background)
    if (held && this.#pools.revive(held.pool)) {
      this.#unhold(held)
      this.#attachPolicies(held)
      this.#functions.set(name, held)
      if (current) void this.#retire(current)
      await this.#background.set(name, version, background)
      this.emit('deploy', { name, version, coldStartMs: 0 })
      return { name, version }
    }
    const allowedHosts = parseAllowedHosts(hosts, 'options.allowedHosts', vouched)

    // Unique per deployment, not per version: a version deployed again (concurrently, or while
    // its previous deployment drains) must not share thread-side state with the one retiring.
    const key = `${name}@${version}#${++deploySeq}`
    const secrets: Record<string, string> = {}
    if (grants.length > 0) {
      const store = (await this.#storage()).secrets()
      for (const grant of grants) {
        const value = await store.get(grant)
        if (value !== undefined) secrets[grant] = value
      }
    }
    const source: FunctionSource = {
      key,
      name,
      version,
      code,
      filename,
      limits: {
        memoryMb: limits.memoryMb,
        maxStackKb: limits.maxStackKb,
        maxResponseBytes: limits.maxResponseBytes,
        maxLogBytes: limits.maxLogBytes,
        instancesPerModule: pool.instancesPerModule,
      },
      secrets,
      redactor: new SecretRedactor(Object.values(secrets)),
    }
    const fn: FunctionVersion = {
      name,
      version,
      key,
      scope,
      grants,
      source,
      limits,
      allowedHosts,
      acquireWaits: new RecentWindow(),
      stacks,
      pool: this.#pools.create(source, pool, { name, version }, (ms, restored) =>
        this.emit('instance:create', { function: name, version, ms, restored }),
      ),
      breakerOptions: breaker,
      breaker: undefined,
      quotaOptions: quota,
      quota: undefined as unknown as FunctionQuota,
      acquired: 0,
      priority,
      upstreamGrants: new Set(upstreams),
      retry,
      timeoutMs: Math.min(limits.timeoutMs, breaker?.timeoutMs ?? Infinity),
    }
    let coldStartMs: number
    try {
      coldStartMs = await fn.pool.warmUp()
    } catch (err) {
      fn.pool.dispose()
      throw mapStack(stacks, deployError(name, err))
    }
    if (this.#closed) {
      fn.pool.dispose()
      this.#assertOpen()
    }
    try {
      // Again, synchronously with the switch: a concurrent deploy may have claimed a task.
      this.#background.check(name, background)
    } catch (err) {
      fn.pool.dispose()
      throw err
    }
    this.#attachPolicies(fn)
    const previous = this.#functions.get(name)
    this.#functions.set(name, fn)
    this.#pools.activate(fn.pool)
    if (previous) void this.#retire(previous)
    await this.#background.set(name, version, background)
    this.emit('deploy', { name, version, coldStartMs })
    return { name, version }
  }

  /** Removes a function; calls in flight finish first. Resolves false when it was not deployed. */
  async undeploy(name: string): Promise<boolean> {
    const fn = this.#functions.get(name)
    if (!fn) return false
    this.#functions.delete(name)
    this.#quotas.delete(name)
    await this.#background.remove(name).catch(() => undefined)
    this.emit('undeploy', { name, version: fn.version })
    await this.#retire(fn)
    return true
  }

  /** The version stops taking new calls; resolves once its queued and running calls are done. */
  #retire(fn: FunctionVersion): Promise<void> {
    let set = this.#draining.get(fn.name)
    if (!set) this.#draining.set(fn.name, (set = new Set()))
    set.add(fn)
    return this.#pools.retire(fn.pool)
  }

  /**
   * A version taking calls (new, or revived from the retained ones) gets its breaker, if it has
   * one, and the quota counters of its name (shared by its versions, kept across redeploys).
   */
  #attachPolicies(fn: FunctionVersion): void {
    if (fn.breakerOptions && !fn.breaker) {
      const { name, version } = fn
      fn.breaker = new CircuitBreaker(`function ${name}`, fn.breakerOptions, {
        rotation: this.#rotation,
        onState: (state, stats) => this.#breakerEvent(state, { target: 'function', name, version, stats }),
      })
    }
    let counters = this.#quotas.get(fn.name)
    if (counters) counters.configure(fn.quotaOptions)
    else this.#quotas.set(fn.name, (counters = new FunctionQuota(fn.name, fn.quotaOptions)))
    fn.quota = counters
  }

  #unhold(fn: FunctionVersion): void {
    const set = this.#draining.get(fn.name)
    set?.delete(fn)
    if (set?.size === 0) this.#draining.delete(fn.name)
  }

  /** A retired version's pool let go of everything: forget it, and stop its breaker's timers. */
  #released(pool: FunctionPool): void {
    for (const set of this.#draining.values()) {
      for (const fn of set) {
        if (fn.pool !== pool) continue
        this.#unhold(fn)
        fn.breaker?.shutdown()
        fn.breaker = undefined
      }
    }
  }

  #function(name: string): FunctionVersion {
    this.#assertOpen()
    const fn = this.#functions.get(name)
    if (!fn) {
      // A name comes from a client's path here: never echo more of it than a name can hold.
      const shown = name.length > 64 ? `${name.slice(0, 64)}…` : name
      throw new FnboxError('ERR_NOT_FOUND', `no function named ${JSON.stringify(shown)} is deployed`, {
        details: { function: shown },
      })
    }
    return fn
  }

  /**
   * Calls a named export of a function with JSON-serialisable arguments; resolves with its JSON
   * result. Rejects with a {@link FnboxError} (`ERR_NOT_FOUND`, `ERR_TIMEOUT`,
   * `ERR_GUEST_EXCEPTION`, ...). With a `retry` policy (deploy or runtime option), the failures
   * it lists are retried with backoff; the last one is thrown.
   *
   * @example
   * ```ts
   * await runtime.deploy('math', { code: `export const add = (a, b) => a + b` })
   * const sum = await runtime.call<number>('math', 'add', 2, 3) // 5
   * ```
   */
  async call<T = unknown>(name: string, exportName: string, ...args: unknown[]): Promise<T> {
    const fn = this.#function(name)
    if (typeof exportName !== 'string' || exportName.length === 0) {
      throw invalidOption('exportName', 'a non-empty string', exportName)
    }
    let argsJson: string
    try {
      argsJson = JSON.stringify(args)
    } catch (err) {
      throw new FnboxError('ERR_INVALID_OPTION', 'call arguments must be JSON-serialisable', { cause: err })
    }
    if (argsJson.length > fn.limits.maxRequestBytes) {
      throw new FnboxError(
        'ERR_REQUEST_TOO_LARGE',
        `call arguments of ${argsJson.length} bytes exceed limits.maxRequestBytes (${fn.limits.maxRequestBytes})`,
        { details: { limit: fn.limits.maxRequestBytes, value: argsJson.length } },
      )
    }
    if (!fn.retry) return this.#callOnce(fn, exportName, argsJson)
    const policy = fn.retry
    return retrying(
      // A redeploy between attempts: the next one runs the current version.
      (attempt) => this.#callOnce(attempt === 1 ? fn : this.#function(name), exportName, argsJson),
      policy,
      {
        retryable: (err) => isFnboxError(err) && policy.on.has(err.code),
        retryAfterMs: (err) =>
          isFnboxError(err) && err.retryAfterSeconds !== undefined ? err.retryAfterSeconds * 1000 : undefined,
      },
    )
  }

  /** A job's run, a cron slot or a hook: `exportName(...args)` under the job time limit. */
  #runBackground(
    name: string,
    exportName: string,
    args: unknown[],
    run: { signal?: AbortSignal; timeoutMs?: number; job: boolean },
  ): Promise<unknown> {
    const fn = this.#function(name)
    const timeoutMs = run.job ? (run.timeoutMs ?? fn.limits.jobTimeoutMs) : undefined
    return this.#callOnce(fn, exportName, JSON.stringify(args), { timeoutMs, signal: run.signal })
  }

  async #callOnce<T>(
    fn: FunctionVersion,
    exportName: string,
    argsJson: string,
    run: { timeoutMs?: number | undefined; signal?: AbortSignal | undefined } = {},
  ): Promise<T> {
    const call = await this.#begin(fn, run.timeoutMs)
    const { requestId, ref, session } = call
    let error: FnboxError | undefined
    const cancel = (): void => ref.executor.cancel(inv, 'client')
    let inv = -1
    try {
      const invocation = ref.executor.invoke(ref, { kind: 'call', exportName, argsJson }, call.budget, {
        onLog: (level, message) => this.#log(fn, requestId, level, message),
        onHost: (req) => session.handle(req),
      })
      inv = invocation.inv
      if (run.signal?.aborted) cancel()
      else run.signal?.addEventListener('abort', cancel, { once: true })
      const { result } = await invocation.done
      return (result === undefined ? undefined : JSON.parse(result)) as T
    } catch (err) {
      error = mapStack(fn.stacks, asFnboxError(err))
      // Whether its writes happened: a caller told "failed" must not assume nothing changed.
      error = session.withWrites(error)
      throw error
    } finally {
      run.signal?.removeEventListener('abort', cancel)
      this.#end(fn, call, 'call', exportName, undefined, error)
    }
  }

  /**
   * Serves a Web `Request`: the first path segment names the function (`/hello/...` → `hello`).
   * Always resolves to a `Response`; failures map to their HTTP status (404 unknown function,
   * 413 body too large, 503 + `Retry-After` queue full, 504 timeout, 500 guest exception).
   *
   * @example
   * ```ts
   * const res = await runtime.fetch(new Request('http://localhost/hello?name=Ada'))
   * console.log(res.status, await res.text())
   * ```
   */
  async fetch(request: Request, options: FetchOptions = {}): Promise<Response> {
    const path = new URL(request.url).pathname
    return this.#serve(request, path, options.signal, false)
  }

  /** `forMount`: the caller is one of our HTTP mounts, which can take a body as bytes. */
  async #serve(request: Request, path: string, signal: AbortSignal | undefined, forMount: boolean): Promise<Response> {
    try {
      const name = functionNameOf(path)
      if (!name) throw new FnboxError('ERR_NOT_FOUND', 'no function named in the path (expected /<function>/...)')
      return await this.#invokeFetch(this.#function(name), request, signal, forMount)
    } catch (err) {
      return asFnboxError(err).toResponse()
    }
  }

  async #invokeFetch(
    fn: FunctionVersion,
    request: Request,
    signal: AbortSignal | undefined,
    forMount: boolean,
  ): Promise<Response> {
    const requestBody = await readBody(request, fn.limits.maxRequestBytes)
    const call = await this.#begin(fn)
    const { requestId, ref, session } = call
    const meta = JSON.stringify({
      method: request.method,
      url: request.url,
      headers: [...request.headers],
      requestId,
      functionName: fn.name,
      version: fn.version,
    } satisfies GuestRequestMeta)
    let status: number | undefined
    let body: StreamedBody | undefined
    return new Promise<Response>((resolve, reject) => {
      const executor = ref.executor
      const cancel = (): void => {
        call.clientGone = true
        executor.cancel(inv, 'client')
      }
      const { inv, done } = executor.invoke(ref, { kind: 'fetch', meta, body: requestBody }, call.budget, {
        onRespond: (head, bytes) => {
          status = head.status
          if (!head.stream) {
            if (forMount && bytes) {
              // Our mounts write these bytes directly: no web stream for a plain body.
              const response = makeResponse(head, null)
              responseBytes.set(response, new Uint8Array(bytes))
              resolve(response)
            } else {
              resolve(makeResponse(head, bytes ?? null))
            }
            return
          }
          body = new StreamedBody({ credit: () => executor.credit(inv), cancel })
          resolve(makeResponse(head, body.stream))
        },
        // Chunks still in flight when the client cancelled are dropped (see StreamedBody).
        onChunk: (data) => body?.push(data),
        // The body is complete: the client's response ends now, though waitUntil work may go on.
        onEnd: () => body?.close(),
        onLog: (level, message) => this.#log(fn, requestId, level, message),
        onHost: (req) => session.handle(req),
      })
      // An already aborted signal never fires 'abort': the caller is gone before we started.
      if (signal?.aborted) cancel()
      else signal?.addEventListener('abort', cancel, { once: true })
      let error: FnboxError | undefined
      done
        .then(
          () => {
            if (body) body.close()
            else if (status === undefined) {
              reject(new FnboxError('ERR_INTERNAL', 'the function finished without a response'))
            }
          },
          (err: unknown) => {
            error = session.withWrites(mapStack(fn.stacks, asFnboxError(err)))
            // A body already complete stays complete: the failure came after (waitUntil work).
            if (body) body.error(error)
            else reject(error)
          },
        )
        .catch(() => undefined)
        .finally(() => {
          signal?.removeEventListener('abort', cancel)
          this.#end(fn, call, 'fetch', request.method, error && status === undefined ? error.status : status, error)
        })
    })
  }

  /**
   * Passes the reliability gate (shedding, quota, breaker: no sandbox is touched when it
   * refuses), takes a warm instance and opens the host side of the guest's outgoing traffic.
   */
  async #begin(fn: FunctionVersion, timeoutMs: number = fn.timeoutMs): Promise<OpenCall> {
    const gate = admit({
      name: fn.name,
      priority: fn.priority,
      quota: fn.quota,
      breaker: fn.breaker,
      shedder: this.#shedder,
    })
    const started = performance.now()
    let ref: InstanceRef
    try {
      ref = await fn.pool.acquire()
    } catch (err) {
      gate.abandon()
      throw err
    }
    const acquired = performance.now()
    fn.acquired++
    fn.acquireWaits.record(acquired - started)
    const deadline = new Deadline(timeoutMs)
    const { streamIdleMs, streamTotalMs } = fn.limits
    // A job's longer limit is its CPU limit too, unless cpuMs was set below timeoutMs.
    const cpuMs = timeoutMs !== fn.timeoutMs && fn.limits.cpuMs >= fn.limits.timeoutMs ? timeoutMs : fn.limits.cpuMs
    const limits = { startedAt: deadline.startedAt, timeoutMs, cpuMs, streamIdleMs, streamTotalMs }
    return {
      requestId: randomUUID(),
      ref,
      session: new GuestHostSession(
        this.#egress,
        {
          allowedHosts: fn.allowedHosts,
          timeoutMs,
          maxResponseBytes: fn.limits.maxResponseBytes,
          deadline,
          grants: fn.upstreamGrants,
        },
        () =>
          new DataSession(
            () => this.#storage(),
            fn.scope,
            (t, p, o) => this.#background.request(t, p, o),
          ),
      ),
      started,
      acquired,
      gate,
      deadline,
      budget: { limits, deadline },
      clientGone: false,
    }
  }

  /** Closes the guest's traffic, gives the instance back, reports the invocation. */
  #end(
    fn: FunctionVersion,
    call: OpenCall,
    kind: 'call' | 'fetch',
    target: string,
    status: number | undefined,
    error: FnboxError | undefined,
  ): void {
    call.session.close()
    call.deadline.dispose()
    fn.pool.release(call.ref)
    const held = performance.now() - call.acquired
    fn.pool.serviceTime.observe(held)
    call.gate.finish(invocationOutcome(error, status, call.clientGone), held)
    if (this.listenerCount('invoke') === 0) return
    this.emit('invoke', {
      function: fn.name,
      version: fn.version,
      requestId: call.requestId,
      kind,
      target,
      status,
      error: error?.code,
      // Guest text arrives redacted of the function's secrets (see GUEST_TEXT in pool/executor.ts).
      errorMessage: error?.message,
      errorStack: typeof error?.details.stack === 'string' ? error.details.stack : undefined,
      waitMs: call.acquired - call.started,
      durationMs: performance.now() - call.acquired,
    })
  }

  #log(fn: FunctionVersion, requestId: string, level: GuestLogLevel, message: string): void {
    this.emit('log', { level, message, function: fn.name, version: fn.version, requestId, time: Date.now() })
  }

  /**
   * Express middleware serving every function under the mount path: `app.use('/fn', runtime.express())`
   * serves `/fn/<function>/...`. The mount owns its path: an unknown function gets 404, not `next()`.
   *
   * @example
   * ```ts
   * const app = express()
   * app.use('/fn', runtime.express({ maxRequestBytes: 256 * 1024 }))
   * ```
   */
  express(options?: HttpMountOptions): ExpressMiddleware {
    return createExpressMiddleware((request, ctx) => this.#serve(request, ctx.path, ctx.signal, true), options)
  }

  /**
   * Koa middleware: `app.use(runtime.koa({ prefix: '/fn' }))` serves `/fn/<function>/...` and
   * passes other paths to the next middleware.
   *
   * @example
   * ```ts
   * const app = new Koa()
   * app.use(runtime.koa({ prefix: '/fn' }))
   * ```
   */
  koa(options?: KoaMountOptions): KoaMiddleware {
    return createKoaMiddleware((request, ctx) => this.#serve(request, ctx.path, ctx.signal, true), options)
  }

  /**
   * Figures per function (version, instances, idle, in use, queued, cold starts, evictions,
   * the autoscaler's target, acquire wait), per thread, and of the global budget.
   *
   * @example
   * ```ts
   * const { functions, pool } = runtime.stats()
   * console.log(functions.hello?.idle, `${pool.instances}/${pool.maxTotalInstances}`)
   * ```
   */
  stats(): RuntimeStats {
    const functions: Record<string, FunctionStats> = {}
    for (const fn of this.#functions.values()) {
      let draining = 0
      for (const held of this.#draining.get(fn.name) ?? []) if (held.pool.state === 'draining') draining++
      functions[fn.name] = {
        version: fn.version,
        ...fn.pool.stats(),
        draining,
        acquireWaitMs: { p50: fn.acquireWaits.percentile(50), p99: fn.acquireWaits.percentile(99) },
        acquired: fn.acquired,
        breaker: fn.breaker?.stats() ?? null,
        quota: fn.quota.stats(),
        priority: fn.priority,
      }
    }
    return {
      functions,
      executors: this.#executors.map((e) => ({
        thread: e.index,
        instances: e.size,
        inflight: e.inflight,
        restarts: this.#restarts.get(e.index) ?? 0,
        blanks: e.blanks,
        utilization: e.utilization,
      })),
      load: this.#shedder?.stats() ?? null,
      upstreams: this.#egress.stats(),
      pool: this.#pools.stats(),
    }
  }

  /**
   * Stops taking calls, lets queued calls and calls in flight finish (up to `timeoutMs`), then
   * stops the threads: what is still waiting or running then fails with `ERR_CLOSED`. Calls
   * after `close()` fail with `ERR_CLOSED`. Idempotent.
   */
  close(options: CloseOptions = {}): Promise<void> {
    this.#closed ??= (async () => {
      const timeoutMs = options.timeoutMs ?? 10_000
      // Running jobs finish (or go back to the queue) while the pools still serve them.
      await this.#background.close(timeoutMs).catch(() => undefined)
      const versions = [...this.#functions.values(), ...[...this.#draining.values()].flatMap((set) => [...set])]
      this.#functions.clear()
      await this.#pools.close(timeoutMs)
      await Promise.all(this.#executors.map((e) => e.close()))
      this.#shedder?.stop()
      this.#loadProbe?.close()
      for (const fn of versions) fn.breaker?.shutdown()
      this.#egress.close()
      this.#rotation.close()
      await this.#net.close()
      const backend = this.#backend
      this.#backend = undefined
      if (backend) await (await backend.catch(() => undefined))?.close()
    })()
    return this.#closed
  }

  /** `await using runtime = await createRuntime()` closes it at the end of the scope. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.close()
  }
}

type GuestLogLevel = 'debug' | 'info' | 'log' | 'warn' | 'error'

function deployError(name: string, err: unknown): FnboxError {
  if (isFnboxError(err) && err.code !== 'ERR_DEPLOY_FAILED' && err.code !== 'ERR_GUEST_EXCEPTION') return err
  const message = err instanceof Error ? err.message : String(err)
  return new FnboxError('ERR_DEPLOY_FAILED', `function ${name} failed to load: ${message}`, {
    cause: err,
    details: isFnboxError(err) ? { ...err.details, function: name } : { function: name },
  })
}

/** The error with its guest stack (`details.stack`) mapped through the function's source map. */
function mapStack(stacks: StackMapper | undefined, error: FnboxError): FnboxError {
  const stack = error.details.stack
  if (!stacks || typeof stack !== 'string') return error
  const mapped = stacks.map(stack)
  if (mapped === stack) return error
  return new FnboxError(error.code, error.message, {
    cause: error.cause,
    status: error.status,
    retryAfterSeconds: error.retryAfterSeconds,
    details: { ...error.details, stack: mapped },
  })
}

/** The first segment of a request path, percent-decoded; `ERR_BAD_REQUEST` when it cannot be. */
function functionNameOf(path: string): string {
  const segment = path.split('/')[1] ?? ''
  try {
    return decodeURIComponent(segment)
  } catch {
    throw new FnboxError('ERR_BAD_REQUEST', 'The function name in the path is not valid percent-encoded UTF-8', {
      details: { segment: segment.slice(0, 64) },
    })
  }
}

function asFnboxError(err: unknown): FnboxError {
  if (isFnboxError(err)) return err
  return new FnboxError('ERR_INTERNAL', 'internal error', { cause: err })
}

function makeResponse(head: GuestResponseMeta, body: BodyInit | null): Response {
  const nullBody = NULL_BODY_STATUS.has(head.status)
  try {
    return new Response(nullBody ? null : body, {
      status: head.status,
      statusText: head.statusText,
      headers: head.headers,
    })
  } catch {
    return new FnboxError('ERR_GUEST_EXCEPTION', `the function answered an invalid status ${head.status}`).toResponse()
  }
}

/**
 * Reads a request body with a hard cap; 413 as soon as the cap is crossed. A body that cannot be
 * read (already used, or its stream failed: a client gone mid-upload) is `ERR_BAD_REQUEST`.
 */
async function readBody(request: Request, limit: number): Promise<ArrayBuffer | undefined> {
  if (request.method === 'GET' || request.method === 'HEAD' || !request.body) return undefined
  try {
    return await readCapped(request, request.body, limit)
  } catch (err) {
    if (isFnboxError(err)) throw err
    throw new FnboxError('ERR_BAD_REQUEST', 'The request body could not be read', { cause: err })
  }
}

async function readCapped(
  request: Request,
  body: ReadableStream<Uint8Array>,
  limit: number,
): Promise<ArrayBuffer | undefined> {
  const tooLarge = (value: number): FnboxError =>
    new FnboxError(
      'ERR_REQUEST_TOO_LARGE',
      `request body of ${value} bytes exceeds limits.maxRequestBytes (${limit})`,
      {
        details: { limit, value },
      },
    )
  const declared = Number(request.headers.get('content-length'))
  if (Number.isFinite(declared) && declared > limit) throw tooLarge(declared)
  const chunks: Uint8Array[] = []
  let size = 0
  const reader = body.getReader()
  for (;;) {
    const { done, value } = await reader.read()
    if (done) break
    size += value.byteLength
    if (size > limit) {
      await reader.cancel().catch(() => undefined)
      throw tooLarge(size)
    }
    chunks.push(value)
  }
  const out = new Uint8Array(size)
  let offset = 0
  for (const c of chunks) {
    out.set(c, offset)
    offset += c.byteLength
  }
  return out.buffer
}

/**
 * Creates a runtime and starts its executor threads.
 *
 * @example
 * ```ts
 * import { createRuntime } from 'fnbox'
 *
 * const runtime = await createRuntime({ limits: { memoryMb: 64, timeoutMs: 5000 } })
 * await runtime.deploy('hello', { code: `export default { fetch: () => new Response('hi') }` })
 * const res = await runtime.fetch(new Request('http://localhost/hello'))
 * console.log(await res.text()) // "hi"
 * await runtime.close()
 * ```
 * @public
 */
export async function createRuntime(options: RuntimeOptions = {}): Promise<Runtime> {
  const runtime = new Runtime(options, workerUrl())
  try {
    await runtime.start()
  } catch (err) {
    await runtime.close().catch(() => undefined)
    throw err
  }
  return runtime
}

/** The executor entry sits next to this bundle in `dist/` (ESM build used by both formats). */
function workerUrl(): URL {
  return new URL('./worker.js', import.meta.url)
}

function resolveStorage(opts: RuntimeOptions): () => Promise<Backend> {
  const storage = resolveStorageOption(opts.storage ?? { pglite: join('.fnbox', 'pglite') })
  if (opts.files !== undefined && (typeof opts.files !== 'string' || opts.files.length === 0)) {
    throw invalidOption('options.files', "a folder or 'memory'", opts.files)
  }
  const secretsOpts = opts.secrets ?? {}
  if (typeof secretsOpts !== 'object' || secretsOpts === null)
    throw invalidOption('options.secrets', 'an object', secretsOpts)
  const adapters = opts.adapters ?? {}
  if (typeof adapters !== 'object' || adapters === null) throw invalidOption('options.adapters', 'an object', adapters)
  for (const k of Object.keys(adapters)) {
    if (!['kv', 'vector', 'files', 'secrets', 'jobs'].includes(k)) {
      throw invalidOption(`options.adapters.${k}`, 'one of kv, vector, files, secrets, jobs', k)
    }
  }
  return () =>
    openBackend({
      storage,
      files: opts.files ?? defaultFilesRoot(storage),
      secretsKey: secretsOpts.key,
      adapters,
    })
}

function resolveGrants(value: unknown): string[] {
  if (value === undefined) return []
  if (!Array.isArray(value)) throw invalidOption('options.secrets', 'an array of secret names', value)
  for (const [i, name] of value.entries()) {
    if (typeof name !== 'string' || !SECRET_NAME.test(name)) {
      throw invalidOption(
        `options.secrets[${i}]`,
        'a secret name (letters, digits and _, not starting with a digit)',
        name,
      )
    }
  }
  return [...new Set(value as string[])].sort()
}

function resolveClock(value: unknown): Clock {
  if (value === undefined) return systemClock
  const clock = value as Partial<Clock> | null
  if (
    typeof clock !== 'object' ||
    clock === null ||
    typeof clock.now !== 'function' ||
    typeof clock.setTimeout !== 'function' ||
    typeof clock.clearTimeout !== 'function'
  ) {
    throw invalidOption('options.clock', 'an object with now(), setTimeout() and clearTimeout()', value)
  }
  return clock as Clock
}
