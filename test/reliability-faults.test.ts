/**
 * Fault injection against a local upstream whose first key goes down, turns slow, bursts 429s
 * and flaps, while its second key stays healthy: the success rate guests see, with fnbox's
 * egress policies and without them (the scenario is bench/faults.mjs, also run by the bench).
 */
import { describe, expect, it } from 'vitest'
import { runFaultScenario } from '../bench/faults.mjs'

describe('guests against a flaky upstream with one healthy key', () => {
  it('succeed at least 99% of the time with the policies, and visibly less without', { timeout: 60_000 }, async () => {
    const without = await runFaultScenario({ policies: false, requests: 300 })
    const withPolicies = await runFaultScenario({ policies: true, requests: 300 })
    console.log(
      `fault injection: guest success rate ${(withPolicies.successRate * 100).toFixed(1)}% with policies, ` +
        `${(without.successRate * 100).toFixed(1)}% without (${JSON.stringify(without.upstream)}); ` +
        `failures with policies: ${JSON.stringify(withPolicies.failures)}`,
    )
    // The upstream failed many attempts in both runs (the patterns are timed, so how many of
    // each a run meets depends on the machine's pace).
    const faults = (u: typeof without.upstream): number => u.down + u.slow + u.rateLimited + u.flapFailed
    expect(faults(without.upstream)).toBeGreaterThan(20)
    expect(faults(withPolicies.upstream)).toBeGreaterThan(5)
    expect(without.successRate).toBeLessThan(0.9)
    expect(withPolicies.successRate).toBeGreaterThanOrEqual(0.99)
    expect(withPolicies.stats!.failovers).toBeGreaterThan(0)
  })
})
