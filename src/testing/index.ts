/**
 * `fnbox/testing`: tools for testing with fnbox under vitest. The conformance suites check a
 * store of yours (an adapter for `createRuntime({ adapters })`) against the contract fnbox's own
 * stores keep: call one in a vitest test file with a function that opens your store.
 *
 * vitest is an optional peer dependency: only this entry point imports it.
 *
 * @example
 * ```ts
 * // my-kv.test.ts
 * import { runKvStoreConformance } from 'fnbox/testing'
 * import { MyRedisKvStore } from './my-redis-kv.js'
 *
 * runKvStoreConformance(async () => {
 *   const store = await MyRedisKvStore.connect(process.env.REDIS_URL!)
 *   return { store, close: () => store.quit() }
 * }, { name: 'redis' })
 * ```
 * @module
 */
export type { ConformanceOptions, OpenStore, StoreHarness } from './conformance/harness.js'
export { runFileStoreConformance } from './conformance/files.js'
export { runJobStoreConformance, type JobStoreClock, type JobStoreHarness } from './conformance/jobs.js'
export { runKvStoreConformance } from './conformance/kv.js'
export { runSealedSecretStoreConformance } from './conformance/secrets.js'
export { runVectorStoreConformance } from './conformance/vector.js'
