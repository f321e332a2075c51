/**
 * Abort listeners fanned out from one: many operations waiting on one shared signal (an
 * invocation's deadline, a request's) each get a callback, and the signal holds a single
 * listener that calls them.
 *
 * Each `addEventListener('abort')` on a shared signal costs a listener until it is removed, and
 * Node warns past 10 (`MaxListenersExceededWarning: Possible EventTarget memory leak detected`):
 * 50 concurrent guest host calls under one deadline printed it. Raising the limit would hide a
 * real leak; here a finished operation removes its callback from a set, and the signal's one
 * listener stays until it aborts or is collected.
 *
 * @internal
 * @module
 */

const waiting = new WeakMap<AbortSignal, Set<() => void>>()

/**
 * Calls `listener` once when `signal` aborts. Returns the function that removes it: call it when
 * the operation ends. As with `addEventListener`, a signal that has already aborted never calls
 * it: check `signal.aborted` first.
 */
export function onAbort(signal: AbortSignal, listener: () => void): () => void {
  if (signal.aborted) return () => {}
  let listeners = waiting.get(signal)
  if (!listeners) {
    const created = new Set<() => void>()
    listeners = created
    waiting.set(signal, created)
    signal.addEventListener(
      'abort',
      () => {
        waiting.delete(signal)
        for (const each of created) each()
      },
      { once: true },
    )
  }
  const own = listeners
  // A wrapper: the same function added twice is two callbacks, as two operations would expect.
  const entry = (): void => listener()
  own.add(entry)
  return () => {
    own.delete(entry)
  }
}
