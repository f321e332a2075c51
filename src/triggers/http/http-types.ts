/**
 * The types of the HTTP mounts and of the Node bridge: the handler a mount calls, the options of
 * the mounts and of {@link toWebRequest}, the error hook.
 *
 * @module
 */
import type { IncomingMessage } from 'node:http'
import type { ClientRateLimitOptions } from '../../reliability/client-rate-limit.js'

/**
 * What a {@link FetchHandler} learns about a request beyond the `Request` itself.
 *
 * @public
 */
export interface FetchHandlerContext {
  /**
   * The request path relative to the mount, starting with `/`, percent-encoded as sent and
   * with `.`/`..` segments resolved. Mounted at `/fn`, a request to `/fn/hello/x?y=1` gives
   * `/hello/x`; a request to `/fn` itself gives `/`. The runtime routes on its first segment.
   */
  readonly path: string
  /**
   * The client's IP address: the socket's peer, or with `trustProxy` the left-most
   * `X-Forwarded-For` entry. `undefined` when the socket is already gone.
   */
  readonly clientAddress: string | undefined
  /** Aborts when the client disconnects before the response has been fully written. */
  readonly signal: AbortSignal
}

/**
 * The function a mount hands each request to: the fnbox runtime's `fetch`, or a fake in tests.
 * `request.url` is the full absolute URL the client used; `context.path` is mount-relative.
 *
 * @example
 * ```ts
 * const handler: FetchHandler = async (request, { path }) =>
 *   Response.json({ method: request.method, path })
 * ```
 * @public
 */
export type FetchHandler = (request: Request, context: FetchHandlerContext) => Promise<Response>

/**
 * A Node request that a body parser may already have read. Express's `body-parser` stores the
 * parsed body in `req.body` and the full URL in `req.originalUrl`.
 *
 * @public
 */
export interface NodeRequestLike extends IncomingMessage {
  /** The full path and query as sent, when a framework rewrote `url` for a mount (Express). */
  originalUrl?: string
  /** A body already parsed by a body parser. */
  body?: unknown
}

/**
 * Options of {@link toWebRequest}.
 *
 * @public
 */
export interface ToWebRequestOptions {
  /** Largest body accepted, in bytes; a larger one is refused with `ERR_REQUEST_TOO_LARGE`. */
  maxRequestBytes: number
  /** Aborts the body read and becomes the `Request`'s `signal`. */
  signal: AbortSignal
  /**
   * Trust `X-Forwarded-Proto` for the URL's scheme and `X-Forwarded-For` for the client address.
   * Only enable behind a proxy that sets (and overwrites) these headers. Default `false`.
   */
  trustProxy?: boolean
  /**
   * The path and query the client requested. Defaults to `req.originalUrl ?? req.url`, which
   * is right for Express (its mounts rewrite `req.url` but keep `req.originalUrl`).
   */
  url?: string
  /**
   * A body a parser has already consumed from the stream. Defaults to `req.body`. Only used when
   * the request stream has already ended; see {@link toWebRequest}.
   */
  parsedBody?: unknown
}

/**
 * Called with every error a mount meets: a refused body, a handler that threw, a response that
 * could not be written. Return a `Response` to answer with it instead of the default mapping
 * (a `FnboxError`'s own answer, or a 500 that reveals nothing); return nothing to keep the
 * default. It is also the place to log. For an error after the response head was sent (a
 * stream failing mid-way) the return value is ignored: the connection is already broken off.
 * `request` is `undefined` when the error happened before the `Request` existed (e.g. a 413).
 * Under `runtime.express()` and `runtime.koa()` its body is not there to read: it went to the
 * function.
 * Errors that only mean the client disconnected are not reported. An `onError` that throws is
 * ignored and the default answer is used.
 *
 * @public
 */
export type HttpErrorHandler = (
  error: unknown,
  request: Request | undefined,
) => Response | void | Promise<Response | void>

/**
 * Options of the HTTP mounts (`createExpressMiddleware`, `createKoaMiddleware`).
 *
 * @example
 * ```ts
 * const options: HttpMountOptions = {
 *   maxRequestBytes: 256 * 1024,
 *   trustProxy: true,
 *   onError: (error) => void console.error('fnbox', error),
 * }
 * ```
 * @public
 */
export interface HttpMountOptions {
  /** Largest request body accepted, in bytes; larger ones get a 413. Default 1 MiB (1048576). */
  maxRequestBytes?: number
  /**
   * Trust `X-Forwarded-Proto` (URL scheme) and `X-Forwarded-For` (client address: its left-most
   * entry). Enable only behind a proxy that sets these headers. The host always comes from the
   * `Host` header (`X-Forwarded-Host` is ignored): have the proxy pass the original one on.
   * Default `false`.
   */
  trustProxy?: boolean
  /** Error hook: replace the error answer and/or log. See {@link HttpErrorHandler}. */
  onError?: HttpErrorHandler
  /**
   * Requests per client address, checked before any other work on a request (no body read, no
   * function looked up): past it, 429 `ERR_RATE_LIMITED` with `Retry-After` (through `onError`).
   * Default: no limit.
   */
  rateLimit?: ClientRateLimitOptions
  /**
   * Serves `runtime.health()` as JSON at this path of the mount (`'/_health'` answers
   * `/fn/_health` when mounted at `/fn`): 200 when `ok` or `degraded`, 503 when `down`. It shadows
   * a function of that name. Default: not served.
   */
  healthPath?: string
}

/** Default of {@link HttpMountOptions.maxRequestBytes}: 1 MiB. @public */
export const DEFAULT_MAX_REQUEST_BYTES = 1_048_576
