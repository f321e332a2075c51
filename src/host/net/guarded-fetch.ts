/**
 * Guest `fetch`, performed by the host: allow-list, SSRF guard at connect time, redirects followed
 * by hand and re-checked on every hop, a wall-clock deadline, size limits, and a streamed body.
 *
 * @module
 */

import type { ReadableStreamDefaultReader } from 'node:stream/web'
import type * as Undici from 'undici'
import { FnboxError, invalidOption, isFnboxError } from '../../errors.js'
import { onAbort } from '../../reliability/abort.js'
import { hostForbidden } from './address-policy.js'
import { parseAllowedHosts } from './allowed-hosts.js'
import type { AllowedHosts, HostMatch } from './allowed-hosts.js'
import { createConnector, defaultDnsLookup } from './guarded-connector.js'
import type { DnsLookup } from './guarded-connector.js'

/**
 * What one function's `fetch` may do. Build and validate it once with {@link createNetPolicy};
 * {@link GuardedFetch.fetch} also accepts a plain object (and validates it on every call).
 *
 * @public
 */
export interface NetPolicy {
  /** The allow-list: a parsed matcher, or entries to parse (see {@link parseAllowedHosts}). */
  allowedHosts: AllowedHosts | readonly string[]
  /** Wall-clock budget of the whole exchange, redirects and body included, in ms. */
  timeoutMs: number
  /** Most body bytes read from a response (after content decoding). */
  maxResponseBytes: number
  /** Most redirects followed. Default 20, as in browsers. */
  maxRedirects?: number
  /** Largest request body sent; unlimited when absent. */
  maxRequestBytes?: number
}

/** A {@link NetPolicy} validated, defaults filled, allow-list parsed. @public */
export interface ResolvedNetPolicy extends NetPolicy {
  readonly allowedHosts: AllowedHosts
  readonly maxRedirects: number
}

/** What a guest asked for; headers as the guest set them. @public */
export interface GuardedRequestInit {
  method: string
  headers: [string, string][]
  body?: Uint8Array
  redirect: 'follow' | 'manual' | 'error'
  /** Aborts the request and its body; the fetch then rejects with `signal.reason`. */
  signal?: AbortSignal
  /**
   * Headers that carry credentials besides `authorization` and `cookie` (e.g. an injected
   * `x-api-key`), dropped like them when a redirect leaves the request's origin.
   */
  sensitiveHeaders?: readonly string[]
}

/** The answer to a guest `fetch`. @public */
export interface GuardedResponse {
  status: number
  statusText: string
  headers: [string, string][]
  /** The final URL, after redirects. */
  url: string
  redirected: boolean
  /**
   * The body, chunk by chunk as the upstream sends it; iterate it once. Throws `ERR_FETCH_FAILED`
   * past `maxResponseBytes` (details `{ limit, value }`) or the deadline. Stopping early
   * (`break`) closes the upstream connection.
   */
  body: AsyncIterable<Uint8Array> | null
  /** Drops the body and closes the upstream connection; safe to call at any time. */
  cancel(): void
}

/** The host side of guest `fetch`; see {@link createGuardedFetch}. @public */
export interface GuardedFetch {
  /**
   * Performs one guest request under `policy`.
   *
   * @throws FnboxError `ERR_HOST_FORBIDDEN` (details `{ host, address?, reason }`) for a
   * destination outside the allow-list or a non-public address; `ERR_FETCH_FAILED` (details
   * `{ host, code?, reason?, limit?, value? }`) for network failures, the deadline, too many
   * redirects, a redirect under `redirect: 'error'`, a body too large; `signal.reason` when the
   * caller aborts.
   */
  fetch(url: string, init: GuardedRequestInit, policy: NetPolicy): Promise<GuardedResponse>
  /** Waits for in-flight requests, then closes every pooled connection. */
  close(): Promise<void>
}

