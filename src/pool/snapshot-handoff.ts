/**
 * A snapshot on its way from the thread that took it to the others: a thread packs it after its
 * first answers (see `Engine.#snapshot`), and a new instance on another thread meanwhile waits
 * for it briefly rather than evaluating the code.
 *
 * @internal
 * @module
 */
import type { FunctionSource } from './executor-types.js'

/**
 * How long a new instance on another thread waits for a snapshot its function's first thread is
 * packing (it follows that thread's first answers, see `Engine.#snapshot`) before it evaluates.
 */
const SNAPSHOT_WAIT_MS = 250

/** Per function version, the snapshot a thread copied and is packing, until it arrives. */
export const snapshotsComing = new WeakMap<FunctionSource, { from: object; arrived: Promise<void>; done(): void }>()

/** `from` created an instance of `fn` and is packing its snapshot. */
export function expectSnapshot(fn: FunctionSource, from: object): void {
  if (snapshotsComing.has(fn)) return
  let done!: () => void
  const arrived = new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, SNAPSHOT_WAIT_MS)
    timer.unref()
    done = () => {
      clearTimeout(timer)
      resolve()
    }
  }).finally(() => snapshotsComing.delete(fn))
  snapshotsComing.set(fn, { from, arrived, done })
}
