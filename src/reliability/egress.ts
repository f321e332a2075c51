/**
 * Guest egress policies, between a guest's `fetch` and the guarded network: per upstream host a
 * timeout to the response head, retries with backoff for what is safe to repeat, a circuit
 * breaker and passive health; for declared upstreams, credentials injected by the host with
 * failover between keys. Every attempt lives within the invocation's deadline.
 *
 * Streaming is untouched: attempts are retried only before a response head is handed to the
 * guest; once it is, the body streams through as the upstream sends it.
 *
 * @internal
 * @module
 */
import { FnboxError, isFnboxError } from '../errors.js'
import type { GuardedFetch, GuardedRequestInit, GuardedResponse, NetPolicy } from '../host/net/index.js'
import { retrying } from './backoff.js'
import {
  CircuitBreaker,
  OPEN_DOOR,
  type Breaker,
  type BreakerState,
  type BreakerStats,
  type BucketRotation,
  type Outcome,
} from './breaker.js'
import { systemClock, type Clock } from '../clock.js'
import {
  CredentialPool,
  type Credential,
  type CredentialEvent,
  type CredentialFailure,
  type CredentialStats,
} from './credentials.js'
import type { Deadline } from './deadline.js'
import { PassiveHealth, type HealthStats } from './health.js'
import { parseRetryAfter } from './retry-after.js'
import type { ResolvedEgress, ResolvedUpstream } from './upstreams.js'

/** One upstream's figures in `runtime.stats().upstreams`. @public */
export interface UpstreamStats {
  /** The origin requests go to. */
  origin: string
  /** True for an upstream declared in `createRuntime({ upstreams })`. */
  declared: boolean
  /** Guest fetches to it. */
  requests: number
  /** Attempts repeated after a backoff. */
  retries: number
  /** Attempts moved to another credential at once. */
  failovers: number
  health: HealthStats
  breaker: BreakerStats | null
  /** Declared upstreams with `auth`: each key's health, by secret name. */
  credentials: CredentialStats[] | undefined
}

/** What a guest's fetch runs within. */
export interface EgressContext {
  deadline: Deadline
  /** Names of the upstreams whose credentials this function may use. */
  grants: ReadonlySet<string>
}

export interface EgressDeps {
  net: GuardedFetch
  defaults: ResolvedEgress
  upstreams: ReadonlyMap<string, ResolvedUpstream>
  readSecret(name: string): Promise<string | undefined>
  rotation: BucketRotation
  clock?: Clock
  onBreaker?: (upstream: string, state: BreakerState, stats: BreakerStats) => void
  onCredential?: (event: CredentialEvent) => void
  /** Hosts (not declared) whose state is kept; the least recently used go first. Default 1024. */
  maxHosts?: number
}

/** The longest delay a Node timer takes (about 24.8 days). */
const MAX_TIMER_MS = 2 ** 31 - 1

const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS', 'TRACE', 'PUT', 'DELETE'])
/** Network failures that happen before a request is sent: always safe to repeat. */
const NOT_SENT = new Set([
  'ECONNREFUSED',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'UND_ERR_CONNECT_TIMEOUT',
])
/** A test's MockAgent had no route (fnbox/testing): the same request can only fail the same way. */
const NO_MOCK_ROUTE = 'UND_MOCK_ERR_MOCK_NOT_MATCHED'
/** Reasons of guarded-fetch failures that say nothing about the upstream's health. */
const NEUTRAL_REASONS = new Set([
  'timeout', // the exchange's own limit: the invocation's deadline
  'deadline',
  'invalidUrl',
  'requestTooLarge',
  'redirect',
  'tooManyRedirects',
  'responseTooLarge',
  'unsupportedProtocol',
  'notAllowed',
])

class Target {
  readonly name: string
  readonly origin: string
  readonly declared: boolean
  readonly policy: ResolvedEgress
  readonly breaker: Breaker
  readonly health: PassiveHealth
  readonly credentials: CredentialPool | undefined
  requests = 0
  retries = 0
  failovers = 0

