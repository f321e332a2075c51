/**
 * The guests' time inside an executor thread: the system's, or a manual clock's that the main
 * thread moves (`fnbox/testing`). With a manual clock the main thread shares one `Float64` cell
 * holding the clock's time (ms since the epoch); guest `Date`, `performance.now()` and timers read
 * it, and guest timers wait in a list here instead of on the thread's own timers. The main thread
 * fires them by sending a `sync` after it moved the clock ({@link fireDueGuestTimers}), so a guest
 * `setTimeout(f, 60_000)` runs when the test advances the clock by a minute, not a minute later.
 *
 * The limits of an invocation (timeoutMs, cpuMs) stay on the system clock: they guard the host,
 * and a test that never advances its clock must still stop a guest that loops.
 *
 * @internal
 * @module
 */

/** Size of the shared buffer of a manual guest clock: one Float64, the time in ms since the epoch. */
export const GUEST_TIME_BYTES = 8

/** A guest timer's handle: a system timer, or an entry of the manual list. */
export type GuestTimer = NodeJS.Timeout | ManualTimer

interface ManualTimer {
  due: number
  seq: number
  fn: () => void
}

let cell: Float64Array | undefined
const manual = new Set<ManualTimer>()
let seq = 0

/** Called once by the executor thread with the buffer of a manual clock, if the runtime has one. */
export function setGuestTime(buffer: SharedArrayBuffer | undefined): void {
  cell = buffer ? new Float64Array(buffer, 0, 1) : undefined
}

/** Drops every manual guest timer (the thread is reset for another runtime). */
export function clearGuestTimers(): void {
  manual.clear()
}

/** True when guests follow a manual clock. */
export function guestClockIsManual(): boolean {
  return cell !== undefined
}

/** The manual clock's time (ms since the epoch), or NaN when guests follow the system clock. */
export function manualGuestTime(): number {
  return cell ? cell[0]! : NaN
}

/** Arms a guest timer on the guests' clock. */
export function setGuestTimer(fn: () => void, ms: number): GuestTimer {
  if (!cell) return setTimeout(fn, ms)
  const timer = { due: cell[0]! + ms, seq: seq++, fn }
  manual.add(timer)
  return timer
}

export function clearGuestTimer(timer: GuestTimer): void {
  if (!manual.delete(timer as ManualTimer)) clearTimeout(timer as NodeJS.Timeout)
}

/**
 * Runs every manual timer due by the clock's time, earliest first (ties in the order they were
 * armed); a timer armed by one of them runs too when it is already due.
 */
export function fireDueGuestTimers(): void {
  if (!cell) return
  for (;;) {
    let first: ManualTimer | undefined
    for (const t of manual) if (!first || t.due < first.due || (t.due === first.due && t.seq < first.seq)) first = t
    if (!first || first.due > cell[0]!) return
    manual.delete(first)
    first.fn()
  }
}

/** When the next manual timer is due (ms since the epoch); Infinity when none is armed. */
export function nextGuestTimer(): number {
  let next = Infinity
  for (const t of manual) if (t.due < next) next = t.due
  return next
}
