/**
 * The gate every invocation passes before a sandbox is acquired: load shedding by priority, the
 * function's quotas, then its circuit breaker. Each refuses with a typed error (503 / 429 / 503,
 * all with `Retry-After`) and costs no sandbox. What an invocation's end counts as for the
 * breaker is decided here too.
 *
 * @internal
 * @module
 */
import type { FnboxError, FnboxErrorCode } from '../errors.js'
import type { BreakerTicket, CircuitBreaker, Outcome } from './breaker.js'
import type { FunctionQuota, QuotaTicket } from './quota.js'
import type { LoadShedder, Priority } from './shedding.js'

/**
 * Failures that count against a function's breaker: the function misbehaved or its sandbox was
 * lost. `ERR_TIMEOUT` counts as a timeout. Everything else (a body too large, a full queue, a
 * quota, the runtime closing, a client that went away) says nothing about the function's health.
 */
const COUNTED: ReadonlySet<FnboxErrorCode> = new Set([
  'ERR_GUEST_EXCEPTION',
  'ERR_CPU_LIMIT',
  'ERR_MEMORY_LIMIT',
  'ERR_STACK_OVERFLOW',
  'ERR_RESPONSE_TOO_LARGE',
  'ERR_EXECUTOR_LOST',
  'ERR_INTERNAL',
])

/**
 * What an invocation's end counts as: `error` when it failed, `status` the HTTP status the
 * function answered (a 5xx answer counts as a failure), `clientGone` when the caller left first.
 */
export function invocationOutcome(
  error: FnboxError | undefined,
  status: number | undefined,
  clientGone: boolean,
): Outcome {
  if (clientGone) return 'neutral'
  if (error) {
    if (error.code === 'ERR_TIMEOUT') return 'timeout'
    return COUNTED.has(error.code) ? 'failure' : 'neutral'
  }
  return status !== undefined && status >= 500 ? 'failure' : 'success'
}

/** One admitted invocation's holds on the quota and the breaker. */
export class GateTicket {
  readonly #quota: QuotaTicket
  readonly #breaker: CircuitBreaker | undefined
  readonly #ticket: BreakerTicket | undefined

  constructor(quota: QuotaTicket, breaker: CircuitBreaker | undefined, ticket: BreakerTicket | undefined) {
    this.#quota = quota
    this.#breaker = breaker
    this.#ticket = ticket
  }

  /** The invocation never started (no instance could be had): nothing is counted. */
  abandon(): void {
    this.#quota.cancel()
    if (this.#ticket) this.#breaker!.settle(this.#ticket, 'neutral')
  }

  /** The invocation ended after `executionMs` holding its instance. */
  finish(outcome: Outcome, executionMs: number, error?: FnboxError): void {
    this.#quota.finish(executionMs)
    if (this.#ticket) this.#breaker!.settle(this.#ticket, outcome, error)
  }
}

/** What the gate reads of a function version. */
export interface GateParts {
  name: string
  priority: Priority
  quota: FunctionQuota
  breaker: CircuitBreaker | undefined
}

/** Admits an invocation of one function version, or throws the refusal. */
export function admit(parts: GateParts, shedder: LoadShedder | undefined): GateTicket {
  shedder?.check(parts.priority, parts.name)
  const quota = parts.quota.admit()
  let ticket: BreakerTicket | undefined
  try {
    ticket = parts.breaker?.admit()
  } catch (err) {
    quota.cancel()
    throw err
  }
  return new GateTicket(quota, parts.breaker, ticket)
}
