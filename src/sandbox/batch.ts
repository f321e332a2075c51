/**
 * Coalesces the messages one thread sends another within a tick into one `postMessage`: under
 * load a post costs more than the work it carries (~10 us on each side), and many calls end in
 * the same tick. Order is kept; a lone message waits only for the current microtask, an urgent
 * one (a guest's fetch and its body reads) not at all.
 *
 * @internal
 * @module
 */

export interface Batch<T> {
  t: 'batch'
  msgs: T[]
}

const settled = Promise.resolve()

export function createBatcher<T>(
  post: (message: Batch<T>, transfer: ArrayBuffer[]) => void,
): (msg: T, transfer?: ArrayBuffer[], urgent?: boolean) => void {
  let msgs: T[] = []
  let transfers: ArrayBuffer[] = []
  const flush = (): void => {
    if (msgs.length === 0) return
    const batch = { t: 'batch' as const, msgs }
    const moved = transfers
    msgs = []
    transfers = []
    post(batch, moved)
  }
  return (msg, transfer, urgent = false) => {
    // A promise job rather than queueMicrotask, which makes an AsyncResource per call.
    if (msgs.length === 0) void settled.then(flush)
    msgs.push(msg)
    if (transfer) for (const t of transfer) transfers.push(t)
    // An urgent message goes at once, with what is queued before it, rather than when the
    // sender's task ends: a guest can run on for a millisecond or more after asking for it.
    if (urgent) flush()
  }
}
