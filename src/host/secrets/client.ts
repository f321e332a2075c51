// The host's own access to the secrets domain (`runtime.secrets`): the same operations, validation and
// typed errors as the guest's `secrets` of `fnbox:host`.
import type { BackendRef } from '../domains/clients.js'
import { storageCall } from '../domains/operations.js'

/**
 * Secrets, encrypted at rest (AES-256-GCM). A function reads only those granted to it at deploy
 * (`deploy(name, { secrets: ['OPENAI_API_KEY'] })`); a change reaches running functions at once.
 * Values never come back from the host API: use them through functions.
 *
 * @example
 * ```ts
 * const runtime = await createRuntime({ secrets: { key: process.env.FNBOX_SECRET_KEY } })
 * await runtime.secrets.set('OPENAI_API_KEY', 'sk-...')
 * ```
 * @public
 */
export interface SecretsClient {
  /** Stores (or replaces) a secret, encrypted; functions granted it see the new value at once. */
  set(name: string, value: string): Promise<void>
  /** True when the secret existed. */
  delete(name: string): Promise<boolean>
  /** Names only, in code-point order. */
  list(): Promise<string[]>
}

export class SecretsClientImpl implements SecretsClient {
  readonly #backend: BackendRef
  readonly #changed: (name: string) => Promise<void>

  constructor(backend: BackendRef, changed: (name: string) => Promise<void>) {
    this.#backend = backend
    this.#changed = changed
  }

  async set(name: string, value: string): Promise<void> {
    const store = (await this.#backend()).secrets()
    await storageCall(() => store.set(name, value))
    await this.#changed(name)
  }

  /** True when the secret existed. */
  async delete(name: string): Promise<boolean> {
    const store = (await this.#backend()).secrets()
    const existed = await storageCall(() => store.delete(name))
    await this.#changed(name)
    return existed
  }

  /** Names only, in code-point order. */
  async list(): Promise<string[]> {
    const store = (await this.#backend()).secrets()
    return storageCall(() => store.list())
  }
}
