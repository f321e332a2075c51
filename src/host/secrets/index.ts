/**
 * The secrets domain on the host: the vault that seals values, the sealed stores, and the store
 * the runtime uses.
 *
 * @module
 */

export { MemorySealedSecretStore } from './memory.js'
export { PostgresSealedSecretStore } from './postgres.js'
export { MAX_SECRET_BYTES, SECRET_NAME, SecretStore } from './store.js'
export { SECRET_KEY_ENV, SecretVault } from './vault.js'