  constructor(
    name: string,
    origin: string,
    policy: ResolvedEgress,
    upstream: ResolvedUpstream | undefined,
    deps: EgressDeps,
  ) {
    this.name = name
    this.origin = origin
    this.declared = upstream !== undefined
    this.policy = policy
    const clock = deps.clock ?? systemClock
    this.health = new PassiveHealth(clock)
    this.breaker = policy.breaker
      ? new CircuitBreaker(`upstream ${name}`, policy.breaker, {
          clock,
          rotation: deps.rotation,
          onState: (state, stats) => deps.onBreaker?.(name, state, stats),
        })
      : OPEN_DOOR
    this.credentials = upstream?.auth
      ? new CredentialPool(name, upstream.auth, { readSecret: deps.readSecret, clock, onBenched: deps.onCredential })
      : undefined
  }

  stats(): UpstreamStats {
    return {
      origin: this.origin,
      declared: this.declared,
      requests: this.requests,
      retries: this.retries,
      failovers: this.failovers,
      health: this.health.stats(),
      breaker: this.breaker.stats(),
      credentials: this.credentials?.stats(),
    }
  }

  close(): void {
    if (this.breaker instanceof CircuitBreaker) this.breaker.shutdown()
  }
}

/** An attempt answered with a status that counts as a failure (429, 5xx); carries the response. */
class FailedResponse extends Error {
  constructor(
    readonly response: GuardedResponse,
    readonly retryAfterMs: number | undefined,
    /** Safe to send again (the upstream did not process it, or the request may be repeated). */
    readonly repeatable: boolean,
    /** Its status is one the policy retries after a backoff. */
    readonly retryStatus: boolean,
  ) {
    super(`upstream answered ${response.status}`)
  }
}

/** An attempt that failed on the network or timed out; carries the error for the guest. */
class FailedAttempt extends Error {
  constructor(
    readonly failure: unknown,
    readonly repeatable: boolean,
  ) {
    super('attempt failed')
  }
}

export class Egress {
  readonly #deps: EgressDeps
  readonly #clock: Clock
  readonly #declared = new Map<string, Target>()
  readonly #byOrigin = new Map<string, Target>()
  /** Hosts guests fetch that no upstream declares, least recently used first. */
  readonly #hosts = new Map<string, Target>()
  readonly #maxHosts: number

  constructor(deps: EgressDeps) {
    this.#deps = deps
    this.#clock = deps.clock ?? systemClock
    this.#maxHosts = deps.maxHosts ?? 1024
    for (const upstream of deps.upstreams.values()) {
      const target = new Target(upstream.name, upstream.origin, upstream, upstream, deps)
      this.#declared.set(upstream.name, target)
      this.#byOrigin.set(upstream.origin, target)
    }
  }

  #target(url: URL): Target {
    const origin = url.origin
    const declared = this.#byOrigin.get(origin)
    if (declared) return declared
    let target = this.#hosts.get(origin)
    if (target) {
      this.#hosts.delete(origin) // re-inserted: most recently used
    } else {
      target = new Target(url.host, origin, this.#deps.defaults, undefined, this.#deps)
      if (this.#hosts.size >= this.#maxHosts) {
        const [oldest, evicted] = this.#hosts.entries().next().value as [string, Target]
        this.#hosts.delete(oldest)
        evicted.close()
      }
    }
    this.#hosts.set(origin, target)
    return target
  }

