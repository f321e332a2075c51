/**
 * The options of guest egress: the policy every host a guest fetches gets (`egress`), and the
 * upstreams the host declares by name (`upstreams`), with credentials from secrets that the host
 * injects for the functions granted them.
 *
 * @internal
 * @module
 */
import { invalidOption } from '../errors.js'
import { SECRET_NAME } from '../host/secrets/store.js'
import { resolveBreaker, type BreakerOptions, type ResolvedBreakerOptions } from './breaker.js'
import { DEFAULT_RETRY, RETRY_KEYS, resolveBackoff, type ResolvedRetry, type RetryOptions } from './backoff.js'
import { MAX_TIMER_MS, booleanOption, numberOption, optionObject } from './validate.js'

/**
 * Retries of a guest's `fetch` to one upstream. Only what is safe is repeated: a request the
 * upstream did not process (429, 503, a refused connection) always; after other failures
 * (network errors, timeouts to the head), only requests with an idempotent method (GET, HEAD,
 * OPTIONS, PUT, DELETE), an `Idempotency-Key` header set by the guest, or `nonIdempotent`. A
 * request whose body is a stream already sent is never repeated.
 *
 * @public
 */
export interface UpstreamRetryOptions extends RetryOptions {
  /** Statuses retried after a backoff (`Retry-After` honoured). Default `[429, 503]`. */
  statuses?: number[]
  /** Also repeat POST and PATCH requests: for upstreams where a repeated request is harmless. Default false. */
  nonIdempotent?: boolean
}

/**
 * Policies of a guest's `fetch`, per upstream host.
 *
 * @example
 * ```ts
 * const runtime = await createRuntime({ egress: { timeoutMs: 10_000, retry: { retries: 3 }, breaker: { volumeThreshold: 20 } } })
 * console.log(runtime.stats().upstreams['https://api.example.com']?.health)
 * ```
 * @public
 */
export interface EgressOptions {
  /**
   * Time to the response head of one attempt, in ms; past it the attempt is cancelled and counts
   * as a timeout. The invocation's remaining time caps every attempt and the body too. Default 30000.
   */
  timeoutMs?: number
  /** Retries with exponential backoff and jitter; `false` for none. Default `{ retries: 2 }`. */
  retry?: UpstreamRetryOptions | false
  /**
   * A circuit breaker per upstream host: attempts answered 429 or 5xx, network errors and
   * timeouts count as failures; while it is open, guests' fetches to it fail at once. `false`
   * for none. Defaults as {@link BreakerOptions}.
   */
  breaker?: BreakerOptions | false
}

/**
 * Credentials the host adds to a granted function's requests to an upstream. The guest never
 * sees them: a header of the same name set by the guest is replaced, and the header is dropped
 * when a redirect leaves the upstream's origin.
 *
 * @public
 */
export interface UpstreamAuth {
  /** The request header that carries the key, e.g. `'authorization'` or `'x-api-key'`. */
  header: string
  /** Put before the key with a space, e.g. `'Bearer'`. Default: the key alone. */
  scheme?: string
  /**
   * Names of the secrets (in `runtime.secrets`) holding the keys, one key each. Requests are
   * spread over the healthy keys round-robin; a key answered 429 or 5xx, or timing out, sits out
   * for `cooldownMs` (or the upstream's `Retry-After`, when longer), and the request moves on to
   * another key at once. 400, 401 and 403 answers go back to the guest as they are.
   */
  secrets: string[]
  /** How long a failing key sits out, in ms. Default 30000. */
  cooldownMs?: number
}

/**
 * An upstream the host declares by name: its own egress policy and, optionally, credentials.
 *
 * @example
 * ```ts
 * const runtime = await createRuntime({
 *   upstreams: {
 *     openai: {
 *       origin: 'https://api.openai.com',
 *       auth: { header: 'authorization', scheme: 'Bearer', secrets: ['OPENAI_KEY_1', 'OPENAI_KEY_2'] },
 *       timeoutMs: 20_000,
 *       retry: { retries: 2, nonIdempotent: true },
 *     },
 *   },
 * })
 * await runtime.deploy('agent', { code, upstreams: ['openai'] })
 * ```
 * @public
 */
