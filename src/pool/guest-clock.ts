/**
 * How a runtime hands its executor threads to a clock that drives the guests' time too
 * (fnbox/testing's `ManualClock`): the clock carries this link under {@link GUEST_CLOCK}; the
 * runtime shares the link's buffer with every thread it starts and attaches its threads, so
 * the clock can fire guest timers and wait until the guests are idle. Any other clock has no
 * link, and guests follow the system's time.
 *
 * @internal
 * @module
 */

/** The property of a clock that carries its {@link GuestClockLink}. */
export const GUEST_CLOCK: unique symbol = Symbol.for('fnbox.guestClock') as never

/** One executor thread, as a manual clock syncs it (see `Executor.sync`). */
export interface SyncableThread {
  readonly activity: { received: number; sent: number; busy: boolean }
  sync(): Promise<number>
}

export interface GuestClockLink {
  /** The clock's time (a Float64, ms since the epoch), shared with the threads. */
  readonly buffer: SharedArrayBuffer
  /** Adds a runtime's threads (read again on every sync: threads restart); returns a detach. */
  attach(threads: () => readonly SyncableThread[]): () => void
}

/** The link of `clock`, if it drives guest time. */
export function guestClockOf(clock: unknown): GuestClockLink | undefined {
  if (typeof clock !== 'object' || clock === null) return undefined
  return (clock as { [GUEST_CLOCK]?: GuestClockLink })[GUEST_CLOCK]
}
