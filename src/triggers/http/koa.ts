/**
 * The Koa mount: `app.use(createKoaMiddleware(runtime.fetch, { prefix: '/fn' }))`.
 *
 * @module
 */

import type { IncomingMessage, ServerResponse } from 'node:http'
import { Readable } from 'node:stream'
import type { ReadableStream as NodeReadableStream } from 'node:stream/web'
import type { Clock } from '../../clock.js'
import { invalidOption } from '../../errors.js'
import {
  assertHandler,
  errorAnswer,
  reportError,
  resolveMountOptions,
  runHandler,
  type MountHandler,
} from './mount-options.js'
import { ClientDisconnect, type CancelSignal } from './connection.js'
import {
  nodeHeaderEntries,
  pathnameOf,
  responseBytes,
  stripPrefix,
  statusAllowsBody,
  type HttpMountOptions,
} from './node-http.js'

/**
 * The slice of Koa's `ctx` the mount uses. Koa's `Context` satisfies it, so the middleware
 * plugs into `app.use` without fnbox depending on Koa's types.
 *
 * @public
 */
export interface KoaContextLike {
  /** Node's request. */
  readonly req: IncomingMessage
  /** Node's response. */
  readonly res: ServerResponse
  /** The request target, possibly rewritten by an outer mount (`koa-mount`). */
  readonly url: string
  /** The request target as the client sent it. */
  readonly originalUrl: string
  /** Response status. */
  status: number
  /** Response body: the mount sets a Node `Readable` or `null`. */
  body: unknown
  /** Sets a response header, replacing earlier values. */
  set(field: string, value: string | string[]): void
  /** Adds values to a response header (used for `Set-Cookie`). */
  append(field: string, value: string | string[]): void
  /** Removes a response header. */
  remove(field: string): void
  /** A body parser (`koa-bodyparser`, `@koa/bodyparser`) keeps its results here. */
  readonly request: { readonly url: string; body?: unknown; rawBody?: unknown }
}

/**
 * A Koa middleware, typed by the slice of Koa it uses.
 *
 * @public
 */
export type KoaMiddleware = (ctx: KoaContextLike, next: () => Promise<unknown>) => Promise<void>

/**
 * Options of `runtime.koa()` (and `createKoaMiddleware`).
 *
 * @public
 */
export interface KoaMountOptions extends HttpMountOptions {
  /**
   * Only requests under this path are fnbox's; others go to `next()`. Matched on segment
   * boundaries (`/fn` matches `/fn` and `/fn/x`, not `/fnx`) and stripped to form
   * `context.path`. A trailing `/` is ignored. Default: none, every request is fnbox's.
   */
  prefix?: string
}

/**
 * Mounts a {@link FetchHandler} (the fnbox runtime's `fetch`) as Koa middleware.
 *
 * - **Paths.** With `prefix: '/fn'`, `/fn/hello/x?y=1` reaches the handler with
 *   `context.path` `/hello/x` and `request.url` the full URL from `ctx.originalUrl`. Paths
 *   outside the prefix go to `next()`. Under the prefix, fnbox owns the path: `next()` is not
 *   called, not even for the runtime's 404.
 * - **Streaming** goes through Koa's own pipeline: `ctx.body` is a Node `Readable` made with
 *   `Readable.fromWeb`, so upstream middleware can still read or wrap status, headers and body
 *   after `await next()`. Chunks reach the client as they are produced, and the head is flushed
 *   when Koa starts piping, so a slow first chunk does not hold back the status line. A client
 *   that disconnects destroys the Readable, which cancels the web stream (and aborts
 *   `context.signal`). A stream error mid-way destroys the socket.
 * - **Headers** replace those set earlier under the same name, except `Set-Cookie`, which is
 *   appended. A response without `Content-Type` gets none (Koa would default to
 *   `application/octet-stream`).
 * - **Bodies**: a parsed `ctx.request.rawBody` (string) or `ctx.request.body` is used when a body
 *   parser consumed the stream (see `toWebRequest`).
 * - **Errors** are answered here (never thrown into Koa): the `FnboxError`'s own answer or an
 *   opaque 500, unless `options.onError` returns a replacement.
 *
 * @throws FnboxError `ERR_INVALID_OPTION` naming the bad option.
 * @example
 * ```ts
 * import Koa from 'koa'
 * const app = new Koa()
 * app.use(createKoaMiddleware((request) => runtime.fetch(request), { prefix: '/fn' }))
 * ```
 * @public
 */
