/**
 * Whether a guest's storage write has started, and keeping it from starting once its caller was
 * told it failed.
 *
 * A write can wait before it touches the database: for the database to open (PGlite's first
 * start takes seconds), for PGlite's one session, for a pool connection. When the invocation's
 * deadline passed meanwhile, the guest (and the caller of the invocation) had been told
 * `ERR_TIMEOUT`, and yet the write went on and committed: 200 concurrent `kv.incr` right after
 * start all failed, and 64 increments were there. Now the write runs inside a {@link StorageCall}
 * (an `AsyncLocalStorage` context, so it reaches the drivers through kysely untouched), and the
 * place where it would start, the moment it gets its connection, calls {@link startStorageCall}:
 * a cancelled call throws there instead of starting. A call that has started runs to its end;
 * its caller is told its outcome is unknown.
 *
 * @internal
 * @module
 */
import { AsyncLocalStorage } from 'node:async_hooks'

/** One storage call of an invocation. */
export class StorageCall {
  #started = false
  #cancelled: unknown

  /**
   * @param signal - Aborts when the caller has been told the call failed (its deadline).
   * @param write - Whether it changes data (the begin of a transaction does not).
   */
  constructor(
    readonly signal: AbortSignal,
    readonly write: boolean,
  ) {}

  get started(): boolean {
    return this.#started
  }

  /** Marks the call as started, unless it was cancelled: then it throws the cancellation. */
  start(): void {
    if (this.#started) return
    if (this.signal.aborted) throw this.signal.reason
    if (this.#cancelled !== undefined) throw this.#cancelled
    this.#started = true
  }

  /** Keeps the call from starting, if it has not: true when it never will. */
  cancel(reason: unknown): boolean {
    if (!this.#started) this.#cancelled ??= reason
    return !this.#started
  }
}

const current = new AsyncLocalStorage<StorageCall>()

/** Runs `work` as `call`: the drivers it reaches see it. */
export function runStorageCall<T>(call: StorageCall, work: () => Promise<T>): Promise<T> {
  return current.run(call, work)
}

/**
 * Where a driver is about to run the current call's first statement: marks it started, or throws
 * when it was cancelled while it waited. Outside a call (host API, sweeps), does nothing.
 */
export function startStorageCall(): void {
  current.getStore()?.start()
}