export interface UpstreamOptions extends EgressOptions {
  /** `scheme://host[:port]`: requests to this origin use this upstream's policy. */
  origin: string
  auth?: UpstreamAuth
}

/** An egress policy validated, defaults filled. */
export interface ResolvedEgress {
  readonly timeoutMs: number
  /** `retries: 0` when off. */
  readonly retry: ResolvedRetry
  readonly statuses: ReadonlySet<number>
  readonly nonIdempotent: boolean
  readonly breaker: ResolvedBreakerOptions | undefined
}

export interface ResolvedUpstream extends ResolvedEgress {
  readonly name: string
  readonly origin: string
  /** `host:port` of the origin, as allow-list entries name it. */
  readonly hostPort: string
  readonly auth:
    | {
        readonly header: string
        readonly scheme: string | undefined
        readonly secrets: readonly string[]
        readonly cooldownMs: number
      }
    | undefined
}

/** Defaults of {@link EgressOptions}. */
export const DEFAULT_EGRESS_TIMEOUT_MS = 30_000
const DEFAULT_STATUSES = [429, 503]
const DEFAULT_COOLDOWN_MS = 30_000
const EGRESS_KEYS = ['timeoutMs', 'retry', 'breaker']
const UPSTREAM_KEYS = [...EGRESS_KEYS, 'origin', 'auth']
const UPSTREAM_NAME = /^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/
/** Headers the host owns: a credential must not go there. */
const RESERVED_HEADERS = new Set(['host', 'content-length', 'transfer-encoding', 'connection', 'cookie'])

export function resolveEgress(value: unknown, name: string, base?: ResolvedEgress, keys = EGRESS_KEYS): ResolvedEgress {
  const given = optionObject(value, name, keys) ?? {}
  const from: ResolvedEgress = base ?? {
    timeoutMs: DEFAULT_EGRESS_TIMEOUT_MS,
    retry: DEFAULT_RETRY,
    statuses: new Set(DEFAULT_STATUSES),
    nonIdempotent: false,
    breaker: resolveBreaker({}, name, undefined),
  }
  const timeoutMs = numberOption(given.timeoutMs, `${name}.timeoutMs`, from.timeoutMs, { min: 1, max: MAX_TIMER_MS })
  let { retry, statuses, nonIdempotent } = from
  if (given.retry === false) retry = Object.freeze({ ...from.retry, retries: 0 })
  else if (given.retry !== undefined) {
    const r = optionObject(given.retry, `${name}.retry`, [...RETRY_KEYS, 'statuses', 'nonIdempotent'])!
    retry = resolveBackoff(r, `${name}.retry`, from.retry)
    nonIdempotent = booleanOption(r.nonIdempotent, `${name}.retry.nonIdempotent`, from.nonIdempotent)
    if (r.statuses !== undefined) {
      if (!Array.isArray(r.statuses))
        throw invalidOption(`${name}.retry.statuses`, 'an array of HTTP statuses', r.statuses)
      r.statuses.forEach((s, i) => numberOption(s, `${name}.retry.statuses[${i}]`, 0, { min: 400, max: 599 }))
      statuses = new Set(r.statuses as number[])
    }
  }
  if (typeof given.breaker === 'object' && given.breaker !== null && 'timeoutMs' in given.breaker) {
    // One knob for the time to the head: the upstream's own timeoutMs.
    throw invalidOption(
      `${name}.breaker.timeoutMs`,
      `absent (an upstream's attempts time out after ${name}.timeoutMs)`,
      'set',
    )
  }
  const breaker =
    given.breaker === undefined ? from.breaker : resolveBreaker(given.breaker, `${name}.breaker`, from.breaker)
  return Object.freeze({ timeoutMs, retry, statuses, nonIdempotent, breaker })
}

