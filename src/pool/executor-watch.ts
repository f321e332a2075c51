/**
 * How the main thread tells an executor thread that stopped answering: each invocation and each
 * creation has a backstop at its next limit (plus the grace the thread gets to report it). The
 * invocations' backstops share one timer per thread, at the earliest of them: arming one is a
 * comparison, and a call that ends in time costs no timer at all (a timer armed and cleared per
 * call was measurable main-thread work at thousands of calls a second).
 * When one fires and the thread said nothing, the guest slot (sandbox/guest-slot.ts) tells
 * whether the thread is wedged in the guest code past its limits (restart it) or busy with other
 * work still within its own (answer the caller, look again later).
 *
 * @internal
 * @module
 */
import { FnboxError } from '../errors.js'
import { afterPendingMessages, type BudgetLimit } from '../reliability/deadline.js'
import { readGuestSlot } from '../sandbox/guest-slot.js'
import { INIT_TIMEOUT_MS } from '../sandbox/protocol.js'
import type { Creating, Inflight } from './executor-types.js'

/** How long past an invocation's deadline a thread may stay silent before it is terminated. */
export const STUCK_GRACE_MS = 50
/**
 * How often the main thread looks whether a long invocation (one whose `cpuMs` could be spent
 * by now) is wedged past its CPU limit in a builtin that ignores the interrupt.
 */
const CPU_WATCH_MS = 1000

/** What the watch reaches of its executor. */
export interface WatchedThread {
  /** The current thread's guest slot (new with each thread). */
  guestSlot(): SharedArrayBuffer
  flight(inv: number): Inflight | undefined
  /** Every invocation in flight on the thread. */
  flights(): Iterable<Inflight>
  creation(id: number): Creating | undefined
  /** `flight` passed `limit`: its caller gets the limit's error, its instance is given up. */
  abandon(flight: Inflight, limit: BudgetLimit): void
  /** The creation `id` ran past its time limit; its caller gets `error`. */
  failCreation(id: number, error: FnboxError): void
  restart(reason: string): void
}

export class ThreadWatch {
  readonly #thread: WatchedThread
  /** The one timer of the invocations' backstops, due at {@link #timerAt} (epoch ms). */
  #timer: NodeJS.Timeout | undefined
  #timerAt = Infinity

  constructor(thread: WatchedThread) {
    this.#thread = thread
  }

  /**
   * The next look at an invocation: its next wall-clock limit (plus the grace the thread gets to
   * report it), or, once its CPU limit could have been spent, every {@link CPU_WATCH_MS}.
   */
  arm(flight: Inflight, now: number): void {
    const { startedAt, cpuMs } = flight.budget.limits
    const wall = flight.budget.nextAt() + STUCK_GRACE_MS
    const cpu = flight.budget.cpuBinds() ? Math.max(startedAt + cpuMs + STUCK_GRACE_MS, now + CPU_WATCH_MS) : Infinity
    this.#at(flight, Math.max(now + 1, Math.min(wall, cpu)), now)
  }

  /** No look at `flight` (it ended, or its caller was answered and the thread restarted). */
  disarm(flight: Inflight): void {
    flight.checkAt = Infinity
  }

  /** Stops the timer (the thread is closing). */
  stop(): void {
    clearTimeout(this.#timer)
    this.#timer = undefined
    this.#timerAt = Infinity
  }

  /** Looks at `flight` at `at` (epoch ms), moving the shared timer earlier if it is due later. */
  #at(flight: Inflight, at: number, now: number): void {
    flight.checkAt = at
    if (at < this.#timerAt) this.#schedule(at, now)
  }

  #schedule(at: number, now: number): void {
    clearTimeout(this.#timer)
    this.#timerAt = at
    // Unref'd: while an invocation is pending, its thread is ref'd (executor.ts), which keeps the
    // process alive for the timer too.
    this.#timer = setTimeout(() => this.#due(), Math.max(1, at - now)).unref()
  }

  /** The timer fired: the invocations due are looked at, the timer moves to the next one. */
  #due(): void {
    this.#timer = undefined
    this.#timerAt = Infinity
    const now = Date.now()
    let next = Infinity
    for (const flight of this.#thread.flights()) {
      if (flight.checkAt <= now) {
        flight.checkAt = Infinity
        this.#checkLater(flight.inv)
      } else if (flight.checkAt < next) next = flight.checkAt
    }
    if (next < Infinity) this.#schedule(next, now)
  }

