/**
 * The doorbell of an executor thread: how the main thread wakes an idle executor faster than a
 * message alone does. Messages still carry everything (structured clone, transferred bodies,
 * streams, in order); the doorbell only shortens the wake-up. A `SharedArrayBuffer` of
 * {@link DOORBELL_BYTES}: an Int32 at 0 the main thread bumps and notifies after each message it
 * posts ({@link ring}), a Float64 at 8 the milliseconds the thread has spent parked so far.
 *
 * An executor that has just finished its work and has nothing else pending parks: it blocks in
 * `Atomics.wait` on the bell for up to {@link PARK_MS}, and when the bell rings takes the message
 * with `receiveMessageOnPort` at once, instead of going back to its event loop and waiting for
 * libuv to deliver it. Measured on the 2-core machine (`node bench/run.mjs mailbox`): a message
 * round trip to a worker is ~22 us, ~15 us when the worker waits on the bell; answering through
 * shared memory and `Atomics.waitAsync` on the main thread gains nothing over a message back, so
 * answers stay messages.
 *
 * A parked thread runs neither its timers nor its promise jobs: it parks only when no invocation,
 * creation, host call or guest timer is pending ({@link Parking} asks), and for at most
 * {@link PARK_MS}, so housekeeping timers (blank refills, snapshot packing) run that much late at
 * worst; once that time passes without a message it stays on its event loop until it next
 * finishes some work. Time parked is not work: the main thread takes it out of the thread's
 * event-loop utilisation ({@link parkedMs}).
 *
 * @internal
 * @module
 */
import { receiveMessageOnPort, type MessagePort } from 'node:worker_threads'

/** Size of the shared buffer behind a doorbell. */
export const DOORBELL_BYTES = 16

/**
 * How long an executor stays parked without a message before it goes back to its event loop.
 * Calls that follow each other within this time find the thread parked.
 */
export const PARK_MS = 5

/** Main thread: a message was posted to the thread; wakes it if it is parked. */
export function ring(bell: Int32Array): void {
  Atomics.add(bell, 0, 1)
  // Without a waiter this takes no system call.
  Atomics.notify(bell, 0)
}

/** Main thread: how long the thread has spent parked so far, in ms. */
export function parkedMs(buffer: SharedArrayBuffer): number {
  return new Float64Array(buffer, 8, 1)[0]!
}

export interface Parking {
  /** Tries to park the thread after the current task, if it is idle by then. */
  soon(): void
}

/**
 * Executor thread: parks on `buffer`'s bell when `idle()` says nothing is pending; `deliver`
 * receives each message taken from `port` meanwhile, as the port's own listener would.
 */
export function createParking(
  buffer: SharedArrayBuffer,
  port: MessagePort,
  idle: () => boolean,
  deliver: (message: unknown) => void,
): Parking {
  const bell = new Int32Array(buffer, 0, 1)
  const parked = new Float64Array(buffer, 8, 1)
  let scheduled = false
  const park = (): void => {
    scheduled = false
    while (idle()) {
      // The bell's value before looking at the port: a message posted after the look rings it
      // past `seen`, and the wait returns at once.
      const seen = Atomics.load(bell, 0)
      const next = receiveMessageOnPort(port)
      if (next) {
        deliver(next.message)
        // Its work runs on the event loop (promise jobs, timers); park again once it is done.
        soon()
        return
      }
      const start = performance.now()
      const woke = Atomics.wait(bell, 0, seen, PARK_MS)
      parked[0] = parked[0]! + (performance.now() - start)
      if (woke === 'timed-out') return
    }
  }
  const soon = (): void => {
    if (scheduled) return
    scheduled = true
    setImmediate(park)
  }
  return { soon }
}