/** Options of {@link createGuardedFetch}. @public */
export interface GuardedFetchOptions {
  /** Time to establish a TCP (and TLS) connection, in ms. Default 10 000. */
  connectTimeoutMs?: number
  /** Resolves host names; default `dns.lookup` with `all: true`. */
  dnsLookup?: DnsLookup
  /**
   * Sends every request through this undici dispatcher instead of fnbox's two guarded pools:
   * for tests, undici's `MockAgent` (`fnbox/testing` passes one). The allow-list, redirects and
   * limits still apply; the SSRF guard at connect time is the dispatcher's, as no socket opens.
   */
  dispatcher?: Undici.Dispatcher
}

/** Defaults of {@link createNetPolicy}. @public */
export const NET_POLICY_DEFAULTS = Object.freeze({
  timeoutMs: 30_000,
  maxResponseBytes: 10 * 1024 * 1024,
  maxRedirects: 20,
})

/**
 * Request headers a guest must not set: they belong to the connection, not the message
 * (hop-by-hop, RFC 9110 §7.6.1), or would let the guest talk past undici (`host` to reach another
 * virtual host than the checked one, `content-length`/`transfer-encoding` to desync framing,
 * `expect`, `upgrade` to switch protocols). `proxy-*` is matched by prefix.
 */
const FORBIDDEN_REQUEST_HEADERS = new Set([
  'host',
  'connection',
  'keep-alive',
  'transfer-encoding',
  'upgrade',
  'te',
  'trailer',
  'content-length',
  'expect',
  'http2-settings',
])
/** Dropped when a redirect turns the request into a GET without body (Fetch spec, 4.4). */
const BODY_HEADERS = new Set(['content-type', 'content-encoding', 'content-language', 'content-location'])
/** Credentials a guest set for one origin; dropped when a redirect leaves it. */
const CREDENTIAL_HEADERS = new Set(['authorization', 'cookie'])
const REDIRECT_STATUSES = new Set([301, 302, 303, 307, 308])
const REDIRECT_MODES = new Set<unknown>(['follow', 'manual', 'error'])

/**
 * Validates a {@link NetPolicy}, fills defaults from {@link NET_POLICY_DEFAULTS} and parses the
 * allow-list once, so per-request work is only matching.
 *
 * @param optionName - Prefix of the option names in errors (`net.timeoutMs`).
 * @throws FnboxError `ERR_INVALID_OPTION` naming the offending option.
 * @example
 * ```ts
 * const policy = createNetPolicy({ allowedHosts: ['api.openai.com'], timeoutMs: 60_000 })
 * const res = await guarded.fetch('https://api.openai.com/v1/models', init, policy)
 * ```
 * @public
 */
export function createNetPolicy(
  policy: Partial<NetPolicy> & Pick<NetPolicy, 'allowedHosts'>,
  optionName = 'net',
): ResolvedNetPolicy {
  const { allowedHosts } = policy
  const matcher = isMatcher(allowedHosts) ? allowedHosts : parseAllowedHosts(allowedHosts, `${optionName}.allowedHosts`)
  const timeoutMs = policy.timeoutMs ?? NET_POLICY_DEFAULTS.timeoutMs
  const maxResponseBytes = policy.maxResponseBytes ?? NET_POLICY_DEFAULTS.maxResponseBytes
  const maxRedirects = policy.maxRedirects ?? NET_POLICY_DEFAULTS.maxRedirects
  const { maxRequestBytes } = policy
  // setTimeout overflows past 2^31 - 1 ms and would fire at once.
  if (!Number.isInteger(timeoutMs) || timeoutMs <= 0 || timeoutMs > 2 ** 31 - 1) {
    throw invalidOption(`${optionName}.timeoutMs`, 'a positive integer (ms)', timeoutMs)
  }
  const counts = { maxResponseBytes, maxRedirects, maxRequestBytes }
  for (const [name, value] of Object.entries(counts)) {
    if (value !== undefined && !(Number.isSafeInteger(value) && value >= 0)) {
      throw invalidOption(`${optionName}.${name}`, 'a non-negative integer', value)
    }
  }
  return Object.freeze({ allowedHosts: matcher, timeoutMs, maxResponseBytes, maxRedirects, maxRequestBytes })
}

