/**
 * The clock of one instance's guest: the wall-clock deadline its interrupt handler enforces, the
 * time the guest spends inside the module (what `limits.cpuMs` counts), and the invocation
 * budget's timer.
 *
 * @internal
 * @module
 */
import { enterGuest, leaveGuest } from './guest-slot.js'
import { InvocationFailure, type Running } from './invocation.js'

export class GuestClock {
  /** Interrupt the guest once `Date.now()` passes this (0: no deadline). */
  deadline = 0
  /**
   * Calls of the interrupt handler: QuickJS polls it every 10,000 function calls or loop
   * iterations, so this counts work done, whatever else the machine runs.
   */
  polls = 0
  /** Nesting of entries into the module (see {@link enter}), and when the outermost one began. */
  #depth = 0
  #enteredAt = 0
  readonly #running: () => Running | undefined
  readonly #mark: () => number

  /** `running`: the invocation running now; `mark`: what the thread runs (see guest-slot.ts). */
  constructor(running: () => Running | undefined, mark: () => number) {
    this.#running = running
    this.#mark = mark
  }

  /** The runtime's interrupt handler: true stops the guest (past its deadline or its CPU limit). */
  readonly interrupt = (): boolean => {
    this.polls++
    const r = this.#running()
    if (this.deadline !== 0 && Date.now() >= this.deadline) {
      if (r) r.failure ??= new InvocationFailure(r.budget.error(r.budget.next().limit), true)
      return true
    }
    if (r && this.#depth > 0 && r.budget.cpuBinds()) {
      if (r.cpu + (performance.now() - this.#enteredAt) > r.budget.limits.cpuMs) {
        r.failure ??= new InvocationFailure(r.budget.error('cpuMs'), true)
        return true
      }
    }
    return false
  }

  /**
   * Enters the module to run guest code: marks the thread's guest slot (see guest-slot.ts) and
   * starts the guest's clock. The time between the outermost entry and its exit is the guest's
   * own time, what `limits.cpuMs` counts: Node 20 has no per-thread CPU clock
   * (`process.cpuUsage` is the process's, event-loop utilisation is not CPU time;
   * `process.threadCpuUsage` came in 22.15, a syscall per reading), one clock serves every
   * supported Node, and the guest runs alone on its thread while inside, so this is its CPU time
   * unless the OS preempts the thread (then it counts more, never less).
   */
  enter(): number {
    const previous = enterGuest(this.#mark(), this.#running()?.cpu ?? 0)
    if (this.#depth++ === 0) this.#enteredAt = performance.now()
    return previous
  }

  leave(previous: number): void {
    leaveGuest(previous)
    const r = this.#running()
    if (--this.#depth === 0 && r) r.cpu += performance.now() - this.#enteredAt
  }

  /** Arms the interrupt, not the timer, for the budget's next wall-clock limit. */
  limit(r: Running): void {
    if (!r.failure) this.deadline = r.budget.next().at
  }

  /**
   * Arms the timer and the interrupt for the budget's next wall-clock limit; `fail` ends the
   * invocation when the timer finds it past that limit.
   */
  arm(r: Running, fail: (failure: InvocationFailure) => void): void {
    clearTimeout(r.timer)
    const next = r.budget.next()
    if (!r.failure) this.deadline = next.at
    r.timer = setTimeout(
      () => {
        if (this.#running() !== r) return
        const due = r.budget.next()
        if (Date.now() >= due.at) fail(new InvocationFailure(r.budget.error(due.limit), true))
        else this.arm(r, fail) // moved later meanwhile (a chunk went out), or the timer fired early
      },
      Math.max(0, next.at - Date.now()),
    )
  }

  /**
   * The stream's progress moved the budget's next limit later: the interrupt follows at once; the
   * timer, armed earlier, re-arms itself when it fires.
   */
  moved(r: Running): void {
    if (!r.failure) this.deadline = r.budget.next().at
  }
}
