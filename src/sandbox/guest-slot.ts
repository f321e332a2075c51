/**
 * Which guest code an executor thread is running, readable by the main thread while the executor
 * is blocked: an `Int32Array` over a `SharedArrayBuffer`. Positive: the id of the invocation
 * running guest code; negative: minus the id of an instance whose module is being evaluated;
 * 0: no guest code. The main thread uses it to tell a guest wedged past its own deadline (end
 * the thread now) from one still within its limit that others wait behind (answer them, wait).
 *
 * @internal
 * @module
 */

let slot: Int32Array | undefined

/** Called once by the executor thread with the buffer the main thread shares. */
export function setGuestSlot(buffer: SharedArrayBuffer): void {
  slot = new Int32Array(buffer)
}

/** Marks guest code as running; returns the previous mark, for {@link leaveGuest}. */
export function enterGuest(mark: number): number {
  if (!slot) return 0
  const previous = Atomics.load(slot, 0)
  Atomics.store(slot, 0, mark)
  return previous
}

export function leaveGuest(previous: number): void {
  if (slot) Atomics.store(slot, 0, previous)
}