function isMatcher(value: AllowedHosts | readonly string[] | undefined): value is AllowedHosts {
  return typeof (value as AllowedHosts | undefined)?.match === 'function'
}

/**
 * Creates the host side of guest `fetch`: two connection pools, one guarded (every address a
 * host name resolves to must be public, judged at connect time) for destinations the allow-list
 * admits as `'guarded'`, one unguarded for those it trusts (see {@link HostMatch}). Both pools
 * key their connections by origin, and a request reaches the unguarded pool only when its own
 * policy trusts that origin, so a connection is never reused past the policy that allowed it.
 *
 * @example
 * ```ts
 * const guarded = createGuardedFetch()
 * const policy = createNetPolicy({ allowedHosts: ['*'], timeoutMs: 10_000 })
 * const res = await guarded.fetch('https://example.com/', { method: 'GET', headers: [], redirect: 'follow' }, policy)
 * for await (const chunk of res.body ?? []) process.stdout.write(chunk)
 * await guarded.close()
 * ```
 * @public
 */
export function createGuardedFetch(options: GuardedFetchOptions = {}): GuardedFetch {
  const { connectTimeoutMs = 10_000, dnsLookup = defaultDnsLookup, dispatcher } = options
  if (!Number.isInteger(connectTimeoutMs) || connectTimeoutMs <= 0) {
    throw invalidOption('connectTimeoutMs', 'a positive integer (ms)', connectTimeoutMs)
  }
  if (typeof dnsLookup !== 'function') throw invalidOption('dnsLookup', 'a function', dnsLookup)
  // Opened at the first request: a host whose guests never fetch never loads undici.
  let pools: Promise<Pools> | undefined
  const open = (): Promise<Pools> =>
    (pools ??= loadUndici().then(({ Agent, buildConnector, fetch }) => {
      if (dispatcher) return { fetch, guarded: dispatcher, trusted: dispatcher, shared: true }
      const agent = (guarded: boolean): Undici.Agent =>
        new Agent({ connect: createConnector({ buildConnector, dnsLookup, connectTimeoutMs, guarded }) })
      return { fetch, guarded: agent(true), trusted: agent(false) }
    }))
  let closed: Promise<void> | undefined
  const closedError = (): FnboxError => new FnboxError('ERR_CLOSED', 'Guest fetch is closed')

  return {
    async fetch(url, init, policy) {
      if (closed) throw closedError()
      const resolved = createNetPolicy(policy, 'policy')
      const opened = await open()
      if (closed) throw closedError()
      return exchange(url, init, resolved, opened)
    },
    close() {
      closed ??= (async () => {
        // undici failing to load is the fetch's error to report, not close's.
        const opened = await pools?.catch(() => undefined)
        if (opened && !opened.shared) await Promise.all([opened.guarded.close(), opened.trusted.close()])
      })()
      return closed
    },
  }
}

/** undici's fetch and the two connection pools of one {@link GuardedFetch}. */
interface Pools {
  fetch: typeof Undici.fetch
  guarded: Undici.Dispatcher
  trusted: Undici.Dispatcher
  /** The caller's dispatcher: its owner closes it. */
  shared?: boolean
}

let undici: Promise<typeof Undici> | undefined

/** undici, loaded once per process at the first guest fetch (~15-20 MB of RSS once loaded). */
function loadUndici(): Promise<typeof Undici> {
  return (undici ??= import('undici'))
}

/**
 * Starts loading undici in the background (~70 ms on this machine), for a function that may
 * fetch: its first fetch then does not wait for it. A failure is the first fetch's to report.
 *
 * @internal
 */
export function preloadGuestFetch(): void {
  loadUndici().catch(() => undefined)
}

