/**
 * fnbox: run user-written JavaScript functions in QuickJS WebAssembly sandboxes inside any
 * Node.js backend, off the event loop, with hard limits, warm pools and Express/Koa mounts.
 *
 * @packageDocumentation
 */
export { createRuntime, Runtime } from './runtime.js'
export type {
  CloseOptions,
  DeployOptions,
  Deployment,
  ExecutorThreadStats,
  FetchOptions,
  FunctionStats,
  RuntimeOptions,
  RuntimeStats,
} from './runtime.js'
export { FnboxError, isFnboxError } from './errors.js'
export type { FnboxErrorCode, FnboxErrorOptions, SerializedFnboxError } from './errors.js'
export { DEFAULT_LIMITS, DEFAULT_POOL } from './options.js'
export { DATA_LIMITS } from './host/domains/validate.js'
export { DEFAULT_SCOPE } from './host/domains/clients.js'
export type { CreateIndexOptions, FilesClient, KvClient, SecretsClient, VectorClient } from './host/domains/clients.js'
export type { StorageOption } from './storage/backend.js'
export type {
  FileInfo,
  FileListOptions,
  FileListResult,
  FileStore,
  JsonValue,
  KvListKey,
  KvListOptions,
  KvListResult,
  KvSetOptions,
  KvStore,
  SealedSecretStore,
  StorageAdapters,
  StorageTransaction,
  VectorFilter,
  VectorFilterOps,
  VectorFilterValue,
  VectorIndexInfo,
  VectorItem,
  VectorMatch,
  VectorMetric,
  VectorQuery,
  VectorStore,
} from './host/domains/types.js'
export type { Limits, PoolBudgetOptions, PoolOptions } from './options.js'
export type { Clock } from './pool/clock.js'
export type { PoolBudgetStats } from './pool/pool-manager.js'
export type {
  DeployEvent,
  ExecutorRestartEvent,
  InstanceEvent,
  InvokeEvent,
  LogEvent,
  PoolScaleEvent,
  RuntimeEvents,
} from './events.js'
export type { HttpErrorHandler, HttpMountOptions, NodeRequestLike } from './triggers/http/node-http.js'
export type { ExpressMiddleware, ExpressRequestLike } from './triggers/http/express.js'
export type { KoaContextLike, KoaMiddleware, KoaMountOptions } from './triggers/http/koa.js'
