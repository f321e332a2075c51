/**
 * The bridge between Node's `http` objects and the Web `Request`/`Response` pair the fnbox
 * runtime speaks: reading a request body under a hard limit, streaming a response back with
 * backpressure, a per-request disconnect signal, and the mapping of errors to HTTP answers.
 *
 * The Express and Koa mounts are thin layers over these functions; they are exported so that
 * other Node servers (plain `node:http`, Fastify's raw objects, ...) can mount fnbox too.
 *
 * @module
 */
export type {
  FetchHandler,
  FetchHandlerContext,
  HttpErrorHandler,
  HttpMountOptions,
  NodeRequestLike,
  ToWebRequestOptions,
} from './http-types.js'
export { DEFAULT_MAX_REQUEST_BYTES } from './http-types.js'
export { takeRequestBytes, toWebRequest } from './web-request.js'
export {
  errorToResponse,
  nodeHeaderEntries,
  responseBytes,
  statusAllowsBody,
  writeWebResponse,
} from './web-response.js'
export { clientAddressOf, createDisconnectSignal, isClientGone, pathnameOf, stripPrefix } from './connection.js'
