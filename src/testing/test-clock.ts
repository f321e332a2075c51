/**
 * A clock a test moves by hand, for everything that reads time in a runtime: its pools, breakers,
 * quotas and stores on the host, and its guests (`Date.now()`, `new Date()`, `performance.now()`,
 * `setTimeout`/`setInterval`). `advance` moves it timer by timer, host and guest timers in one
 * order, and between two timers waits until the guests are idle (nothing running, no host call
 * unanswered), so what a timer starts has happened before the next one fires.
 *
 * Why guest timers live in the executor threads rather than on this clock's list: a guest's timer
 * fires inside its thread with the guest's own ordering (see prelude/timers.js), and a round trip
 * per timer to the main thread would slow every guest; the threads report their next due time
 * instead, which is all `advance` needs to keep the order.
 *
 * @module
 */
import { setImmediate as macrotask, setTimeout as sleep } from 'node:timers/promises'
import { FnboxError, invalidOption } from '../errors.js'
import { CLOCK_WAIT, type WatchedClock } from '../clock.js'
import { GUEST_CLOCK, type GuestClockLink, type SyncableThread } from '../pool/guest-clock.js'
import { GUEST_TIME_BYTES } from '../sandbox/guest-time.js'
import { parseDuration } from './duration.js'

/**
 * Steps one `advance` may take without the clock moving before it stops: an interval of 0 ms
 * would never let it end. (Steps that move it are not counted: the runtime's own periodic
 * timers, the load sampler every 500 ms among them, fire ~170,000 times in a day.)
 */
const MAX_STEPS = 100_000
/**
 * Polls (1 ms apart) that a host call may stay unanswered with nothing else moving before the
 * clock takes it to wait on the clock itself (a retry's backoff) and goes on.
 */
const STALLED_POLLS = 50
/**
 * Real ms a wait on the clock (a retry's backoff) may hold a call while nothing advances the
 * clock before the clock warns, once: a test that advances nothing would otherwise hang until
 * its timeout with no hint. Only the warning reads real time; nothing waits for it.
 */
const UNADVANCED_WAIT_WARN_MS = 2000

interface HostTimer {
  at: number
  seq: number
  fn: () => void
}

/**
 * A clock moved by hand that the guests follow too. `createTestRuntime()` makes one
 * (`t.clock`); pass one as `createRuntime({ clock })` to drive a runtime of your own.
 *
 * @example
 * ```ts
 * const clock = new TestClock(new Date('2026-01-01T00:00:00Z'))
 * const runtime = await createRuntime({ clock, storage: 'memory' })
 * await clock.advance('10m') // guest timers, KV TTLs, breakers: ten minutes later
 * ```
 * @public
 */
export class TestClock implements WatchedClock {
  #now: number
  readonly #timers = new Set<HostTimer>()
  #seq = 0
  readonly #cell: Float64Array
  readonly #runtimes = new Set<() => readonly SyncableThread[]>()
  /** The threads' message counts after the last quiet settle, and their next guest timer then. */
  #quiet: { signature: string; next: number } | undefined
  /** Advances running (a wait then moves on), and whether the unadvanced-wait warning was given. */
  #advancing = 0
  #warned = false
  /** @internal */
  readonly [GUEST_CLOCK]: GuestClockLink

  /** @param start - The clock's first time (a `Date` or ms since the epoch); default: now. */
  constructor(start: Date | number = Date.now()) {
    const time = start instanceof Date ? start.getTime() : start
    if (typeof time !== 'number' || !Number.isFinite(time)) {
      throw invalidOption('start', 'a Date or ms since the epoch', start)
    }
    const buffer = new SharedArrayBuffer(GUEST_TIME_BYTES)
    this.#cell = new Float64Array(buffer)
    this.#now = time
    this.#cell[0] = time
    this[GUEST_CLOCK] = {
      buffer,
      attach: (threads) => {
        this.#runtimes.add(threads)
        return () => void this.#runtimes.delete(threads)
      },
    }
  }

  /** The clock's time in ms since the epoch (a test clock's monotonic and wall times are one). */
  now(): number {
    return this.#now
  }

  /** The clock's time in ms since the epoch, as dates read it. */
  wallNow(): number {
    return this.#now
  }

  /** Calls `callback` when the clock has been advanced by `ms` or more. */
  setTimeout(callback: () => void, ms: number): unknown {
    const timer: HostTimer = {
      at: this.#now + Math.max(0, Number.isFinite(ms) ? ms : 0),
      seq: this.#seq++,
      fn: callback,
    }
    this.#timers.add(timer)
    return timer
  }