  /**
   * Performs a guest's fetch under its upstream's policies. Resolves with the first acceptable
   * response, or with the last failed one (a 429 or 503 the retries could not get past); rejects
   * with the last network failure, `ERR_CIRCUIT_OPEN` while the upstream's breaker is open, or
   * `ERR_TIMEOUT` once the invocation's deadline has passed.
   */
  async fetch(url: string, init: GuardedRequestInit, policy: NetPolicy, ctx: EgressContext): Promise<GuardedResponse> {
    let parsed: URL
    try {
      parsed = new URL(url)
    } catch {
      return this.#deps.net.fetch(url, init, policy) // it names the problem
    }
    const { deadline } = ctx
    if (deadline.expired) throw deadline.error(`fetch to "${parsed.host}"`)
    const target = this.#target(parsed)
    target.requests++
    const credentials = target.credentials && ctx.grants.has(target.name) ? target.credentials : undefined
    const method = init.method.toUpperCase()
    const headers = credentials
      ? init.headers.filter(([name]) => name.toLowerCase() !== credentials.settings.header)
      : init.headers
    // Bodies arrive whole today; a streamed body (once guests can send one) is never replayed.
    const replayable = init.body === undefined || init.body instanceof Uint8Array
    const mayRepeat =
      replayable &&
      (IDEMPOTENT.has(method) ||
        target.policy.nonIdempotent ||
        headers.some(([n]) => n.toLowerCase() === 'idempotency-key'))
    const signal = init.signal ? AbortSignal.any([init.signal, deadline.signal]) : deadline.signal
    const tried = new Set<string>()

    const attempt = async (): Promise<GuardedResponse> => {
      let credential: Credential | undefined
      if (credentials) {
        credential = await credentials.pick(tried)
        if (!credential) {
          throw new FnboxError(
            'ERR_FETCH_FAILED',
            `Fetch to "${parsed.host}": upstream ${target.name} has no credentials set`,
            {
              details: { host: parsed.host, reason: 'noCredentials', upstream: target.name },
            },
          )
        }
        tried.add(credential.secret)
      }
      const sent = credential ? [...headers, [credential.header[0], credential.header[1]] as [string, string]] : headers
      const started = this.#clock.wallNow()
      let response: GuardedResponse
      try {
        response = await target.breaker.execute(
          (attemptSignal) =>
            this.#deps.net.fetch(
              url,
              {
                ...init,
                headers: sent,
                signal: attemptSignal,
                sensitiveHeaders: credential ? [credential.header[0]] : init.sensitiveHeaders,
              },
              // The whole exchange, body included, ends with the invocation: through `signal`, the
              // deadline's, which moves later when the invocation's response streams (an upstream
              // stream relayed to the client goes on with it).
              { ...policy, timeoutMs: MAX_TIMER_MS },
            ),
          {
            timeoutMs: Math.min(target.policy.timeoutMs, MAX_TIMER_MS),
            timeoutError: () =>
              new FnboxError(
                'ERR_FETCH_FAILED',
                `Fetch to "${parsed.host}" got no response within ${target.policy.timeoutMs} ms`,
                { details: { host: parsed.host, reason: 'headTimeout', limit: target.policy.timeoutMs } },
              ),
            parent: signal,
            judge: (r) => ('value' in r ? (failedStatus(r.value.status) ? 'failure' : 'success') : judgeError(r.error)),
            onLate: (r) => r.cancel(),
            clock: this.#clock,
          },
        )
      } catch (err) {
        const outcome = isFnboxError(err, 'ERR_CIRCUIT_OPEN')
          ? 'neutral'
          : headTimedOut(err)
            ? 'timeout'
            : judgeError(err)
        if (outcome === 'neutral') throw err
        target.health.record(false)
        if (credential)
          credentials!.failed(credential.secret, outcome === 'timeout' ? 'timeout' : 'network', undefined, undefined)
        const noRoute = isFnboxError(err) && err.details.code === NO_MOCK_ROUTE
        throw new FailedAttempt(err, !noRoute && (mayRepeat || (replayable && notSent(err))))
      }
      target.health.record(!failedStatus(response.status), this.#clock.wallNow() - started)
      if (!failedStatus(response.status)) {
        if (credential) credentials!.succeeded(credential.secret)
        return response
      }
      const retryAfterMs = parseRetryAfter(headerOf(response, 'retry-after'), this.#clock.wallNow())
      if (credential) {
        const reason: CredentialFailure = response.status === 429 ? 'rateLimited' : 'serverError'
        credentials!.failed(credential.secret, reason, response.status, retryAfterMs)
      }
      // 429 and 503 say the upstream did not process the request.
      const notProcessed = replayable && (response.status === 429 || response.status === 503)
      throw new FailedResponse(
        response,
        retryAfterMs,
        mayRepeat || notProcessed,
        target.policy.statuses.has(response.status),
      )
    }

    try {
      return await retrying(attempt, target.policy.retry, {
        retryable: (err) =>
          (err instanceof FailedResponse && err.repeatable && err.retryStatus) ||
          (err instanceof FailedAttempt && err.repeatable),
        // Another key does not share the failing key's rate limit or cooldown: move on at once.
        failover: (err) =>
          credentials !== undefined &&
          (err instanceof FailedResponse || err instanceof FailedAttempt) &&
          err.repeatable &&
          credentials.canFailOver(tried),
        maxFailovers: Math.max(0, (credentials?.settings.secrets.length ?? 1) - 1),
        retryAfterMs: (err) => (err instanceof FailedResponse ? err.retryAfterMs : undefined),
        maxWaitMs: () => deadline.remaining(),
        what: `a retry of a guest fetch to ${target.origin}`,
        onRetry: (err, _n, failover) => {
          if (err instanceof FailedResponse) err.response.cancel()
          if (failover) target.failovers++
          else {
            target.retries++
            tried.clear() // after a backoff every key may be tried again
          }
        },
        signal,
        clock: this.#clock,
      })
    } catch (err) {
      if (err instanceof FailedResponse) return err.response
      if (err instanceof FailedAttempt) throw err.failure
      if (signal.aborted && err === signal.reason && isFnboxError(err, 'ERR_TIMEOUT')) {
        throw deadline.error(`fetch to "${parsed.host}"`)
      }
      throw err
    }
  }

  /** A secret changed: credentials that use it are read again. */
  secretChanged(name: string): void {
    for (const target of this.#declared.values()) if (target.credentials?.uses(name)) target.credentials.invalidate()
  }

  /** By upstream name for declared upstreams, by origin for other hosts. */
  stats(): Record<string, UpstreamStats> {
    const out: Record<string, UpstreamStats> = {}
    for (const [name, target] of this.#declared) out[name] = target.stats()
    for (const [origin, target] of this.#hosts) out[origin] = target.stats()
    return out
  }

  close(): void {
    for (const target of [...this.#declared.values(), ...this.#hosts.values()]) target.close()
    this.#hosts.clear()
  }
}

function failedStatus(status: number): boolean {
  return status === 429 || status >= 500
}

function headerOf(response: GuardedResponse, name: string): string | undefined {
  return response.headers.find(([n]) => n.toLowerCase() === name)?.[1]
}

function headTimedOut(err: unknown): boolean {
  return isFnboxError(err, 'ERR_FETCH_FAILED') && err.details.reason === 'headTimeout'
}

function notSent(err: unknown): boolean {
  return isFnboxError(err) && typeof err.details.code === 'string' && NOT_SENT.has(err.details.code)
}

/** What a failed attempt says about the upstream. */
function judgeError(err: unknown): Outcome {
  if (!isFnboxError(err)) return err instanceof DOMException && err.name === 'AbortError' ? 'neutral' : 'failure'
  if (err.code !== 'ERR_FETCH_FAILED') return 'neutral' // forbidden, closed, the deadline
  if (err.details.reason === 'headTimeout') return 'timeout'
  return typeof err.details.reason === 'string' && NEUTRAL_REASONS.has(err.details.reason) ? 'neutral' : 'failure'
}
