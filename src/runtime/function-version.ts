/**
 * One deployed version of a function, as the runtime's parts share it, and the mapping of its
 * failures to the errors a caller sees.
 *
 * @internal
 * @module
 */
import { FnboxError, isFnboxError } from '../errors.js'
import type { parseAllowedHosts } from '../host/net/index.js'
import type { StackMapper } from '../bundle/source-map.js'
import type { Limits } from '../options.js'
import type { FunctionSource } from '../pool/executor.js'
import type { FunctionPool } from '../pool/function-pool.js'
import type { FunctionMetrics } from '../observability/index.js'
import type { RecentWindow } from '../observability/window.js'
import type { ResolvedCallRetry } from '../reliability/backoff.js'
import type { CircuitBreaker, ResolvedBreakerOptions } from '../reliability/breaker.js'
import type { FunctionQuota, ResolvedQuota } from '../reliability/quota.js'
import type { Priority } from '../reliability/shedding.js'

/** A deployed version: its code as the executors load it, its pool and its policies. */
export interface FunctionVersion {
  name: string
  version: string
  key: string
  scope: string
  /** Names of the secrets granted at deploy. */
  grants: string[]
  /** What the executors load; `source.secrets` holds the granted secrets' current values. */
  source: FunctionSource
  limits: Limits
  pool: FunctionPool
  allowedHosts: ReturnType<typeof parseAllowedHosts>
  /** Waits for an instance over the last calls. */
  acquireWaits: RecentWindow
  /** The breaker's options; undefined when it is off. */
  breakerOptions: ResolvedBreakerOptions | undefined
  /** Undefined when the function's breaker is off, or its version no longer holds instances. */
  breaker: CircuitBreaker | undefined
  quotaOptions: ResolvedQuota
  /** The function's quota counters (shared by its versions; see Deployments). */
  quota: FunctionQuota
  /** Calls that got an instance. */
  acquired: number
  priority: Priority
  /** Upstreams whose credentials are injected for it. */
  upstreamGrants: ReadonlySet<string>
  retry: ResolvedCallRetry | undefined
  /** The invocation time limit: `limits.timeoutMs`, or the breaker's `timeoutMs` when shorter. */
  timeoutMs: number
  /** Maps guest stacks through the deploy's source map, when it has one. */
  stacks: StackMapper | undefined
  /** Its metrics (series looked up once); undefined when metrics are off. */
  metrics: FunctionMetrics | undefined
}

/** A failure to load a function, as `deploy` reports it (`ERR_DEPLOY_FAILED` naming it). */
export function deployError(name: string, err: unknown): FnboxError {
  if (isFnboxError(err) && err.code !== 'ERR_DEPLOY_FAILED' && err.code !== 'ERR_GUEST_EXCEPTION') return err
  const message = err instanceof Error ? err.message : String(err)
  return new FnboxError('ERR_DEPLOY_FAILED', `function ${name} failed to load: ${message}`, {
    cause: err,
    details: isFnboxError(err) ? { ...err.details, function: name } : { function: name },
  })
}

/** The error with its guest stack (`details.stack`) mapped through the function's source map. */
export function mapStack(stacks: StackMapper | undefined, error: FnboxError): FnboxError {
  const stack = error.details.stack
  if (!stacks || typeof stack !== 'string') return error
  const mapped = stacks.map(stack)
  if (mapped === stack) return error
  return new FnboxError(error.code, error.message, {
    cause: error.cause,
    status: error.status,
    retryAfterSeconds: error.retryAfterSeconds,
    details: { ...error.details, stack: mapped },
  })
}

/** A host failure that is not a FnboxError becomes an opaque `ERR_INTERNAL`. */
export function asFnboxError(err: unknown): FnboxError {
  if (isFnboxError(err)) return err
  return new FnboxError('ERR_INTERNAL', 'internal error', { cause: err })
}
