/**
 * Executor threads kept warm between runtimes of one process. Starting a thread is a Node worker,
 * its 0.5 MB script and the QuickJS engine: most of what `createRuntime` costs. A runtime that
 * closes with nothing in flight on a thread hands it here, emptied (the thread drops every
 * function, instance, snapshot, blank engine and guest timer of that runtime: `release`), and the
 * next runtime to start takes it (`adopt`, with the new runtime's settings) instead of starting
 * one. Test suites that create and close runtimes test after test are the case it serves.
 *
 * Bounded: at most {@link MAX_IDLE} threads wait, each for {@link IDLE_MS} at most, then it is
 * terminated; a waiting thread is unref'd, so it never keeps the process alive. The cache is
 * process-wide (on `globalThis`, keyed by the executor script's URL: two copies of fnbox in one
 * process, or a test runner that loads fnbox anew per file, find the same threads; a thread only
 * goes to a runtime of the same script).
 *
 * @internal
 * @module
 */
import { availableParallelism } from 'node:os'
import type { Worker } from 'node:worker_threads'
import type { Batch } from '../sandbox/batch.js'
import type { ExecutorInit, FromExecutor, ToExecutor } from '../sandbox/protocol.js'

/** Threads kept waiting at most: as many as a runtime starts by default. */
export const MAX_IDLE = Math.max(1, availableParallelism())
/** How long a thread waits for another runtime before it is terminated, in ms. */
export const IDLE_MS = 5_000

interface IdleThread {
  worker: Worker
  timer: NodeJS.Timeout
}

const KEY = Symbol.for('fnbox.warmExecutorThreads')
const cache: Map<string, IdleThread[]> =
  ((globalThis as Record<symbol, unknown>)[KEY] as Map<string, IdleThread[]> | undefined) ??
  new Map<string, IdleThread[]>()
;(globalThis as Record<symbol, unknown>)[KEY] = cache

/** Keeps `worker` (running `url`, already told to `release`) for the next runtime; false when full. */
export function keepWarm(url: URL, worker: Worker): boolean {
  const idle = cache.get(url.href) ?? []
  if (idle.length >= MAX_IDLE) return false
  cache.set(url.href, idle)
  forget(worker)
  worker.unref()
  const entry: IdleThread = {
    worker,
    timer: setTimeout(() => {
      drop(url, entry)
      void worker.terminate()
    }, IDLE_MS).unref(),
  }
  // A thread that dies while it waits is forgotten. No 'message' listener: one refs the thread's port.
  worker.once('exit', () => drop(url, entry))
  worker.on('error', () => undefined)
  idle.push(entry)
  return true
}

/** A warm thread of `url` for a starting runtime (the most recently kept), or undefined. */
export function takeWarm(url: URL): Worker | undefined {
  const entry = cache.get(url.href)?.pop()
  if (!entry) return undefined
  clearTimeout(entry.timer)
  forget(entry.worker)
  return entry.worker
}

/** Threads waiting for `url`: for tests. */
export function warmThreads(url: URL): number {
  return cache.get(url.href)?.length ?? 0
}

/**
 * Removes the listeners of whoever had the thread. Only these events: Node's own listeners on a
 * worker ('newListener' and 'removeListener', which ref its message port) must stay.
 */
function forget(worker: Worker): void {
  for (const event of ['message', 'messageerror', 'error', 'exit', 'online']) worker.removeAllListeners(event)
}

function drop(url: URL, entry: IdleThread): void {
  const idle = cache.get(url.href)
  const i = idle?.indexOf(entry) ?? -1
  if (i >= 0) idle!.splice(i, 1)
}

/**
 * Starts a warm thread's service of a new runtime: it resets to `init` and answers `ready`
 * (resolved), as a new thread does. What it sends before `ready` is of the runtime before (the
 * executor drops it).
 */
export function adoptWarm(worker: Worker, init: ExecutorInit): Promise<void> {
  const ready = new Promise<void>((resolve, reject) => {
    const onMessage = (batch: Batch<FromExecutor>): void => {
      if (!batch.msgs.some((msg) => msg.t === 'ready')) return
      worker.off('message', onMessage)
      worker.off('error', onError)
      resolve()
    }
    const onError = (err: Error): void => {
      worker.off('message', onMessage)
      reject(err)
    }
    worker.on('message', onMessage)
    worker.once('error', onError)
  })
  worker.ref()
  worker.postMessage({ t: 'batch', msgs: [{ t: 'adopt', init }] } satisfies Batch<ToExecutor>)
  return ready
}