/** The request's life: deadline, caller's signal, and the host the errors name. */
class Exchange {
  readonly controller = new AbortController()
  host: string
  readonly #timer: NodeJS.Timeout
  /** Removes the listener on the caller's signal (which may be shared: one listener fans out). */
  readonly #stopListening: () => void

  constructor(host: string, timeoutMs: number, signal: AbortSignal | undefined) {
    this.host = host
    this.#timer = setTimeout(() => {
      const message = `Fetch to "${this.host}" timed out after ${timeoutMs} ms`
      const details = { host: this.host, reason: 'timeout', limit: timeoutMs }
      this.controller.abort(new FnboxError('ERR_FETCH_FAILED', message, { details }))
    }, timeoutMs)
    if (signal?.aborted) this.controller.abort(signal.reason)
    this.#stopListening = signal ? onAbort(signal, () => this.controller.abort(signal.reason)) : () => {}
  }

  /** Stops the deadline; the exchange is over. */
  end(): void {
    clearTimeout(this.#timer)
    this.#stopListening()
  }

  /** Ends the exchange and tears the upstream connection down. */
  cancel(reason?: unknown): void {
    this.controller.abort(reason)
    this.end()
  }

  /** The error to show for `err`: ours as is, an abort's reason, or a generic network failure. */
  failure(err: unknown): unknown {
    if (this.controller.signal.aborted) return this.controller.signal.reason
    const own = findInCauses(err, (e) => isFnboxError(e))
    if (own) return own
    const code = findInCauses(err, (e) => typeof (e as { code?: unknown }).code === 'string') as
      { code: string } | undefined
    let message = `Fetch to "${this.host}" failed${code ? ` (${code.code})` : ''}`
    // A test's MockAgent (fnbox/testing) had no route: its message names the request.
    if (code?.code === 'UND_MOCK_ERR_MOCK_NOT_MATCHED')
      message += `: ${String((code as { message?: unknown }).message)}`
    const details = code ? { host: this.host, code: code.code } : { host: this.host }
    return new FnboxError('ERR_FETCH_FAILED', message, { cause: err, details })
  }
}

function findInCauses(err: unknown, test: (e: object) => boolean): object | undefined {
  for (let e = err, depth = 0; typeof e === 'object' && e !== null && depth < 8; depth++) {
    if (test(e)) return e
    e = (e as { cause?: unknown }).cause
  }
  return undefined
}

async function exchange(
  url: string,
  init: GuardedRequestInit,
  policy: ResolvedNetPolicy,
  pools: Pools,
): Promise<GuardedResponse> {
  if (!REDIRECT_MODES.has(init.redirect)) {
    throw invalidOption('init.redirect', "'follow', 'manual' or 'error'", init.redirect)
  }
  let target = parseUrl(url)
  let { method, body } = init
  let headers = init.headers.filter(([name]) => {
    const lower = name.toLowerCase()
    return !FORBIDDEN_REQUEST_HEADERS.has(lower) && !lower.startsWith('proxy-')
  })
  if (body !== undefined && policy.maxRequestBytes !== undefined && body.byteLength > policy.maxRequestBytes) {
    throw new FnboxError(
      'ERR_FETCH_FAILED',
      `Fetch request body too large (${body.byteLength} > maxRequestBytes ${policy.maxRequestBytes})`,
      {
        details: {
          host: target.hostname,
          reason: 'requestTooLarge',
          limit: policy.maxRequestBytes,
          value: body.byteLength,
        },
      },
    )
  }

  const ex = new Exchange(target.hostname, policy.timeoutMs, init.signal)
  try {
    for (let redirects = 0; ; redirects++) {
      ex.host = target.hostname
      const res = await pools.fetch(target, {
        method,
        headers,
        body: body ?? null,
        // Followed by hand below: undici would not run our allow-list on the next hop.
        redirect: 'manual',
        signal: ex.controller.signal,
        dispatcher: route(target, policy.allowedHosts) === 'trusted' ? pools.trusted : pools.guarded,
      })
      if (!REDIRECT_STATUSES.has(res.status) || init.redirect === 'manual') {
        return respond(res, target, redirects > 0, ex, policy.maxResponseBytes)
      }
      const location = res.headers.get('location')
      if (location === null && init.redirect === 'follow') {
        return respond(res, target, redirects > 0, ex, policy.maxResponseBytes)
      }
      await res.body?.cancel()
      if (init.redirect === 'error' || location === null) {
        throw fetchFailed(ex.host, `Fetch to "${ex.host}" was redirected (redirect: 'error')`, 'redirect')
      }
      if (redirects >= policy.maxRedirects) {
        const message = `Fetch to "${ex.host}" redirected more than maxRedirects (${policy.maxRedirects}) times`
        throw fetchFailed(ex.host, message, 'tooManyRedirects', { limit: policy.maxRedirects })
      }
      const next = parseUrl(location, target)
      const upper = method.toUpperCase()
      if ((res.status === 303 && upper !== 'GET' && upper !== 'HEAD') || (res.status <= 302 && upper === 'POST')) {
        method = 'GET'
        body = undefined
        headers = headers.filter(([name]) => !BODY_HEADERS.has(name.toLowerCase()))
      }
      if (next.origin !== target.origin) {
        const sensitive = new Set(init.sensitiveHeaders?.map((h) => h.toLowerCase()))
        headers = headers.filter(([name]) => {
          const lower = name.toLowerCase()
          return !CREDENTIAL_HEADERS.has(lower) && !sensitive.has(lower)
        })
      }
      target = next
    }
  } catch (err) {
    ex.end()
    throw ex.failure(err)
  }
}

