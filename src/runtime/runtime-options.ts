/**
 * The options of `createRuntime`: their public type, and their resolution into the filled values
 * the runtime's parts start from (each checked with a message naming the option, in one place).
 *
 * @module
 */
import { resolveJobsOption, type JobsOptions } from '../triggers/jobs/background-options.js'
import type { LoggerLike } from '../observability/logs.js'
import type { MetricsOptions } from '../observability/metrics.js'
import type { TracingOptions } from '../observability/tracing.js'
import { join } from 'node:path'
import { invalidOption } from '../errors.js'
import type { StorageAdapters } from '../host/domains/types.js'
import { ADAPTER_KEYS } from '../host/registry.js'
import { parseAllowedHosts } from '../host/net/index.js'
import { SECRET_KEY_ENV, SecretVault } from '../host/secrets/vault.js'
import {
  checkKeys,
  DEFAULT_LIMITS,
  resolveHosts,
  resolveLimits,
  resolveRuntimePool,
  resolveThreads,
  type Limits,
  type PoolBudgetOptions,
  type PoolOptions,
} from '../options.js'
import { systemClock, type Clock } from '../clock.js'
import {
  defaultFilesRoot,
  openBackend,
  resolveStorageOption,
  type Backend,
  type StorageOption,
} from '../storage/backend.js'
import { resolveCallRetry, type CallRetryOptions, type ResolvedCallRetry } from '../reliability/backoff.js'
import { resolveBreaker, type BreakerOptions, type ResolvedBreakerOptions } from '../reliability/breaker.js'
import { resolveQuota, type QuotaOptions, type ResolvedQuota } from '../reliability/quota.js'
import { resolveShedding, type SheddingOptions } from '../reliability/shedding.js'
import {
  resolveEgress,
  resolveUpstreams,
  type EgressOptions,
  type ResolvedUpstream,
  type UpstreamOptions,
} from '../reliability/upstreams.js'

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
   * The host's time source: pools (call waits, idle timeouts, the autoscaler), breakers,
   * quotas and rate limits, retries' backoff, the memory KV's expiries and the sweeper, log
   * times. Default: the system clock. Tests pass a {@link ManualClock} and move time by hand.
   * The guest's own limits are enforced on the executor threads by the real clock (see
   * {@link Clock}).
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
   * Where `files` live: `'database'` (the storage's database: every host sharing a server
   * Postgres sees the same files; memory when `storage` is), a root folder (each data scope gets
   * a folder in it; `'./database'` for a folder of that name), or `'memory'`. Default:
   * `'database'` with server Postgres storage, `.fnbox/files` with PGlite, memory with memory
   * storage (or a `memory://` PGlite).
   *
   * @example
   * ```ts
   * await createRuntime({ storage: { postgres: process.env.DATABASE_URL! } }) // files in the database
   * await createRuntime({ storage: { postgres: process.env.DATABASE_URL! }, files: '/mnt/shared/files' }) // a folder
   * ```
   */
  files?: 'database' | 'memory' | (string & {})
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
  /**
   * Prometheus metrics (prom-client): on by default in a registry of the runtime's own; pass
   * `{ registry }` to add them to your app's, `false` to turn them off. See {@link Runtime.metrics}.
   */
  metrics?: MetricsOptions | boolean
  /**
   * OpenTelemetry spans through `@opentelemetry/api`: recorded while an SDK is registered (the
   * global provider, or `{ tracerProvider }`); `false` turns them off.
   */
  tracing?: TracingOptions | false
  /**
   * A pino-compatible logger (`info(obj, msg)`, ...) for guest console lines and failed
   * invocations, with function, version, request and trace ids. Default: with no `log` (or
   * `invoke`) listener, guest warnings and errors and failed invocations print to stderr, one
   * line each. `false`: nothing is printed.
   */
  logger?: LoggerLike | false
}

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
  'metrics',
  'tracing',
  'logger',
] as const

/** The runtime's options, checked and filled: what its parts start from. @internal */
export interface ResolvedRuntimeOptions {
  threads: number
  limits: Limits
  /** The default pool of every function. */
  pool: PoolOptions
  /** What all functions share. */
  budget: PoolBudgetOptions
  clock: Clock
  /** The runtime's egress allow-list; undefined when not given (any public destination). */
  allowedHosts: string[] | undefined
  breaker: ResolvedBreakerOptions | undefined
  quota: ResolvedQuota
  retry: ResolvedCallRetry | undefined
  egress: ReturnType<typeof resolveEgress>
  upstreams: ReadonlyMap<string, ResolvedUpstream>
  shedding: ReturnType<typeof resolveShedding>
  /** Opens the storage backend (the runtime does so on first use). */
  openBackend: () => Promise<Backend>
  /** The job worker's options; false: none. */
  jobs: JobsOptions | false
}

