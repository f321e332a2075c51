/**
 * Typed events of the runtime (eventemitter3).
 *
 * @module
 */
import type { FnboxErrorCode } from './errors.js'
import type { LoggedError } from './observability/logs.js'
import type { BreakerStats } from './reliability/breaker.js'
import type { CredentialEvent } from './reliability/credentials.js'
import type { LoadLevelEvent } from './reliability/shedding.js'

/**
 * Console output of a guest. `console.log('Processing', { userId: 1 })` arrives as `message`
 * `'Processing'` with `fields` `{ userId: 1 }`; an Error argument as `err` (its stack mapped
 * through the deploy's source map); a line with a format string (`'%s'`) as util.format prints it.
 *
 * @public
 */
export interface LogEvent {
  level: 'debug' | 'info' | 'log' | 'warn' | 'error'
  /** The line's text, with the function's granted secrets replaced by `[redacted]`. */
  message: string
  /** The plain objects the guest logged, merged (redacted like `message`). */
  fields?: Record<string, unknown> | undefined
  /** The first Error the guest logged. */
  err?: LoggedError | undefined
  function: string
  version: string
  /** The invocation's request id (an adopted `X-Request-Id`, or a new UUID). */
  requestId: string
  /** The invocation span's trace id, while an OpenTelemetry SDK is registered. */
  traceId?: string | undefined
  /** The invocation span's id, while an OpenTelemetry SDK is registered. */
  spanId?: string | undefined
  /** Unix ms when the host received it, on the runtime's clock (`Date.now()` by default). */
  time: number
}

/** One finished invocation. @public */
export interface InvokeEvent {
  function: string
  version: string
  requestId: string
  /** The invocation span's trace id, while an OpenTelemetry SDK is registered. */
  traceId?: string | undefined
  kind: 'fetch' | 'call'
  /** The export called (`call`) or the HTTP method (`fetch`). */
  target: string
  /** HTTP status answered (fetch) or undefined (call). */
  status: number | undefined
  /** Error code when the invocation failed. */
  error: FnboxErrorCode | undefined
  /**
   * The failure's message, for the host's logs (a guest exception's name and message included,
   * with the function's granted secrets replaced by `[redacted]`); never sent to HTTP clients.
   */
  errorMessage: string | undefined
  /**
   * The guest's stack of a guest exception, mapped through the deploy's source map when it has
   * one (redacted like `errorMessage`).
   */
  errorStack?: string | undefined
  /** Time waiting for a warm instance, in ms. */
  waitMs: number
  /** Time from acquiring the instance to the end of the response, in ms. */
  durationMs: number
}

/** A function version was deployed. @public */
export interface DeployEvent {
  name: string
  version: string
  /**
   * Time to create its first instance (module + runtime + context + evaluating the code, and
   * taking its snapshot when it gets one), in ms.
   */
  coldStartMs: number
}

/** A new instance was created for a function (a cold start). @public */
export interface InstanceEvent {
  function: string
  version: string
  ms: number
  /** Restored from the version's snapshot instead of evaluating its code (see `snapshot`). */
  restored: boolean
}

/**
 * A snapshot of a function version was taken: its memory right after its top-level code ran. Later
 * instances, on any thread, are restored from it instead of evaluating the code again. Taken for
 * functions slow to evaluate (10 ms or more, and 16 KB or more of code or 100,000 or more
 * top-level calls and loop iterations) whose top-level code draws no randomness, arms no timers
 * and starts no host I/O.
 *
 * @example
 * ```ts
 * runtime.on('snapshot', (e) => console.log(`${e.function}: ${e.bytes} bytes, saves ${e.evaluateMs} ms per cold start`))
 * runtime.on('instance:create', (e) => metrics.coldStart(e.function, e.ms, e.restored ? 'snapshot' : 'source'))
 * ```
 * @public
 */
export interface SnapshotEvent {
  function: string
  version: string
  /** Memory the snapshot holds (kept while the version is deployed, shared by every thread). */
  bytes: number
  /** Time evaluating the code took, and taking the snapshot, in ms. */
  evaluateMs: number
  takeMs: number
}

