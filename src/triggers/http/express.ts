/**
 * The Express mount: `app.use('/fn', createExpressMiddleware(runtime.fetch))`.
 *
 * @module
 */

import type { ServerResponse } from 'node:http'
import type { Clock } from '../../clock.js'
import { FnboxError } from '../../errors.js'
import {
  assertHandler,
  errorAnswer,
  reportError,
  resolveMountOptions,
  runHandler,
  type MountHandler,
} from './mount-options.js'
import { ClientDisconnect } from './connection.js'
import { pathnameOf, stripPrefix, writeWebResponse, type HttpMountOptions, type NodeRequestLike } from './node-http.js'

/**
 * The slice of Express's `req` the mount uses. Express's `Request` satisfies it, so the
 * middleware plugs into `app.use` without fnbox depending on Express's types.
 *
 * @public
 */
export interface ExpressRequestLike extends NodeRequestLike {
  /** The full path and query as the client sent them; Express strips the mount path from `url`. */
  originalUrl?: string
  /** The path Express matched the mount on (`/fn`). */
  baseUrl?: string
  /** A body parsed by `express.json()`, `express.text()`, `express.raw()`, ... */
  body?: unknown
}

/**
 * An Express middleware, typed by the slice of Express it uses.
 *
 * @public
 */
export type ExpressMiddleware = (
  req: ExpressRequestLike,
  res: ServerResponse,
  next: (error?: unknown) => void,
) => Promise<void>

/**
 * Mounts a {@link FetchHandler} (the fnbox runtime's `fetch`) as Express middleware.
 *
 * - **Paths.** Mounted with `app.use('/fn', mw)`, Express strips `/fn` from `req.url`; that
 *   remainder is the handler's `context.path` (`/fn/hello/x?y=1` → `/hello/x`), while
 *   `request.url` is rebuilt from `req.originalUrl`, the full URL the client used.
 * - **fnbox owns the mount.** Every request that reaches the middleware is answered by it;
 *   `next()` is never called, not even for the runtime's 404 for an unknown function, so a
 *   route registered after the mount under the same path never runs.
 * - **Bodies** are buffered up to `maxRequestBytes` (413 `ERR_REQUEST_TOO_LARGE` beyond). A body
 *   parser such as `express.json()` mounted before is fine: its `req.body` is re-encoded (see
 *   `toWebRequest`). Its own limit (100 kB by default for `express.json()`) applies first.
 * - **Responses** stream with backpressure; a client that disconnects aborts `context.signal`
 *   and cancels the response stream.
 * - **Errors** never reach Express's error handler: they become the `FnboxError`'s own answer or
 *   an opaque 500, unless `options.onError` returns a replacement.
 *
 * `clock`: the time of `options.rateLimit` (the runtime passes its own).
 *
 * @throws FnboxError `ERR_INVALID_OPTION` naming the bad option.
 * @example
 * ```ts
 * import express from 'express'
 * const app = express()
 * app.use('/fn', createExpressMiddleware((request) => runtime.fetch(request), {
 *   maxRequestBytes: 256 * 1024,
 *   onError: (error) => void console.error(error),
 * }))
 * ```
 * @public
 */
export function createExpressMiddleware(
  handler: MountHandler,
  options?: HttpMountOptions,
  clock?: Clock,
): ExpressMiddleware {
  assertHandler(handler)
  const resolved = resolveMountOptions(options, clock)

  return async function fnboxExpress(req, res, _next): Promise<void> {
    const signal = new ClientDisconnect(res)
    const path = mountPath(req)
    const { request, response } =
      path === undefined
        ? { request: undefined, response: await errorAnswer(outsideMount(), undefined, resolved, signal) }
        : await runHandler(handler, { req, url: req.originalUrl ?? req.url ?? '/', path }, resolved, signal)
    try {
      await writeWebResponse(res, response, signal)
    } catch (error) {
      if (!res.headersSent && !res.destroyed) {
        // The head could not be written (e.g. a header value Node refuses): answer the error.
        for (const name of res.getHeaderNames()) res.removeHeader(name)
        const answer = await errorAnswer(error, request, resolved, signal)
        await writeWebResponse(res, answer, signal).catch(() => res.destroy())
      } else {
        await reportError(error, request, resolved, signal)
      }
    }
  }
}

/**
 * The path under the mount, read from the URL the client sent with its dot segments resolved
 * (the URL the handler sees), not from the raw remainder Express matched: `/fn/../fn/hello`
 * serves `/hello`, as on Koa. `undefined` when the resolved path leaves the mount (`/fn/../x`).
 */
function mountPath(req: ExpressRequestLike): string | undefined {
  const { baseUrl, originalUrl } = req
  if (baseUrl === undefined || originalUrl === undefined) return pathnameOf(req.url ?? '/')
  const prefix = baseUrl === '' ? '' : pathnameOf(baseUrl).replace(/\/+$/, '')
  return stripPrefix(pathnameOf(originalUrl), prefix)
}

function outsideMount(): FnboxError {
  return new FnboxError('ERR_NOT_FOUND', 'The request path leaves the mount once its dot segments are resolved')
}