function parseUrl(url: string, base?: URL): URL {
  try {
    return new URL(url, base)
  } catch (err) {
    throw new FnboxError('ERR_FETCH_FAILED', 'Fetch URL is invalid', {
      cause: err,
      details: { reason: 'invalidUrl' },
    })
  }
}

/** Protocol and allow-list; the address check happens in the connector, at connect time. */
function route(url: URL, allowed: AllowedHosts): HostMatch {
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw hostForbidden(url.hostname || url.protocol, 'unsupportedProtocol')
  }
  const port = url.port === '' ? (url.protocol === 'https:' ? 443 : 80) : Number(url.port)
  const match = allowed.match(url.hostname, port)
  if (match === null) throw hostForbidden(url.hostname, 'notAllowed')
  return match
}

function fetchFailed(host: string, message: string, reason: string, extra?: Record<string, unknown>): FnboxError {
  return new FnboxError('ERR_FETCH_FAILED', message, { details: { host, reason, ...extra } })
}

function respond(res: Undici.Response, url: URL, redirected: boolean, ex: Exchange, maxBytes: number): GuardedResponse {
  if (res.body === null) ex.end()
  return {
    status: res.status,
    statusText: res.statusText,
    headers: [...res.headers],
    url: url.href,
    redirected,
    body: res.body === null ? null : limited(res.body.getReader(), ex, maxBytes),
    cancel: () => ex.cancel(),
  }
}

/** Passes chunks on as they arrive, counting them against `maxBytes`. */
async function* limited(
  reader: ReadableStreamDefaultReader<Uint8Array>,
  ex: Exchange,
  maxBytes: number,
): AsyncGenerator<Uint8Array, void, undefined> {
  let received = 0
  let finished = false
  try {
    for (;;) {
      const { done, value } = await reader.read()
      if (done) break
      received += value.byteLength
      if (received > maxBytes) {
        const message = `Fetch response from "${ex.host}" is larger than maxResponseBytes (${received} > ${maxBytes})`
        throw fetchFailed(ex.host, message, 'responseTooLarge', { limit: maxBytes, value: received })
      }
      yield value
    }
    finished = true
  } catch (err) {
    throw ex.failure(err)
  } finally {
    // Whoever stops reading early (a break, the limit, an error) must not leave the socket open.
    if (finished) ex.end()
    else ex.cancel()
  }
}
