// host.d.ts is a script (an ambient module declaration), which only a reference can include.
// eslint-disable-next-line @typescript-eslint/triple-slash-reference
/// <reference path="./host.d.ts" />
/**
 * Types for code that runs INSIDE fnbox sandboxes (functions), not for the host.
 *
 * The sandbox provides the standard web globals (`fetch`, `Request`, `Response`, `Headers`,
 * `URL`, streams, `TextEncoder`, `crypto`, timers, `console`, ...): use TypeScript's `DOM` lib
 * (or `@cloudflare/workers-types`-like web typings) for them. This file adds what is specific to
 * fnbox: the context handed to handlers and the shapes of a function module.
 *
 * @example
 * ```ts
 * import type { FnboxContext, FnboxModule } from 'fnbox/guest'
 *
 * export default {
 *   async fetch(request: Request, ctx: FnboxContext) {
 *     return Response.json({ id: ctx.requestId, path: new URL(request.url).pathname })
 *   },
 * } satisfies FnboxFetchExport
 * ```
 * @module
 */

/** The second argument of every HTTP handler. */
export interface FnboxContext {
  /**
   * Id of this invocation: the client's `X-Request-Id` when it sent a valid one (1-128 visible
   * ASCII characters), else a new UUID; echoed in the response's `x-request-id`, and on every
   * log entry and span of the invocation.
   */
  readonly requestId: string
  /** The trace id of the invocation's span; undefined while the host records no traces. */
  readonly traceId: string | undefined
  /** The function's deployed name. */
  readonly functionName: string
  /** The deployed version (content hash). */
  readonly version: string
  /**
   * The URL as the client sent it. `request.url` is relative to the function's mount instead:
   * a request to `/fn/hello/api/x?y=1`, with the runtime mounted by `app.use('/fn', ...)`, is
   * `http://host/api/x?y=1` for the function `hello`, so a router written for its own origin
   * (Hono, itty-router) works unchanged under any mount and through `runtime.fetch`.
   */
  readonly originalUrl: string
  /** Where the function is mounted: `/fn/hello` in that example (`/hello` through `runtime.fetch`). */
  readonly mountPath: string
  /**
   * Keeps the invocation alive until `promise` settles, after the response is sent. It stays
   * within the function's `timeoutMs` (after a streamed response: its `streamTotalMs`) and
   * `cpuMs`.
   */
  waitUntil(promise: Promise<unknown>): void
}

/** An HTTP handler: `export default { fetch }` or a per-method export (`export function GET`). */
export type FnboxHandler = (request: Request, ctx: FnboxContext) => Response | Promise<Response>

/** The default export that serves HTTP. */
export interface FnboxFetchExport {
  fetch: FnboxHandler
}

/**
 * The shape of a function module: an HTTP entry (default `fetch` or method exports) and any
 * other named exports, callable by the host with `runtime.call(name, exportName, ...jsonArgs)`.
 */
export interface FnboxModule {
  default?: FnboxFetchExport
  GET?: FnboxHandler
  HEAD?: FnboxHandler
  POST?: FnboxHandler
  PUT?: FnboxHandler
  PATCH?: FnboxHandler
  DELETE?: FnboxHandler
  OPTIONS?: FnboxHandler
}
