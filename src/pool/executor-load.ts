/**
 * How busy an executor thread has been lately, as placement reads it (pool-manager.ts): its
 * event-loop utilisation over the last 100 ms or more. Guest code runs synchronously on that
 * loop, so it is the thread's CPU share.
 *
 * @internal
 * @module
 */
import type { EventLoopUtilization } from 'node:perf_hooks'
import type { Worker } from 'node:worker_threads'

/** The shortest window a reading covers: shorter ones are mostly noise. */
const WINDOW_MS = 100

/** The load of one thread (a new one with each thread the executor starts). */
export class ThreadLoad {
  readonly #worker: Worker
  #mark: EventLoopUtilization | undefined
  #at = 0
  #value = 0

  constructor(worker: Worker) {
    this.#worker = worker
  }

  /** 0-1, read again once the last reading is {@link WINDOW_MS} old. */
  get utilization(): number {
    const now = performance.now()
    if (now - this.#at >= WINDOW_MS) {
      const elu = this.#worker.performance
      const current = elu.eventLoopUtilization()
      const window = this.#mark ? elu.eventLoopUtilization(current, this.#mark) : current
      // Clamped: the difference of two readings can come out a hair below 0.
      this.#value = Math.min(1, Math.max(0, window.utilization))
      this.#mark = current
      this.#at = now
    }
    return this.#value
  }
}