  /** @internal Warns (once, as a process warning) when a wait holds a call and nothing advances the clock. */
  [CLOCK_WAIT](ms: number, what: string): () => void {
    const start = this.#now
    const timer = setTimeout(() => {
      if (this.#warned || this.#advancing > 0 || this.#now !== start) return
      this.#warned = true
      process.emitWarning(
        `${what} waits ${ms} ms on the test clock, and nothing has advanced it: the call it holds ` +
          `waits until the test moves the clock (await t.clock.advance('${Math.ceil(ms / 1000)}s')); ` +
          'or turn those retries off (deploy retry: false, egress retry: false)',
        { type: 'FnboxTestClockWarning', code: 'FNBOX_UNADVANCED_WAIT' },
      )
    }, UNADVANCED_WAIT_WARN_MS)
    timer.unref()
    return () => clearTimeout(timer)
  }

  /** Cancels a timer of {@link TestClock.setTimeout}. */
  clearTimeout(handle: unknown): void {
    this.#timers.delete(handle as HostTimer)
  }

  /**
   * Moves the clock forward by `duration` (ms, or a string: `'500ms'`, `'10s'`, `'10m'`,
   * `'1h30m'`, `'2d'`), firing every host and guest timer that falls due, in order, each at its
   * own time. Resolves when the guests are idle at the new time.
   *
   * @throws FnboxError `ERR_INVALID_OPTION` for a duration it cannot read.
   */
  async advance(duration: number | string): Promise<void> {
    const target = this.#now + parseDuration(duration, 'duration')
    this.#advancing++
    try {
      await this.#advanceTo(target)
    } finally {
      this.#advancing--
    }
  }

  async #advanceTo(target: number): Promise<void> {
    let at = this.#now
    for (let step = 0; ; step++) {
      if (this.#now !== at) {
        at = this.#now
        step = 0
      }
      if (step >= MAX_STEPS) {
        throw new FnboxError(
          'ERR_INVALID_ARGUMENT',
          `clock.advance fired ${MAX_STEPS} timers without reaching its target (a 0 ms interval?)`,
        )
      }
      const guestNext = await this.#settle()
      const host = this.#nextHostTimer()
      const next = Math.min(guestNext, host ? host.at : Infinity)
      if (next > target) break
      this.#set(Math.max(this.#now, next))
      // Guest timers due now fire in the next settle; the host timers due now fire here, in
      // order, together: they are simultaneous, and one settle after them halves the steps of
      // a long advance (the runtime's periodic timers fall due together every second).
      // Only those due before any fired: a timer set by one of them waits for the next step.
      const due = [...this.#timers].filter((t) => t.at <= this.#now).sort((a, b) => a.at - b.at || a.seq - b.seq)
      for (const timer of due) {
        if (!this.#timers.delete(timer)) continue // cleared by one fired before it
        timer.fn()
      }
    }
    this.#set(target)
    await this.#settle()
  }

  /** Waits until the guests are idle without moving the clock (timers due now fire). */
  async settle(): Promise<void> {
    await this.#settle()
  }

  #set(time: number): void {
    this.#now = time
    this.#cell[0] = time
  }

  #nextHostTimer(): HostTimer | undefined {
    let first: HostTimer | undefined
    for (const t of this.#timers) if (!first || t.at < first.at || (t.at === first.at && t.seq < first.seq)) first = t
    return first
  }

  /**
   * Waits until every attached thread is idle: one round of syncs (each fires its due guest
   * timers and answers after everything sent before) during which no thread sent anything else
   * and no host call or instance creation was pending. Resolves with the earliest next guest timer.
   * When no message went either way since the last quiet round and no guest timer is due, the
   * threads are still quiet: no round trip (an advance over hours fires thousands of host ticks).
   */
  async #settle(): Promise<number> {
    let stalled = 0
    let last = ''
    for (;;) {
      await macrotask()
      const threads = [...this.#runtimes].flatMap((list) => list())
      if (threads.length === 0) return Infinity
      const before = threads.map((t) => t.activity)
      const signature = before.map((a) => `${a.received}/${a.sent}${a.busy ? '+' : ''}`).join()
      if (this.#quiet && signature === this.#quiet.signature && this.#quiet.next > this.#now) return this.#quiet.next
      if (before.some((a) => a.busy) && stalled < STALLED_POLLS) {
        stalled = signature === last ? stalled + 1 : 0
        last = signature
        await sleep(1)
        continue
      }
      const next = await Promise.all(threads.map((t) => t.sync()))
      await macrotask()
      const after = threads.map((t) => t.activity)
      const quiet = after.every((a, i) => a.received === before[i]!.received + 1 && a.busy === before[i]!.busy)
      if (quiet) {
        const earliest = Math.min(Infinity, ...next)
        this.#quiet = {
          signature: after.map((a) => `${a.received}/${a.sent}${a.busy ? '+' : ''}`).join(),
          next: earliest,
        }
        return earliest
      }
      stalled = 0
    }
  }
}