/** Validates `upstreams`; each inherits `egress` field by field. */
export function resolveUpstreams(value: unknown, name: string, egress: ResolvedEgress): Map<string, ResolvedUpstream> {
  const out = new Map<string, ResolvedUpstream>()
  if (value === undefined) return out
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw invalidOption(name, 'an object of upstreams by name', value)
  }
  const origins = new Set<string>()
  for (const [upstream, options] of Object.entries(value)) {
    const at = `${name}.${upstream}`
    if (!UPSTREAM_NAME.test(upstream)) {
      throw invalidOption(at, 'named with letters, digits, "_" or "-" (1-64 chars)', upstream)
    }
    const given = optionObject(options, at, UPSTREAM_KEYS)
    if (!given) throw invalidOption(at, 'an object', options)
    const { origin, hostPort } = parseOrigin(given.origin, `${at}.origin`)
    if (origins.has(origin)) throw invalidOption(`${at}.origin`, 'an origin no other upstream has', origin)
    origins.add(origin)
    const policy = resolveEgress(given, at, egress, UPSTREAM_KEYS)
    out.set(
      upstream,
      Object.freeze({ ...policy, name: upstream, origin, hostPort, auth: resolveAuth(given.auth, `${at}.auth`) }),
    )
  }
  return out
}

function parseOrigin(value: unknown, name: string): { origin: string; hostPort: string } {
  const expected = "an origin such as 'https://api.openai.com' (scheme, host and optional port; no path)"
  if (typeof value !== 'string') throw invalidOption(name, expected, value)
  let url: URL
  try {
    url = new URL(value)
  } catch {
    throw invalidOption(name, expected, value)
  }
  const bare =
    url.pathname === '/' && url.search === '' && url.hash === '' && url.username === '' && url.password === ''
  if ((url.protocol !== 'https:' && url.protocol !== 'http:') || !bare) throw invalidOption(name, expected, value)
  const port = url.port === '' ? (url.protocol === 'https:' ? 443 : 80) : Number(url.port)
  return { origin: url.origin, hostPort: `${url.hostname}:${port}` }
}

function resolveAuth(value: unknown, name: string): ResolvedUpstream['auth'] {
  const given = optionObject(value, name, ['header', 'scheme', 'secrets', 'cooldownMs'])
  if (!given) return undefined
  const header = given.header
  if (typeof header !== 'string' || !HEADER_NAME.test(header) || RESERVED_HEADERS.has(header.toLowerCase())) {
    throw invalidOption(`${name}.header`, 'an HTTP header name the host may set (e.g. "authorization")', header)
  }
  const scheme = given.scheme
  if (scheme !== undefined && (typeof scheme !== 'string' || !HEADER_NAME.test(scheme))) {
    throw invalidOption(`${name}.scheme`, 'a single token such as "Bearer"', scheme)
  }
  const secrets = given.secrets
  if (!Array.isArray(secrets) || secrets.length === 0) {
    throw invalidOption(`${name}.secrets`, 'a non-empty array of secret names', secrets)
  }
  secrets.forEach((s, i) => {
    if (typeof s !== 'string' || !SECRET_NAME.test(s)) {
      throw invalidOption(
        `${name}.secrets[${i}]`,
        'a secret name (letters, digits and _, not starting with a digit)',
        s,
      )
    }
  })
  const cooldownMs = numberOption(given.cooldownMs, `${name}.cooldownMs`, DEFAULT_COOLDOWN_MS, {
    min: 0,
    max: MAX_TIMER_MS,
  })
  return Object.freeze({
    header: header.toLowerCase(),
    scheme: scheme as string | undefined,
    secrets: Object.freeze([...new Set(secrets as string[])]),
    cooldownMs,
  })
}

/** Validates `deploy`'s `upstreams` grant against the declared upstreams. */
export function resolveUpstreamGrants(value: unknown, declared: ReadonlyMap<string, ResolvedUpstream>): string[] {
  if (value === undefined) return []
  if (!Array.isArray(value)) throw invalidOption('options.upstreams', 'an array of upstream names', value)
  value.forEach((v, i) => {
    if (typeof v !== 'string' || !declared.has(v)) {
      const names = [...declared.keys()]
      throw invalidOption(
        `options.upstreams[${i}]`,
        names.length
          ? `the name of a declared upstream (${names.join(', ')})`
          : 'the name of an upstream declared in createRuntime({ upstreams })',
        v,
      )
    }
  })
  return [...new Set(value as string[])].sort()
}
