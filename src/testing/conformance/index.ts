/**
 * `fnbox/testing/conformance`: the conformance suites of the store interfaces. An adapter for
 * `createRuntime({ adapters })` runs `runKvStoreConformance(() => myStore)` in a vitest test file.
 * They declare vitest tests (`describe`, `it`, `expect`), so this entry point imports vitest (an
 * optional peer dependency); `fnbox/testing` does not, and works under any test runner.
 *
 * @example
 * ```ts
 * import { runKvStoreConformance } from 'fnbox/testing/conformance'
 *
 * runKvStoreConformance(() => new MyKvStore(), { name: 'my adapter' })
 * ```
 * @module
 */
export type { ConformanceOptions, OpenStore, StoreHarness } from './harness.js'
export { runFileStoreConformance } from './files.js'
export { runJobStoreConformance, type JobStoreClock, type JobStoreHarness } from './jobs.js'
export { runKvStoreConformance } from './kv.js'
export { runSealedSecretStoreConformance } from './secrets.js'
export { runVectorStoreConformance } from './vector.js'
