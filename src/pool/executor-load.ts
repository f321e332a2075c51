/**
 * How busy an executor thread has been lately, as placement reads it (pool-manager.ts): its
 * event-loop utilisation over the last 100 ms or more, net of the time it spent parked on its
 * doorbell (sandbox/doorbell.ts). Guest code runs synchronously on that loop, so it is the
 * thread's CPU share.
 *
 * @internal
 * @module
 */
import type { EventLoopUtilization } from 'node:perf_hooks'
import type { Worker } from 'node:worker_threads'
import { parkedMs } from '../sandbox/doorbell.js'

/** The shortest window a reading covers: shorter ones are mostly noise. */
const WINDOW_MS = 100

/**
 * A thread's event-loop utilisation over a window, net of the time it spent parked on its
 * doorbell within it: a parked thread blocks inside a task (busy to the event loop) but works
 * no more than one waiting in epoll. Clamped: readings taken apart can come out a hair off.
 */
export function netUtilization(window: EventLoopUtilization, parked: number): number {
  const total = window.active + window.idle
  if (total <= 0) return 0
  return Math.min(1, Math.max(0, (window.active - parked) / total))
}

/** The load of one thread (a new one with each thread the executor starts). */
export class ThreadLoad {
  readonly #worker: Worker
  readonly #doorbell: SharedArrayBuffer
  #mark: EventLoopUtilization | undefined
  #parkedMark = 0
  #at = 0
  #value = 0

  constructor(worker: Worker, doorbell: SharedArrayBuffer) {
    this.#worker = worker
    this.#doorbell = doorbell
  }

  /** 0-1, read again once the last reading is {@link WINDOW_MS} old. */
  get utilization(): number {
    const now = performance.now()
    if (now - this.#at >= WINDOW_MS) {
      const elu = this.#worker.performance
      const current = elu.eventLoopUtilization()
      const window = this.#mark ? elu.eventLoopUtilization(current, this.#mark) : current
      const parked = parkedMs(this.#doorbell)
      this.#value = netUtilization(window, parked - this.#parkedMark)
      this.#parkedMark = parked
      this.#mark = current
      this.#at = now
    }
    return this.#value
  }
}
