/**
 * Transactions for the memory stores: a transaction works on forks (copies) of the stores and
 * swaps them in on commit. While one is open, writes from outside wait at the gate, so a commit
 * never overwrites them; reads from outside see the last committed state.
 *
 * @internal
 * @module
 */

/** A memory store that can take part in a transaction. */
export interface Forkable<T> {
  /** A copy of the current state that writes without waiting at the gate. */
  fork(): T
  /** Takes over the state of a fork made by {@link Forkable.fork}. */
  adopt(fork: T): void
}

export class WriteGate {
  #tail: Promise<void> = Promise.resolve()
  #open = false

  /** Runs a write, after any open transaction has finished. */
  async write<T>(fn: () => T): Promise<T> {
    while (this.#open) await this.#tail
    return fn()
  }

  /** Opens a transaction; resolves once no other one is open. Call the result to close it. */
  async exclusive(): Promise<() => void> {
    while (this.#open) await this.#tail
    this.#open = true
    let release!: () => void
    this.#tail = new Promise<void>((resolve) => (release = resolve))
    return () => {
      this.#open = false
      release()
    }
  }
}