export function createKoaMiddleware(handler: MountHandler, options?: KoaMountOptions, clock?: Clock): KoaMiddleware {
  assertHandler(handler)
  const resolved = resolveMountOptions(options, clock)
  const prefix = resolvePrefix(options?.prefix)

  return async function fnboxKoa(ctx, next): Promise<void> {
    const fullPath = pathnameOf(ctx.url)
    const path = stripPrefix(fullPath, prefix)
    if (path === undefined) {
      await next()
      return
    }

    const signal = new ClientDisconnect(ctx.res)
    const { request, response } = await runHandler(
      handler,
      { req: ctx.req, url: ctx.originalUrl, path, parsedBody: parsedBodyOf(ctx) },
      resolved,
      signal,
    )

    try {
      applyResponse(ctx, response, (error) => void reportError(error, request, resolved, signal), signal)
    } catch (error) {
      // The head could not be applied (e.g. a header value Node refuses): answer the error.
      const body = ctx.body
      if (body instanceof Readable) body.destroy()
      else if (response.body !== null && !response.body.locked) response.body.cancel().catch(() => {})
      for (const name of ctx.res.getHeaderNames()) ctx.res.removeHeader(name)
      const answer = await errorAnswer(error, request, resolved, signal)
      applyResponse(ctx, answer, () => {}, signal)
    }
  }
}

/**
 * Hands a Web `Response` to Koa: status, status text, headers and a Node `Readable` body that
 * Koa pipes (and destroys, cancelling the web stream, when the client leaves).
 */
function applyResponse(
  ctx: KoaContextLike,
  response: Response,
  onStreamError: (error: unknown) => void,
  signal: CancelSignal,
): void {
  const body = response.body
  const bytes = responseBytes.get(response)
  if (bytes !== undefined && statusAllowsBody(response.status)) {
    ctx.body = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)
    ctx.status = response.status
  } else if (body === null || !statusAllowsBody(response.status)) {
    if (body !== null) body.cancel().catch(() => {})
    // Koa turns a null body into 204 unless the status is set after it.
    ctx.body = null
    ctx.status = response.status
  } else {
    const stream = Readable.fromWeb(body as NodeReadableStream<Uint8Array>)
    stream.on('error', onStreamError)
    signal.addEventListener('abort', () => stream.destroy(), { once: true })
    // Koa pipes the body only once every middleware has returned: flushing the head then
    // cannot freeze headers someone still means to set, and shows a slow stream's status early.
    const res = ctx.res
    res.once('pipe', () => {
      if (!res.headersSent && !res.destroyed) res.flushHeaders()
    })
    ctx.body = stream
    ctx.status = response.status
  }
  if (response.statusText !== '' && ctx.req.httpVersionMajor < 2) {
    ctx.res.statusMessage = response.statusText
  }
  for (const [name, value] of nodeHeaderEntries(response.headers)) {
    if (name === 'set-cookie') ctx.append(name, value)
    else ctx.set(name, value)
  }
  if (!response.headers.has('content-type')) ctx.remove('content-type')
}

function resolvePrefix(prefix: unknown): string {
  if (prefix === undefined) return ''
  if (typeof prefix !== 'string' || !prefix.startsWith('/') || /[?#]/.test(prefix)) {
    throw invalidOption('options.prefix', "a path starting with '/'", prefix)
  }
  return prefix.replace(/\/+$/, '')
}

function parsedBodyOf(ctx: KoaContextLike): unknown {
  const { rawBody, body } = ctx.request
  if (typeof rawBody === 'string' && rawBody !== '') return rawBody
  return body
}
