/**
 * The figures of `Runtime.stats`: per function, per executor thread, load, upstreams and the
 * global pool budget.
 *
 * @module
 */
import type { PoolBudgetStats } from '../pool/pool-manager.js'
import type { BreakerStats } from '../reliability/breaker.js'
import type { UpstreamStats } from '../reliability/egress.js'
import type { QuotaStats } from '../reliability/quota.js'
import type { LoadStats, Priority } from '../reliability/shedding.js'
import type { RuntimeContext } from './context.js'
import type { Deployments } from './deployments.js'

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

/**
 * Collects the figures. `restarts` counts each thread's restarts (kept by the runtime, which
 * sees them happen).
 *
 * @internal
 */
export function collectStats(
  ctx: RuntimeContext,
  deployments: Deployments,
  restarts: ReadonlyMap<number, number>,
): RuntimeStats {
  const functions: Record<string, FunctionStats> = {}
  for (const fn of deployments.current()) {
    functions[fn.name] = {
      version: fn.version,
      ...fn.pool.stats(),
      draining: deployments.draining(fn.name),
      acquireWaitMs: { p50: fn.acquireWaits.percentile(50), p99: fn.acquireWaits.percentile(99) },
      acquired: fn.acquired,
      breaker: fn.breaker?.stats() ?? null,
      quota: fn.quota.stats(),
      priority: fn.priority,
    }
  }
  return {
    functions,
    executors: ctx.executors.map((e) => ({
      thread: e.index,
      instances: e.size,
      inflight: e.inflight,
      restarts: restarts.get(e.index) ?? 0,
      blanks: e.blanks,
      utilization: e.utilization,
    })),
    load: ctx.shedder?.stats() ?? null,
    upstreams: ctx.egress.stats(),
    pool: ctx.pools.stats(),
  }
}
