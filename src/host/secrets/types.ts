/**
 * The secrets domain's store interface: where sealed secrets are kept
 * (`createRuntime({ adapters: { secrets } })`).
 *
 * @module
 */
/**
 * Where encrypted secrets are kept: opaque sealed blobs by name. fnbox seals them (AES-256-GCM)
 * before they reach this store, so a backend never holds a secret in clear.
 *
 * @public
 */
export interface SealedSecretStore {
  get(name: string): Promise<Uint8Array | undefined>
  set(name: string, sealed: Uint8Array): Promise<void>
  delete(name: string): Promise<boolean>
  /** Names in code-point order. */
  list(): Promise<string[]>
}
