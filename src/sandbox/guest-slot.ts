/**
 * Which guest code an executor thread is running, readable by the main thread while the executor
 * is blocked: a `SharedArrayBuffer` of {@link GUEST_SLOT_BYTES}. Its mark (an Int32 at 0) is
 * positive for the id of the invocation running guest code, negative for minus the id of an
 * instance whose module is being evaluated, 0 for no guest code; a Float64 at byte 8 holds when
 * that mark was entered (`Date.now()`), and one at byte 16 the CPU time (ms) the marked invocation
 * had used before it entered. The main thread uses it to tell a guest wedged past its own deadline
 * or CPU limit (end the thread now) from one still within its limits that others wait behind
 * (answer them, wait): an evaluation queued behind others starts late, so its time limit counts
 * from the moment it was entered, not from when it was asked for.
 *
 * @internal
 * @module
 */

/** Size of the shared buffer behind a guest slot. */
export const GUEST_SLOT_BYTES = 24

let mark: Int32Array | undefined
let since: Float64Array | undefined

/** Called once by the executor thread with the buffer the main thread shares. */
export function setGuestSlot(buffer: SharedArrayBuffer): void {
  mark = new Int32Array(buffer, 0, 1)
  since = new Float64Array(buffer, 8, 2)
}

/**
 * Marks guest code as running, `cpuBefore` ms of CPU time already used by it; returns the
 * previous mark, for {@link leaveGuest}.
 */
export function enterGuest(next: number, cpuBefore = 0): number {
  if (!mark) return 0
  const previous = Atomics.load(mark, 0)
  // A nested entry of the same code (a pump inside an evaluation) keeps its start.
  if (previous !== next) {
    since![0] = Date.now()
    since![1] = cpuBefore
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

/**
 * The main thread's reading of a slot: the mark, since when it holds (ms since the epoch), and
 * the CPU time its invocation had used before.
 */
export function readGuestSlot(buffer: SharedArrayBuffer): { mark: number; since: number; cpuBefore: number } {
  const m = Atomics.load(new Int32Array(buffer, 0, 1), 0)
  const times = new Float64Array(buffer, 8, 2)
  return { mark: m, since: times[0]!, cpuBefore: times[1]! }
}
