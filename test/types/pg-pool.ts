// Type-level test (run by `npm run typecheck`): a `pg` pool is what `storage.postgres` takes,
// though fnbox's own types name no `pg` type (users need no @types/pg).
import pg from 'pg'
import type { StorageOption } from '../../src/index.js'

const pool = new pg.Pool({ connectionString: 'postgres://db.invalid/app' })
export const storage: StorageOption = { postgres: pool }
export const withKv: StorageOption = { postgres: pool, kv: { unlogged: true } }
// @ts-expect-error: not a pool
export const wrong: StorageOption = { postgres: { query: () => undefined } }
