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
export type { FilesClient } from './host/files/client.js'
export type { KvClient } from './host/kv/client.js'
export type { SecretsClient } from './host/secrets/client.js'
export type { CreateIndexOptions, VectorClient } from './host/vector/client.js'
export type { PostgresKvOptions, StorageOption } from './storage/backend.js'
export type { PgPoolClientLike, PgPoolLike } from './storage/pg-pool.js'
export type { WriteOutcome } from './host/domains/session.js'
export type { FileInfo, FileListOptions, FileListResult, FileStore } from './host/files/types.js'
export type { JsonValue, StorageAdapters, StorageTransaction } from './host/domains/types.js'
export type { KvListKey, KvListOptions, KvListResult, KvSetOptions, KvStore } from './host/kv/types.js'
export type { SealedSecretStore } from './host/secrets/types.js'
export type {
  VectorFilter,
  VectorFilterOps,
  VectorFilterValue,
  VectorIndexInfo,
  VectorItem,
  VectorMatch,
  VectorMetric,
  VectorQuery,
  VectorStore,
} from './host/vector/types.js'
export type { Limits, PoolBudgetOptions, PoolOptions } from './options.js'
export { ManualClock } from './clock.js'
export type { Clock } from './clock.js'
export type { PoolBudgetStats } from './pool/pool-manager.js'
export { DEFAULT_BREAKER } from './reliability/breaker.js'
export type { BreakerOptions, BreakerState, BreakerStats } from './reliability/breaker.js'
export { DEFAULT_CALL_RETRY_ON, DEFAULT_RETRY } from './reliability/backoff.js'
export type { CallRetryOptions, RetryOptions } from './reliability/backoff.js'
export type { QuotaOptions, QuotaStats } from './reliability/quota.js'
export { DEFAULT_SHEDDING } from './reliability/shedding.js'
export type { LoadLevelEvent, LoadSample, LoadStats, Priority, SheddingOptions } from './reliability/shedding.js'
export type { EgressOptions, UpstreamAuth, UpstreamOptions, UpstreamRetryOptions } from './reliability/upstreams.js'
export type { UpstreamStats } from './reliability/egress.js'
export type { HealthStats } from './reliability/health.js'
export type { CredentialEvent, CredentialFailure, CredentialStats } from './reliability/credentials.js'
export type { ClientRateLimitOptions } from './reliability/client-rate-limit.js'
export type {
  BreakerEvent,
  DeployEvent,
  ExecutorRestartEvent,
  InstanceEvent,
  InvokeEvent,
  JobEndEvent,
  JobsErrorEvent,
  JobStartEvent,
  LogEvent,
  PoolScaleEvent,
  RuntimeEvents,
  SnapshotEvent,
} from './events.js'
export type { HttpErrorHandler, HttpMountOptions, NodeRequestLike } from './triggers/http/node-http.js'
export type { ExpressMiddleware, ExpressRequestLike } from './triggers/http/express.js'
export type { KoaContextLike, KoaMiddleware, KoaMountOptions } from './triggers/http/koa.js'
export type { MetricsOptions } from './observability/metrics.js'
export type { TracingOptions } from './observability/tracing.js'
export type { LoggedError, LoggerLike } from './observability/logs.js'
export type { HealthCheck, HealthReport, HealthStatus } from './observability/health.js'
export { bundle } from './bundle/bundle.js'
export { DEFAULT_JOB_RETENTION, DEFAULT_JOB_RETRY, JOB_DEFAULTS, JOB_LIMITS, JOB_STATES } from './host/jobs/jobs.js'
export type {
  ClaimedJob,
  ClaimRequest,
  CompleteOptions,
  CronFiring,
  EnqueueOptions,
  EnqueueResult,
  Job,
  JobEnqueuer,
  JobFailure,
  JobLease,
  JobListOptions,
  JobListResult,
  JobRequest,
  JobRetention,
  JobRetryPolicy,
  JobState,
  JobStore,
  VersionGonePolicy,
  WorkerRegistration,
} from './host/jobs/jobs.js'
export type { CronOptions, JobContext, JobHandlerOptions, JobsOptions } from './triggers/jobs/background-options.js'
export type { HooksClient, JobsClient } from './triggers/jobs/clients.js'
export type { TableEvents } from './triggers/hooks/table-hooks.js'
export type { CronCatchUp } from './triggers/cron/scheduler.js'
export type { BundleOptions, BundleResult } from './bundle/bundle.js'
export { loadFunctions } from './dev/load.js'
export type { DeployTarget, LoadedFunction, LoadOptions, LoadProgress, LoadResult } from './dev/load.js'
