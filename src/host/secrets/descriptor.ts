/**
 * The secrets domain: values sealed with AES-256-GCM at rest (`secrets` of `fnbox:host`,
 * `runtime.secrets`). Its store keeps sealed blobs only; the vault (`vault.ts`) seals them and
 * `store.ts` is what the runtime uses. Guests read granted values synchronously (they arrive
 * with the invocation), so the domain has no data operations. Its parts: `types.ts` (the store
 * interface), `memory.ts`, `postgres.ts` with `sql.ts` (migrations), `guest.js` and
 * `guest-types.ts`.
 *
 * @internal
 * @module
 */
import { defineDomain } from '../domain.js'
import { SECRETS_GUEST_TYPES } from './guest-types.js'
import { MemorySealedSecretStore } from './memory.js'
import type { SealedSecretStore } from './types.js'

export const secretsDomain = defineDomain<SealedSecretStore>({
  name: 'secrets',
  adapter: true,
  memory: () => new MemorySealedSecretStore(),
  sql: async () => (await import('./sql.js')).secretsSql,
  guest: {
    name: 'secrets',
    client: './secrets/guest.js',
    types: SECRETS_GUEST_TYPES,
    typeName: 'FnboxSecrets',
  },
})
