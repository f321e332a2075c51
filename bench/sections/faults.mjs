import { runFaultScenario } from '../faults.mjs'
import { report } from '../shared.mjs'

// (g) Guests against a faulty upstream (one key down, slow, 429 bursts, flapping; the other key
// healthy): success rate with fnbox's egress policies vs the guest on its own (see faults.mjs).
export default async function benchFaults() {
  console.log('\n(g) guest success rate against a faulty upstream with one healthy key (800 requests at 100/s)')
  const without = await runFaultScenario({ policies: false, requests: 800 })
  const withPolicies = await runFaultScenario({ policies: true, requests: 800 })
  report('g', 'success rate with policies (%)', withPolicies.successRate * 100, without.successRate * 100, '>= 99')
  console.log(`    upstream faults met without policies: ${JSON.stringify(without.upstream)}`)
  console.log(
    `    with policies: ${JSON.stringify(withPolicies.upstream)}, failovers ${withPolicies.stats.failovers}, retries ${withPolicies.stats.retries}, guest failures ${JSON.stringify(withPolicies.failures)}`,
  )
}
