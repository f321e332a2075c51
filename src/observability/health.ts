/**
 * Readiness of a runtime from figures it already keeps (no probe traffic): executor threads,
 * storage, open breakers, the shed level, queue pressure.
 *
 * @internal
 * @module
 */
import type { BreakerState } from '../reliability/breaker.js'

/** `ok`: serve; `degraded`: serving, some calls refused or slow; `down`: take it out of rotation. @public */
export type HealthStatus = 'ok' | 'degraded' | 'down'

/** One check of {@link HealthReport}. @public */
export interface HealthCheck {
  /** This check's verdict. */
  status: HealthStatus
  /** What the status was judged on. */
  [figure: string]: unknown
}

/**
 * What `runtime.health()` returns: the worst status of its checks.
 *
 * @public
 */
export interface HealthReport {
  /** The worst of the checks' statuses. */
  status: HealthStatus
  /** Each check with the figures it was judged on. */
  checks: {
    /** Threads running guests (`down` with none), and their restarts since start. */
    executors: HealthCheck & { threads: number; restarts: number }
    /** The storage backend: `opened` false until a call or client first uses it; `down` when it failed to open. */
    storage: HealthCheck & { opened: boolean; error?: string }
    /** Functions whose circuit breaker is open (`degraded`) or probing. */
    breakers: HealthCheck & { open: string[]; halfOpen: string[] }
    /** The shed level (0-3): 1-2 `degraded`, 3 (all but critical refused) `down`. */
    shedding: HealthCheck & { level: number }
    /** Calls waiting for an instance, and the fullest function queue against `pool.maxQueue` (0-1; 0.8 or more `degraded`). */
    queues: HealthCheck & { queued: number; pressure: number }
  }
}

/** A queue this full (of `pool.maxQueue`) makes the runtime `degraded`. */
export const QUEUE_PRESSURE_DEGRADED = 0.8

interface HealthInput {
  closed: boolean
  stats: {
    functions: Record<string, { queued: number; breaker: { state: BreakerState } | null }>
    executors: { restarts: number }[]
    load: { level: number } | null
  }
  /** undefined: not opened yet. */
  storage: { ok: boolean; error?: string } | undefined
  pool: { maxQueue: number }
}

const RANK: Record<HealthStatus, number> = { ok: 0, degraded: 1, down: 2 }

export function checkHealth({ closed, stats, storage, pool }: HealthInput): HealthReport {
  const threads = closed ? 0 : stats.executors.length
  const restarts = stats.executors.reduce((n, e) => n + e.restarts, 0)
  const open: string[] = []
  const halfOpen: string[] = []
  let queued = 0
  let fullest = 0
  for (const [name, fn] of Object.entries(stats.functions)) {
    if (fn.breaker?.state === 'open') open.push(name)
    else if (fn.breaker?.state === 'halfOpen') halfOpen.push(name)
    queued += fn.queued
    fullest = Math.max(fullest, fn.queued)
  }
  const pressure = pool.maxQueue > 0 ? Math.min(1, fullest / pool.maxQueue) : fullest > 0 ? 1 : 0
  const level = stats.load?.level ?? 0
  const checks: HealthReport['checks'] = {
    executors: { status: threads === 0 ? 'down' : 'ok', threads, restarts },
    storage: storage
      ? { status: storage.ok ? 'ok' : 'down', opened: storage.ok, ...(storage.error ? { error: storage.error } : {}) }
      : { status: 'ok', opened: false },
    breakers: { status: open.length > 0 ? 'degraded' : 'ok', open, halfOpen },
    shedding: { status: level >= 3 ? 'down' : level > 0 ? 'degraded' : 'ok', level },
    queues: { status: pressure >= QUEUE_PRESSURE_DEGRADED ? 'degraded' : 'ok', queued, pressure },
  }
  let status: HealthStatus = 'ok'
  for (const check of Object.values(checks)) if (RANK[check.status] > RANK[status]) status = check.status
  return { status, checks }
}

/**
 * What a mount answers at its `healthPath` (GET or HEAD; other paths: undefined, served as usual).
 */
export function healthRoute(
  healthPath: string | undefined,
  health: () => Promise<HealthReport>,
): ((request: Request, path: string) => Promise<Response> | undefined) | undefined {
  if (healthPath === undefined) return undefined
  return (request, path) => {
    if (path !== healthPath || (request.method !== 'GET' && request.method !== 'HEAD')) return undefined
    return health().then(
      (report) =>
        new Response(request.method === 'HEAD' ? null : JSON.stringify(report), {
          status: report.status === 'down' ? 503 : 200,
          headers: { 'content-type': 'application/json', 'cache-control': 'no-store' },
        }),
    )
  }
}
