/**
 * Errors of fnbox: one class, a stable `code`, a marker-property guard that survives duplicate
 * installs and thread boundaries, and the HTTP mapping of each code.
 *
 * @module
 */

/**
 * Every error code fnbox raises. Stable: match on these, not on messages.
 *
 * @public
 */
export type FnboxErrorCode =
  /** An option or argument is invalid. */
  | 'ERR_INVALID_OPTION'
  /**
   * An HTTP request fnbox cannot serve as sent: a method the Fetch API refuses (`TRACE`: 405), a
   * path that is not valid percent-encoding, a body that could not be read. The client's fault (4xx).
   */
  | 'ERR_BAD_REQUEST'
  /** No function (or export) of that name is deployed. */
  | 'ERR_NOT_FOUND'
  /**
   * The invocation ran past a wall-clock limit: `limits.timeoutMs`, or while its response streamed
   * `limits.streamIdleMs` or `limits.streamTotalMs` (`details.option` names it). Also when the
   * guest caught a host call cut short by the deadline and threw something else.
   */
  | 'ERR_TIMEOUT'
  /** The guest used more than `limits.cpuMs` of CPU time in one invocation. */
  | 'ERR_CPU_LIMIT'
  /** The guest allocated past `limits.memoryMb` (whatever it did with the error it got). */
  | 'ERR_MEMORY_LIMIT'
  /** The guest recursed past `limits.maxStackKb`. */
  | 'ERR_STACK_OVERFLOW'
  /** A request body was larger than `limits.maxRequestBytes`. */
  | 'ERR_REQUEST_TOO_LARGE'
  /** A response body was larger than `limits.maxResponseBytes`. */
  | 'ERR_RESPONSE_TOO_LARGE'
  /** The function's wait queue is full, or `pool.acquireTimeoutMs` passed. */
  | 'ERR_QUEUE_FULL'
  /** The function's circuit breaker is open. */
  | 'ERR_CIRCUIT_OPEN'
  /** A rate limit or quota refused the call. */
  | 'ERR_RATE_LIMITED'
  /** The host is overloaded and sheds calls of this function's priority. */
  | 'ERR_OVERLOADED'
  /** The guest threw (or returned a rejected promise). */
  | 'ERR_GUEST_EXCEPTION'
  /** The function's code could not be compiled or its top-level code threw. */
  | 'ERR_DEPLOY_FAILED'
  /** A guest `fetch` was refused by the allow-list or the SSRF guard. */
  | 'ERR_HOST_FORBIDDEN'
  /** A guest `fetch` failed on the network. */
  | 'ERR_FETCH_FAILED'
  /** The executor thread running the call died or was terminated. */
  | 'ERR_EXECUTOR_LOST'
  /** The runtime is closed. */
  | 'ERR_CLOSED'
  /** An argument of a host call (`fnbox:host`, `runtime.kv`, ...) is invalid; `details.argument` names it. */
  | 'ERR_INVALID_ARGUMENT'
  /** A key, value, file or batch is past its size limit; `details` holds `limit` and `value`. */
  | 'ERR_TOO_LARGE'
  /** A vector's length differs from its index's dimensions; `details` holds `expected` and `value`. */
  | 'ERR_DIMENSION_MISMATCH'
  /** The storage backend failed (database down, disk error); the cause stays on the host. */
  | 'ERR_STORAGE'
  /**
   * The embedded database's folder is in use by another process (or runtime); `details` holds
   * `folder` and the owner's `pid` (and `host`).
   */
  | 'ERR_STORAGE_LOCKED'
  /**
   * A write conflicted with a concurrent transaction and nothing of it was applied: a `tx` that
   * kept conflicting was given up after `details.attempts` tries. Retrying later is safe.
   */
  | 'ERR_CONFLICT'
  /** A bug in fnbox itself. */
  | 'ERR_INTERNAL'

/** Options of {@link FnboxError}. @public */
export interface FnboxErrorOptions {
  /** The error that caused this one. */
  cause?: unknown
  /** HTTP status to answer with; defaults to the code's own. */
  status?: number
  /** Seconds a client should wait before retrying (sets `Retry-After`). */
  retryAfterSeconds?: number
  /** Structured facts about the failure: the limit, the value, the function. */
  details?: Readonly<Record<string, unknown>>
}

const STATUS: Record<FnboxErrorCode, number> = {
  ERR_INVALID_OPTION: 400,
  ERR_BAD_REQUEST: 400,
  ERR_NOT_FOUND: 404,
  ERR_TIMEOUT: 504,
  ERR_CPU_LIMIT: 500,
  ERR_MEMORY_LIMIT: 500,
  ERR_STACK_OVERFLOW: 500,
  ERR_REQUEST_TOO_LARGE: 413,
  ERR_RESPONSE_TOO_LARGE: 502,
  ERR_QUEUE_FULL: 503,
  ERR_CIRCUIT_OPEN: 503,
  ERR_RATE_LIMITED: 429,
  ERR_OVERLOADED: 503,
  ERR_GUEST_EXCEPTION: 500,
  ERR_DEPLOY_FAILED: 400,
  ERR_HOST_FORBIDDEN: 403,
  ERR_FETCH_FAILED: 502,
  ERR_EXECUTOR_LOST: 503,
  ERR_CLOSED: 503,
  ERR_INVALID_ARGUMENT: 400,
  ERR_TOO_LARGE: 413,
  ERR_DIMENSION_MISMATCH: 400,
  ERR_STORAGE: 503,
  ERR_STORAGE_LOCKED: 503,
  ERR_CONFLICT: 409,
  ERR_INTERNAL: 500,
}

