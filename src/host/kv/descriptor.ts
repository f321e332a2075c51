/**
 * The kv domain: a key-value store with expiry (`kv` of `fnbox:host`, `runtime.kv`). Its parts:
 * `types.ts` (the store interface), `operations.ts`, `memory.ts`, `postgres.ts` with `sql.ts`
 * (migrations), `guest.js` and `guest-types.ts`.
 *
 * @internal
 * @module
 */
import { defineDomain } from '../domain.js'
import { KV_GUEST_TYPES } from './guest-types.js'
import { MemoryKvStore } from './memory.js'
import { KV_OPERATIONS } from './operations.js'
import type { KvStore } from './types.js'

export const kvDomain = defineDomain<KvStore>({
  name: 'kv',
  adapter: true,
  transactional: true,
  operations: KV_OPERATIONS,
  memory: ({ gate, clock }) => new MemoryKvStore({ gate, clock }),
  sql: async () => (await import('./sql.js')).kvSql,
  sweep: async (store) => (await store.sweep?.()) ?? 0,
  guest: { name: 'kv', client: './kv/guest.js', types: KV_GUEST_TYPES, typeName: 'FnboxKv' },
})
