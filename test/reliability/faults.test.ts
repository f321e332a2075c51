/**
 * Fault injection against a local upstream whose first key goes down, turns slow, bursts 429s
 * and flaps, while its second key stays healthy: the success rate guests see, with fnbox's
 * egress policies and without them (the scenario is bench/faults.mjs, also run by the bench).
 */
import { describe, expect, it } from 'vitest'
import { runFaultScenario } from '../../bench/faults.mjs'

describe('guests against a flaky upstream with one healthy key', () => {
  it('succeed at least 99% of the time with the policies, and visibly less without', { timeout: 60_000 }, async () => {
    // Key A's faults come by its request count, not by the clock, and the time limits leave room
    // for a loaded machine: what is measured is what the policies do with the faults, not how
    // fast this machine is (that is the bench's figure, with the timed phases).
    const scenario = {
      requests: 200,
      ratePerSecond: 1000,
      concurrency: 8,
      pattern: 'counted',
      timeoutMs: 15_000,
      headTimeoutMs: 1_000,
      slowMs: 1_500, // past the head timeout
      // One call slowed past its limit by the machine must not open the function's breaker.
      breaker: false,
    } as const
    const without = await runFaultScenario({ ...scenario, policies: false })
    const withPolicies = await runFaultScenario({ ...scenario, policies: true })
    console.log(
      `fault injection: guest success rate ${(withPolicies.successRate * 100).toFixed(1)}% with policies, ` +
        `${(without.successRate * 100).toFixed(1)}% without (${JSON.stringify(without.upstream)}); ` +
        `failures with policies: ${JSON.stringify(withPolicies.failures)}`,
    )
    // The upstream failed many attempts without the policies; with them, key A is cooled down
    // after its first failures, so how often it is tried again depends on the machine's pace:
    // only that it failed some is certain.
    const faults = (u: typeof without.upstream): number => u.down + u.slow + u.rateLimited + u.flapFailed
    expect(faults(without.upstream)).toBeGreaterThan(20)
    expect(faults(withPolicies.upstream)).toBeGreaterThan(0)
    expect(without.successRate).toBeLessThan(0.9)
    expect(withPolicies.successRate).toBeGreaterThanOrEqual(0.99)
    expect(withPolicies.stats!.failovers).toBeGreaterThan(0)
  })
})
