// The job store contract on the memory store (behind the memory backend's write gate).
import { MemoryJobStore } from '../../src/host/jobs/memory-jobs.js'
import { WriteGate } from '../../src/storage/memory-gate.js'
import { ManualClock } from '../helpers/manual-clock.js'
import { runJobStoreConformance } from '../../src/testing/conformance/jobs.js'

runJobStoreConformance('memory', async () => {
  const clock = new ManualClock(Date.UTC(2030, 0, 1))
  const gate = new WriteGate()
  const store = new MemoryJobStore({ clock, gate })
  return {
    store,
    clock,
    async transaction() {
      const release = await gate.exclusive()
      const jobs = store.fork()
      return {
        jobs,
        commit: async () => {
          store.adopt(jobs)
          release()
        },
        rollback: async () => release(),
      }
    },
    close: () => Promise.resolve(),
  }
})
