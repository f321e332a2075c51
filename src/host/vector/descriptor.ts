/**
 * The vector domain: similarity search over indexes of vectors with metadata filters (`vector`
 * of `fnbox:host`, `runtime.vector`; pgvector on SQL storage). Its parts: `types.ts` (the store
 * interface), `operations.ts`, `memory.ts`, `postgres.ts` with `sql.ts` (migrations), `guest.js`
 * and `guest-types.ts`; `filter.ts` and `rules.ts` hold the checks its stores share.
 *
 * @internal
 * @module
 */
import { defineDomain } from '../domain.js'
import { VECTOR_GUEST_TYPES } from './guest-types.js'
import { MemoryVectorStore } from './memory.js'
import { VECTOR_OPERATIONS } from './operations.js'
import type { VectorStore } from './types.js'

export const vectorDomain = defineDomain<VectorStore>({
  name: 'vector',
  adapter: true,
  transactional: true,
  operations: VECTOR_OPERATIONS,
  memory: ({ gate }) => new MemoryVectorStore({ gate }),
  sql: async () => (await import('./sql.js')).vectorSql,
  guest: { name: 'vector', client: './vector/guest.js', types: VECTOR_GUEST_TYPES, typeName: 'FnboxVector' },
})
