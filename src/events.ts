/**
 * Typed events of the runtime (eventemitter3).
 *
 * @module
 */
import type { FnboxErrorCode } from './errors.js'

/** Console output of a guest. @public */
export interface LogEvent {
  level: 'debug' | 'info' | 'log' | 'warn' | 'error'
  message: string
  function: string
  version: string
  requestId: string
  /** `Date.now()` when the host received it. */
  time: number
}

/** One finished invocation. @public */
export interface InvokeEvent {
  function: string
  version: string
  requestId: string
  kind: 'fetch' | 'call'
  /** The export called (`call`) or the HTTP method (`fetch`). */
  target: string
  /** HTTP status answered (fetch) or undefined (call). */
  status: number | undefined
  /** Error code when the invocation failed. */
  error: FnboxErrorCode | undefined
  /**
   * The failure's message, for the host's logs (a guest exception's name and message included);
   * never sent to HTTP clients.
   */
  errorMessage: string | undefined
  /** Time waiting for a warm instance, in ms. */
  waitMs: number
  /** Time from acquiring the instance to the end of the response, in ms. */
  durationMs: number
}

/** A function version was deployed. @public */
export interface DeployEvent {
  name: string
  version: string
  /** Time to create its first instance (module + runtime + context + evaluating the code), in ms. */
  coldStartMs: number
}

/** A new instance was created for a function (a cold start). @public */
export interface InstanceEvent {
  function: string
  version: string
  ms: number
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
  'executor:restart': (event: ExecutorRestartEvent) => void
  'pool:scale': (event: PoolScaleEvent) => void
}
