/**
 * HTTP triggers: mount a fnbox runtime (any {@link FetchHandler}) on Express, Koa or a plain
 * Node server.
 *
 * @module
 */

export {
  DEFAULT_MAX_REQUEST_BYTES,
  createDisconnectSignal,
  errorToResponse,
  toWebRequest,
  writeWebResponse,
  type FetchHandler,
  type FetchHandlerContext,
  type HttpErrorHandler,
  type HttpMountOptions,
  type NodeRequestLike,
  type ToWebRequestOptions,
} from './node-http.js'
export { createExpressMiddleware, type ExpressMiddleware, type ExpressRequestLike } from './express.js'
export { createKoaMiddleware, type KoaContextLike, type KoaMiddleware, type KoaMountOptions } from './koa.js'
