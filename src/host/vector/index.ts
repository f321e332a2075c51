/**
 * The vector domain's stores: memory (exact search) and Postgres with pgvector (HNSW, exact when
 * filtered), and the checks of vectors and filters they share, for the validation layer to reuse.
 *
 * @internal
 * @module
 */
export { MemoryVectorStore, type MemoryVectorStoreOptions } from './memory.js'
export { PostgresVectorStore } from './postgres.js'
export { checkFilter, FILTER_LIMITS, type VectorCondition } from './filter.js'
export { checkVector } from './rules.js'
