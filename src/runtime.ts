/**
 * The runtime's public surface, kept at this path for importers; the code lives in
 * `src/runtime/` (the facade is `runtime/runtime.ts`).
 *
 * @module
 */
export { createRuntime, Runtime, type CloseOptions, type FetchOptions } from './runtime/runtime.js'
export type { RuntimeOptions } from './runtime/runtime-options.js'
export { DEPLOY_KEYS, type DeployOptions, type Deployment } from './runtime/deploy-options.js'
export type { ExecutorThreadStats, FunctionStats, RuntimeStats } from './runtime/stats.js'