/** Codes whose message may be shown to an HTTP client as is. */
const PUBLIC_MESSAGE = new Set<FnboxErrorCode>([
  'ERR_BAD_REQUEST',
  'ERR_NOT_FOUND',
  'ERR_TIMEOUT',
  'ERR_CPU_LIMIT',
  'ERR_MEMORY_LIMIT',
  'ERR_STACK_OVERFLOW',
  'ERR_REQUEST_TOO_LARGE',
  'ERR_RESPONSE_TOO_LARGE',
  'ERR_QUEUE_FULL',
  'ERR_CIRCUIT_OPEN',
  'ERR_RATE_LIMITED',
  'ERR_OVERLOADED',
  'ERR_HOST_FORBIDDEN',
])

const MARKER = Symbol.for('fnbox.error')

/**
 * The one error type of fnbox. `code` is stable; `message` names the limit and the value.
 *
 * @example
 * ```ts
 * import { isFnboxError } from 'fnbox'
 * try {
 *   await runtime.call('report', 'build', input)
 * } catch (err) {
 *   if (isFnboxError(err, 'ERR_TIMEOUT')) console.warn(err.details)
 *   else throw err
 * }
 * ```
 * @public
 */
export class FnboxError extends Error {
  /** The stable error code. */
  readonly code: FnboxErrorCode
  /** HTTP status this error maps to. */
  readonly status: number
  /** Seconds after which a retry may succeed, when known. */
  readonly retryAfterSeconds: number | undefined
  /** Structured facts: limit, value, function name, ... */
  readonly details: Readonly<Record<string, unknown>>
  /** @internal */
  readonly [MARKER] = true

  constructor(code: FnboxErrorCode, message: string, options: FnboxErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause })
    this.name = `FnboxError [${code}]`
    this.code = code
    this.status = options.status ?? STATUS[code]
    this.retryAfterSeconds = options.retryAfterSeconds
    this.details = Object.freeze({ ...options.details })
  }

  /**
   * The HTTP answer for this error: JSON `{ error: { code, message } }`, `Retry-After` where known.
   * A message that may carry internals (guest exceptions, bugs) is replaced by a generic one. A
   * failed invocation that attempted data writes says what they did: `error.writes` (`'none'`,
   * `'applied'` or `'unknown'`), so a client knows whether trying again could repeat them.
   */
  toResponse(): Response {
    // A public code whose message carries host-only text (the guest's error behind an open
    // breaker) names what clients may see in details.publicMessage.
    const shown = typeof this.details.publicMessage === 'string' ? this.details.publicMessage : this.message
    const message = PUBLIC_MESSAGE.has(this.code) ? shown : publicMessage(this.code)
    const headers = new Headers({ 'content-type': 'application/json; charset=utf-8' })
    if (this.retryAfterSeconds !== undefined) {
      headers.set('retry-after', String(Math.max(1, Math.ceil(this.retryAfterSeconds))))
    }
    const writes = typeof this.details.writes === 'string' ? { writes: this.details.writes } : {}
    return new Response(JSON.stringify({ error: { code: this.code, message, ...writes } }), {
      status: this.status,
      headers,
    })
  }

  /** A plain object that survives `postMessage` and `JSON.stringify`. */
  toJSON(): SerializedFnboxError {
    return {
      code: this.code,
      message: this.message,
      status: this.status,
      retryAfterSeconds: this.retryAfterSeconds,
      details: { ...this.details },
    }
  }

  /** Rebuilds an error from {@link FnboxError.toJSON}, e.g. after it crossed a thread boundary. */
  static fromJSON(json: SerializedFnboxError): FnboxError {
    return new FnboxError(json.code, json.message, {
      status: json.status,
      retryAfterSeconds: json.retryAfterSeconds,
      details: json.details,
    })
  }
}

/** A {@link FnboxError} as plain data (what crosses threads and `JSON.stringify`). @public */
export interface SerializedFnboxError {
  code: FnboxErrorCode
  message: string
  status?: number
  retryAfterSeconds?: number | undefined
  details?: Record<string, unknown>
}

function publicMessage(code: FnboxErrorCode): string {
  switch (code) {
    case 'ERR_GUEST_EXCEPTION':
      return 'The function threw an error'
    case 'ERR_EXECUTOR_LOST':
    case 'ERR_CLOSED':
    case 'ERR_STORAGE':
    case 'ERR_STORAGE_LOCKED':
      return 'Service unavailable'
    case 'ERR_CONFLICT':
      return 'Conflict with a concurrent update: try again'
    default:
      return 'Internal error'
  }
}

/**
 * True when `value` is a {@link FnboxError} (from any copy of fnbox), optionally of one `code`.
 *
 * @example
 * ```ts
 * if (isFnboxError(err, 'ERR_QUEUE_FULL')) res.setHeader('retry-after', String(err.retryAfterSeconds))
 * ```
 * @public
 */
export function isFnboxError(value: unknown, code?: FnboxErrorCode): value is FnboxError {
  return (
    typeof value === 'object' &&
    value !== null &&
    (value as Record<symbol, unknown>)[MARKER] === true &&
    (code === undefined || (value as FnboxError).code === code)
  )
}

/** Shorthand for an invalid-option error that names the option. @internal */
export function invalidOption(name: string, expected: string, value: unknown): FnboxError {
  return new FnboxError('ERR_INVALID_OPTION', `${name} must be ${expected} (got ${describe(value)})`, {
    details: { option: name },
  })
}

function describe(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value.length > 40 ? value.slice(0, 40) + '…' : value)
  if (typeof value === 'number' || typeof value === 'boolean' || value == null) return String(value)
  if (Array.isArray(value)) return 'an array'
  return `a ${typeof value}`
}
