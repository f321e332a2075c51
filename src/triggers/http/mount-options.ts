/**
 * Validation of the options shared by the Express and Koa mounts, and the request pipeline
 * both mounts run: Node request → Web `Request` → handler → Web `Response`, errors mapped.
 * Internal: the public types live in `node-http.ts`.
 *
 * @module
 */

import { failureOf } from './failed-response.js'
import type { CancelSignal, ClientDisconnect } from './connection.js'
import { readWebRequest } from './web-request.js'
import type { IncomingMessage } from 'node:http'
import type { Clock } from '../../clock.js'
import { invalidOption } from '../../errors.js'
import { resolveClientRateLimit, type ClientRateLimiter } from '../../reliability/client-rate-limit.js'
import {
  DEFAULT_MAX_REQUEST_BYTES,
  clientAddressOf,
  errorToResponse,
  isClientGone,
  type FetchHandler,
  type HttpErrorHandler,
  type HttpMountOptions,
  type NodeRequestLike,
} from './node-http.js'

/** @internal */
export interface ResolvedMountOptions {
  readonly maxRequestBytes: number
  readonly trustProxy: boolean
  readonly onError: HttpErrorHandler | undefined
  readonly rateLimit: ClientRateLimiter | undefined
}

/**
 * Validates mount options with messages that name the option, filling defaults.
 *
 * @internal
 */
export function resolveMountOptions(options: unknown, clock?: Clock): ResolvedMountOptions {
  if (options === undefined) options = {}
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    throw invalidOption('options', 'an object', options)
  }
  const { maxRequestBytes, trustProxy, onError, rateLimit, healthPath } = options as HttpMountOptions
  if (healthPath !== undefined && !(typeof healthPath === 'string' && /^\/[^?#]*$/.test(healthPath))) {
    throw invalidOption('options.healthPath', "a path starting with '/'", healthPath)
  }
  if (maxRequestBytes !== undefined && !(Number.isSafeInteger(maxRequestBytes) && maxRequestBytes >= 0)) {
    throw invalidOption('options.maxRequestBytes', 'a non-negative integer', maxRequestBytes)
  }
  if (trustProxy !== undefined && typeof trustProxy !== 'boolean') {
    throw invalidOption('options.trustProxy', 'a boolean', trustProxy)
  }
  if (onError !== undefined && typeof onError !== 'function') {
    throw invalidOption('options.onError', 'a function', onError)
  }
  return {
    maxRequestBytes: maxRequestBytes ?? DEFAULT_MAX_REQUEST_BYTES,
    trustProxy: trustProxy ?? false,
    onError,
    rateLimit: resolveClientRateLimit(rateLimit, 'options.rateLimit', clock),
  }
}

/**
 * The runtime's own entry for its mounts: the answer a {@link FetchHandler} would give, from a
 * `Request` that follows no signal and carries no body (its bytes are `takeRequestBytes`'s)
 * and the client's disconnect as it is (see {@link ClientDisconnect}), so a request costs no
 * `AbortSignal` nobody reads and no second copy of its body.
 *
 * @internal
 */
export interface MountServe {
  serve(request: Request, path: string, disconnect: CancelSignal): Promise<Response>
}

/** What a mount serves: any {@link FetchHandler}, or the runtime's {@link MountServe}. @internal */
export type MountHandler = FetchHandler | MountServe

/** @internal */
export function assertHandler(handler: unknown): asserts handler is MountHandler {
  if (typeof handler === 'function') return
  if (typeof (handler as Partial<MountServe> | null)?.serve === 'function') return
  throw invalidOption('handler', 'a function', handler)
}

/**
 * Where a mount found the request: the full target, the mount-relative path, a parsed body.
 *
 * @internal
 */
export interface MountedRequest {
  readonly req: IncomingMessage
  /** Path and query the client sent (before any mount rewrote it). */
  readonly url: string
  /** Path relative to the mount. */
  readonly path: string
  /** A body a parser already consumed, if the framework keeps one outside `req.body`. */
  readonly parsedBody?: unknown
}

/**
 * Runs one request through the handler and always comes back with a `Response` to send: the
 * handler's, or the error answer (from `onError` or {@link errorToResponse}).
 *
 * @internal
 */
export async function runHandler(
  handler: MountHandler,
  mounted: MountedRequest,
  options: ResolvedMountOptions,
  signal: ClientDisconnect,
): Promise<{ request: Request | undefined; response: Response }> {
  let request: Request | undefined
  // First of all: a client over its rate costs us nothing more than this lookup.
  const limited = options.rateLimit?.check(clientAddressOf(mounted.req, options.trustProxy))
  if (limited) return { request, response: await errorAnswer(limited, undefined, options, signal) }
  const own = typeof handler !== 'function'
  try {
    request = await readWebRequest(mounted.req as NodeRequestLike, {
      maxRequestBytes: options.maxRequestBytes,
      signal,
      // Any other handler may read request.signal (it follows the disconnect) and its body.
      requestSignal: own ? undefined : signal.signal,
      bodyInRequest: !own,
      trustProxy: options.trustProxy,
      url: mounted.url,
      parsedBody: mounted.parsedBody,
    })
    const response: unknown = own
      ? await handler.serve(request, mounted.path, signal)
      : await handler(request, {
          path: mounted.path,
          clientAddress: clientAddressOf(mounted.req, options.trustProxy),
          signal: signal.signal,
        })
    if (!isResponse(response)) throw new TypeError('The fnbox handler did not return a Response')
    // The runtime's answer to a failed invocation: onError hears of it, and may replace it.
    const failure = failureOf(response)
    if (failure) return { request, response: (await reportError(failure, request, options, signal)) ?? response }
    return { request, response }
  } catch (error) {
    return { request, response: await errorAnswer(error, request, options, signal) }
  }
}

/**
 * The answer to an error: `onError`'s replacement if it gives one, else the default mapping.
 *
 * @internal
 */
export async function errorAnswer(
  error: unknown,
  request: Request | undefined,
  options: ResolvedMountOptions,
  signal: CancelSignal,
): Promise<Response> {
  const replacement = await reportError(error, request, options, signal)
  return replacement ?? errorToResponse(error)
}

/**
 * Tells `onError` about an error (unless it only means the client left); returns its
 * replacement answer, if any.
 *
 * @internal
 */
export async function reportError(
  error: unknown,
  request: Request | undefined,
  options: ResolvedMountOptions,
  signal: CancelSignal,
): Promise<Response | undefined> {
  if (options.onError === undefined || isClientGone(error, signal)) return undefined
  try {
    const replacement = await options.onError(error, request)
    return isResponse(replacement) ? replacement : undefined
  } catch {
    return undefined
  }
}

/** Duck-typed: a `Response` from another copy of undici (the `undici` package) counts too. */
function isResponse(value: unknown): value is Response {
  if (value instanceof Response) return true
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as Response).status === 'number' &&
    typeof (value as Response).headers?.get === 'function' &&
    'body' in value
  )
}