/**
 * Checks every option (unknown keys included) and fills defaults; throws `ERR_INVALID_OPTION`
 * naming the first bad one.
 *
 * @internal
 */
export function resolveRuntimeOptions(options: RuntimeOptions = {}): ResolvedRuntimeOptions {
  const opts = checkKeys(options, 'options', RUNTIME_KEYS)
  const threads = resolveThreads(opts.threads)
  const limits = resolveLimits(opts.limits, 'options.limits', DEFAULT_LIMITS)
  const { defaults: pool, budget } = resolveRuntimePool(opts.pool, threads, limits.memoryMb)
  const clock = resolveClock(opts.clock)
  let allowedHosts: string[] | undefined
  if (opts.allowedHosts !== undefined) {
    allowedHosts = resolveHosts(opts.allowedHosts, 'options.allowedHosts')
    parseAllowedHosts(allowedHosts, 'options.allowedHosts')
  }
  const breaker = resolveBreaker(opts.breaker, 'options.breaker', resolveBreaker({}, 'options.breaker', undefined))
  const quota = resolveQuota(opts.quota, 'options.quota')
  const retry = resolveCallRetry(opts.retry, 'options.retry', undefined)
  const egress = resolveEgress(opts.egress, 'options.egress')
  const upstreams = resolveUpstreams(opts.upstreams, 'options.upstreams', egress)
  const shedding = resolveShedding(opts.shedding, 'options.shedding')
  const open = resolveStorage(opts, clock)
  return {
    threads,
    limits,
    pool,
    budget,
    clock,
    allowedHosts,
    breaker,
    quota,
    retry,
    egress,
    upstreams,
    shedding,
    openBackend: open,
    jobs: resolveJobsOption(opts.jobs),
  }
}

function resolveStorage(opts: RuntimeOptions, clock: Clock): () => Promise<Backend> {
  const storage = resolveStorageOption(opts.storage ?? { pglite: join('.fnbox', 'pglite') })
  if (opts.files !== undefined && (typeof opts.files !== 'string' || opts.files.length === 0)) {
    throw invalidOption('options.files', "'database', a folder or 'memory'", opts.files)
  }
  const secretsOpts = opts.secrets ?? {}
  if (typeof secretsOpts !== 'object' || secretsOpts === null)
    throw invalidOption('options.secrets', 'an object', secretsOpts)
  // A key given (here or in FNBOX_SECRET_KEY) is checked now, not after the database started.
  if (secretsOpts.key !== undefined || process.env[SECRET_KEY_ENV] !== undefined) {
    SecretVault.fromKey(secretsOpts.key, 'options.secrets.key')
  }
  const adapters = opts.adapters ?? {}
  if (typeof adapters !== 'object' || adapters === null) throw invalidOption('options.adapters', 'an object', adapters)
  for (const k of Object.keys(adapters)) {
    if (!ADAPTER_KEYS.includes(k)) {
      throw invalidOption(`options.adapters.${k}`, `one of ${ADAPTER_KEYS.join(', ')}`, k)
    }
  }
  return () =>
    openBackend({
      storage,
      files: opts.files ?? defaultFilesRoot(storage),
      ...(opts.files === undefined && storage !== 'memory' && 'postgres' in storage
        ? { formerFilesRoot: join('.fnbox', 'files') }
        : {}),
      secretsKey: secretsOpts.key,
      adapters,
      clock,
    })
}

function resolveClock(value: unknown): Clock {
  if (value === undefined) return systemClock
  const clock = value as Partial<Clock> | null
  if (
    typeof clock !== 'object' ||
    clock === null ||
    typeof clock.now !== 'function' ||
    typeof clock.wallNow !== 'function' ||
    typeof clock.setTimeout !== 'function' ||
    typeof clock.clearTimeout !== 'function'
  ) {
    throw invalidOption('options.clock', 'an object with now(), wallNow(), setTimeout() and clearTimeout()', value)
  }
  return clock as Clock
}
