/** Types of faults.mjs, for the test that runs the same scenario. */
export interface FaultScenarioResult {
  /** Share of guest requests that got a 200. */
  successRate: number
  seconds: number
  /** What the guests that did not get a 200 got: a status, 0 (fetch failed) or an error code. */
  failures: Record<string, number>
  /** What key A's patterns did to the requests, and how many got a 200 (either key). */
  upstream: { down: number; slow: number; rateLimited: number; flapFailed: number; ok: number }
  /** `runtime.stats().upstreams.llm` with the policies; undefined without. */
  stats: { retries: number; failovers: number } | undefined
}

export function runFaultScenario(options: {
  policies: boolean
  requests?: number
  ratePerSecond?: number
  concurrency?: number
  /** Key A's phases by time since the start (the bench), or by its request count (the test). */
  pattern?: 'timed' | 'counted'
  /** Each guest call's time limit, ms. Default 2000. */
  timeoutMs?: number
  /** The upstream's time to a response head, with the policies, ms. Default 250. */
  headTimeoutMs?: number
  /** How late key A's slow phase answers, ms. Default 3000. */
  slowMs?: number
  /** The function's circuit breaker. Default true. */
  breaker?: boolean
}): Promise<FaultScenarioResult>