  /** The backstop of the creation `id`: its top-level code's time limit, plus the grace. */
  armCreation(id: number): NodeJS.Timeout {
    return setTimeout(() => this.#creationOverdue(id), INIT_TIMEOUT_MS + STUCK_GRACE_MS)
  }

  /**
   * The limit `flight` is past by more than the thread's grace, judged from here: its wall-clock
   * budget, or, while the thread runs its guest code (`slot`), its CPU time. Undefined when within.
   */
  #pastLimit(flight: Inflight, slot: ReturnType<typeof readGuestSlot>, now: number): BudgetLimit | undefined {
    const next = flight.budget.next()
    if (next.at + STUCK_GRACE_MS <= now) return next.limit
    if (slot.mark !== flight.inv || !flight.budget.cpuBinds()) return undefined
    return slot.cpuBefore + (now - slot.since) > flight.budget.limits.cpuMs + STUCK_GRACE_MS ? 'cpuMs' : undefined
  }

  /**
   * An invocation passed a limit and the thread said nothing: the thread is blocked. Its caller
   * gets the limit's error now (`ERR_TIMEOUT`, `ERR_CPU_LIMIT`), whatever else the thread runs.
   * When the guest code the thread runs is this call, or another one past its own limits, the
   * thread is wedged in a builtin that ignores the interrupt: terminate it. When it is a call
   * still within its limits, look again later.
   */
  #overdue(inv: number): void {
    const thread = this.#thread
    const flight = thread.flight(inv)
    if (!flight) return
    const now = Date.now()
    const slot = readGuestSlot(thread.guestSlot())
    const limit = this.#pastLimit(flight, slot, now)
    if (!flight.abandoned) {
      if (!limit) {
        // Within its limits: a chunk moved them, or its CPU time is not spent yet.
        this.arm(flight, now)
        return
      }
      thread.abandon(flight, limit)
    }
    const running = slot.mark > 0 ? thread.flight(slot.mark) : undefined
    const wedged = running && this.#pastLimit(running, slot, now)
    if (running && wedged) {
      // Its guest code may have only just been entered: a call queued behind a long one reaches
      // its code after its deadline, and the thread's interrupt needs a moment to end it. Wedged
      // is running past the limit for the grace since it entered.
      const from = slot.since + STUCK_GRACE_MS
      if (from <= now) {
        thread.restart(`an invocation ran past limits.${wedged} in a blocking builtin`)
        return
      }
      this.#at(flight, from, now)
      return
    }
    // Another call within its limits, a creation (its own backstop), or no guest code (the thread
    // is catching up): look again later.
    const next = running ? running.budget.nextAt() + STUCK_GRACE_MS - now : STUCK_GRACE_MS
    this.#at(flight, now + Math.max(1, Math.min(next, STUCK_GRACE_MS)), now)
  }

  /**
   * {@link #overdue}, once the thread's messages already received are handled: a response head
   * that moved the invocation's limits (it streams) may be among them.
   */
  #checkLater(inv: number): void {
    afterPendingMessages(() => this.#overdue(inv))
  }

  /** The same for evaluating a function's top-level code, bounded by the init timeout. */
  #creationOverdue(id: number): void {
    const thread = this.#thread
    const creating = thread.creation(id)
    if (!creating) return
    const slot = readGuestSlot(thread.guestSlot())
    if (slot.mark === -id && Date.now() - slot.since < INIT_TIMEOUT_MS) {
      // Queued behind other work, it started late: its limit runs from its own start.
      creating.backstop = setTimeout(
        () => this.#creationOverdue(id),
        slot.since + INIT_TIMEOUT_MS + STUCK_GRACE_MS - Date.now(),
      )
      return
    }
    if (slot.mark === -id) {
      thread.failCreation(
        id,
        new FnboxError('ERR_TIMEOUT', `evaluating the function's code ran past ${INIT_TIMEOUT_MS} ms`, {
          details: { limit: INIT_TIMEOUT_MS },
        }),
      )
      thread.restart('evaluating a function ran past its time limit in a blocking builtin')
      return
    }
    creating.backstop = setTimeout(() => this.#creationOverdue(id), INIT_TIMEOUT_MS)
  }
}
