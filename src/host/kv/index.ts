/**
 * The built-in KV stores: in memory, and in Postgres (PGlite or a server).
 *
 * @internal
 * @module
 */
export { MemoryKvStore } from './memory.js'
export { PostgresKvStore } from './postgres.js'
export { KvReadCache } from './read-cache.js'
