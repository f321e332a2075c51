/**
 * Sealed secrets in memory, for tests and single-process development.
 *
 * @module
 */
import type { SealedSecretStore } from './types.js'

/**
 * A {@link SealedSecretStore} in a `Map`. Blobs are copied in and out, so no caller can alter a
 * stored blob through a buffer it holds.
 *
 * @public
 */
export class MemorySealedSecretStore implements SealedSecretStore {
  readonly #sealed = new Map<string, Uint8Array>()

  async get(name: string): Promise<Uint8Array | undefined> {
    const sealed = this.#sealed.get(name)
    return sealed && new Uint8Array(sealed)
  }

  async set(name: string, sealed: Uint8Array): Promise<void> {
    this.#sealed.set(name, new Uint8Array(sealed))
  }

  async delete(name: string): Promise<boolean> {
    return this.#sealed.delete(name)
  }

  async list(): Promise<string[]> {
    // UTF-8 byte order is code-point order (what Postgres' "C" collation gives).
    return [...this.#sealed.keys()].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)))
  }
}
