/**
 * What a function's pool and the runtime-wide pool manager expect of each other: the slice of
 * an executor thread a pool uses, the host a pool asks for room, and the pool's states and
 * figures.
 *
 * @internal
 * @module
 */
import type { PoolScaleEvent } from '../events.js'
import type { Clock } from '../clock.js'
import type { FunctionSource, InstanceRef } from './executor.js'
import type { FunctionPool } from './function-pool.js'

/** The slice of an executor thread a pool uses. */
export interface PoolExecutor {
  readonly index: number
  /** `restored`: from the version's snapshot rather than evaluated. */
  create(fn: FunctionSource): Promise<{ ref: InstanceRef; ms: number; restored: boolean }>
  destroy(ref: InstanceRef): void
  unload(key: string): void
}

/** Why a new instance is wanted: a deploy or a waiting call may evict and wait; the others may not. */
export type ReserveReason = 'deploy' | 'demand' | 'min' | 'prewarm'

/** Why a pool's instance count changed (the `reason` of a `pool:scale` event). */
export type ScaleReason = PoolScaleEvent['reason']

/** What a pool asks of the runtime-wide pool manager. */
export interface PoolHost {
  readonly clock: Clock
  /**
   * Room for one more instance of `pool`: resolves with the thread to create it on, or with
   * undefined when there is no room (`min`, `prewarm`) or the pool no longer needs it. A
   * `deploy` waits at most `timeoutMs`, then fails with `ERR_QUEUE_FULL`.
   */
  reserve(pool: FunctionPool, reason: ReserveReason, timeoutMs?: number): Promise<PoolExecutor | undefined>
  /** One instance (or reservation) of `pool` on `executor` is gone. */
  freed(pool: FunctionPool, executor: PoolExecutor): void
  /** An instance of `pool` became idle: another function waiting for room may evict it. */
  idled(pool: FunctionPool): void
  /** True when `pool` holds more than its fair share while another function waits for room. */
  shouldYield(pool: FunctionPool): boolean
  scaled(pool: FunctionPool, from: number, to: number, reason: ScaleReason): void
  /** A retiring pool finished its calls (it is `retired` with its kept instance, or `released`). */
  drained(pool: FunctionPool): void
  /** The pool let go of everything. */
  disposed(pool: FunctionPool): void
}

/** An idle instance and when it became idle (on the host's clock). */
export interface IdleInstance {
  readonly ref: InstanceRef
  readonly since: number
}

/**
 * `live`: the function's current version. `draining`: replaced or undeployed, finishing its
 * queued and running calls. `retired`: drained, keeping an idle instance so a redeploy of the
 * same version is instant. `released`: gone.
 */
export type PoolState = 'live' | 'draining' | 'retired' | 'released'

export interface FunctionPoolStats {
  instances: number
  idle: number
  inUse: number
  queued: number
  coldStarts: number
  evictions: number
  /** Instances the autoscaler aims at. */
  target: number
}
