/**
 * Which guest code an executor thread is running, readable by the main thread while the executor
 * is blocked: a `SharedArrayBuffer` of {@link GUEST_SLOT_BYTES}. Its mark (an Int32 at 0) is
 * positive for the id of the invocation running guest code, negative for minus the id of an
 * instance whose module is being evaluated, 0 for no guest code; a Float64 at byte 8 holds when
 * that mark was entered (`Date.now()`). The main thread uses it to tell a guest wedged past its
 * own deadline (end the thread now) from one still within its limit that others wait behind
 * (answer them, wait): an evaluation queued behind others starts late, so its time limit counts
 * from the moment it was entered, not from when it was asked for.
 *
 * @internal
 * @module
 */

/** Size of the shared buffer behind a guest slot. */
export const GUEST_SLOT_BYTES = 16

let mark: Int32Array | undefined
let since: Float64Array | undefined

/** Called once by the executor thread with the buffer the main thread shares. */
export function setGuestSlot(buffer: SharedArrayBuffer): void {
  mark = new Int32Array(buffer, 0, 1)
  since = new Float64Array(buffer, 8, 1)
}

/** Marks guest code as running; returns the previous mark, for {@link leaveGuest}. */
export function enterGuest(next: number): number {
  if (!mark) return 0
  const previous = Atomics.load(mark, 0)
  // A nested entry of the same code (a pump inside an evaluation) keeps its start.
  if (previous !== next) {
    since![0] = Date.now()
    Atomics.store(mark, 0, next)
  }
  return previous
}

export function leaveGuest(previous: number): void {
  if (mark && Atomics.load(mark, 0) !== previous) {
    since![0] = Date.now()
    Atomics.store(mark, 0, previous)
  }
}

/** The main thread's reading of a slot: the mark and since when it holds (ms since the epoch). */
export function readGuestSlot(buffer: SharedArrayBuffer): { mark: number; since: number } {
  const m = Atomics.load(new Int32Array(buffer, 0, 1), 0)
  return { mark: m, since: new Float64Array(buffer, 8, 1)[0]! }
}