/**
 * A function's pool grew or shrank.
 *
 * @public
 */
export interface PoolScaleEvent {
  /** The function's name. */
  function: string
  /** Its version (content hash). */
  version: string
  /** Warm instances (idle and in use) before. */
  from: number
  /** Warm instances after. */
  to: number
  /**
   * Why: `deploy` (its first instance), `demand` (a call found none idle), `prewarm` (the
   * autoscaler's forecast), `min` (`pool.min`), `idle` (idle past `idleTimeoutMs`), `evicted`
   * (room for another function under the global budget), `yield` (given up for a function
   * waiting for room, past its fair share), `lost` (its thread died), `retired` (a replaced or
   * undeployed version let go of it).
   */
  reason: 'deploy' | 'demand' | 'prewarm' | 'min' | 'idle' | 'evicted' | 'yield' | 'lost' | 'retired'
  /** Instances the autoscaler aims at for this function now. */
  target: number
}

/** An executor thread was terminated and replaced. @public */
export interface ExecutorRestartEvent {
  thread: number
  reason: string
}

/** A circuit breaker changed state (`breaker:open`, `breaker:halfOpen`, `breaker:close`). @public */
export interface BreakerEvent {
  /** A function's breaker (its invocations) or an upstream's (guests' fetches to it). */
  target: 'function' | 'upstream'
  /** The function's name, or the upstream's (its declared name, else its host). */
  name: string
  /** The function version whose breaker it is; undefined for upstreams. */
  version: string | undefined
  stats: BreakerStats
}

/** A job (a task, a cron slot, a hook's job) started on this host. @public */
export interface JobStartEvent {
  id: string
  task: string
  attempt: number
  /** The function that runs it; undefined for the fan-out of a table hook. */
  function: string | undefined
}

/** A job's run ended on this host. @public */
export interface JobEndEvent extends JobStartEvent {
  /**
   * `completed`; `failed` (retried later) or `dead` (no retry: `error` says why); `lost` (its
   * lease was lost: cancelled or taken over, nothing recorded); `released` (handed back by close).
   */
  outcome: 'completed' | 'failed' | 'dead' | 'lost' | 'released'
  error: string | undefined
}

/** The job worker or the cron scheduler hit a store failure (claim, heartbeat, ...); it carries on. @public */
export interface JobsErrorEvent {
  error: unknown
  during: string
}

/**
 * Every event the runtime emits, with its payload.
 *
 * @example
 * ```ts
 * runtime.on('log', (e) => console.log(`[${e.function}] ${e.level}: ${e.message}`))
 * runtime.on('invoke', (e) => metrics.observe(e.function, e.durationMs))
 * ```
 * @public
 */
export interface RuntimeEvents {
  log: (event: LogEvent) => void
  invoke: (event: InvokeEvent) => void
  deploy: (event: DeployEvent) => void
  undeploy: (event: { name: string; version: string }) => void
  'instance:create': (event: InstanceEvent) => void
  snapshot: (event: SnapshotEvent) => void
  'executor:restart': (event: ExecutorRestartEvent) => void
  /** A breaker opened: calls (or fetches) are refused at once until it probes. */
  'breaker:open': (event: BreakerEvent) => void
  /** A breaker's reset timeout passed: the next call is its one probe. */
  'breaker:halfOpen': (event: BreakerEvent) => void
  /** A breaker's probe succeeded: calls flow again. */
  'breaker:close': (event: BreakerEvent) => void
  /** The host's shed level changed (see `shedding`). */
  'load:level': (event: LoadLevelEvent) => void
  /** An upstream credential answered 429, 5xx or timed out, and sits out for a while. */
  'upstream:credential': (event: CredentialEvent) => void
  'pool:scale': (event: PoolScaleEvent) => void
  'job:start': (event: JobStartEvent) => void
  'job:end': (event: JobEndEvent) => void
  'jobs:error': (event: JobsErrorEvent) => void
}
