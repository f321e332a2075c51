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

import type { IncomingMessage, ServerResponse } from 'node:http'
import type { TLSSocket } from 'node:tls'
import { FnboxError, isFnboxError } from '../../errors.js'
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

/** Headers that describe one connection, not the message; never forwarded. */
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'transfer-encoding',
  'upgrade',
  'te',
  'trailer',
  'http2-settings',
])

const EMPTY = new Uint8Array(0)

/**
 * Converts a Node request into a Web `Request` whose body is fully buffered in memory.
 *
 * The URL is the one the client used: scheme from the socket (`https` on TLS; with `trustProxy`,
 * from `X-Forwarded-Proto`), host from the `Host` header (`localhost` when missing or malformed),
 * path and query from `options.url ?? req.originalUrl ?? req.url`.
 *
 * The body is read under a hard limit: a `Content-Length` above `maxRequestBytes` is refused at
 * once, without reading a byte; a chunked body is read until it crosses the limit, then
 * refused, and the rest is discarded unbuffered so the client still receives the answer on a
 * usable connection. Both refusals are a {@link FnboxError} `ERR_REQUEST_TOO_LARGE` with
 * `details: { limit, value }`. `GET` and `HEAD` requests get no body.
 *
 * When a body parser mounted earlier has already consumed the stream (it has ended), the body
 * is rebuilt from `options.parsedBody ?? req.body`: a `Buffer`/`Uint8Array` is used as is, a
 * string is encoded as UTF-8, an object is re-encoded as `application/x-www-form-urlencoded`
 * when the request had that type and the object is flat, and as JSON otherwise (setting
 * `Content-Type: application/json` if the request's type was not JSON). `Content-Length` is set
 * to the rebuilt size and `Content-Encoding` dropped (parsers inflate). A consumed stream with
 * no parsed body gives an empty body. The limit applies to the rebuilt body too.
 *
 * Hop-by-hop headers (`Connection`, `Transfer-Encoding`, ...) are not copied.
 *
 * @example
 * ```ts
 * import { createServer } from 'node:http'
 * createServer(async (req, res) => {
 *   const controller = new AbortController()
 *   const request = await toWebRequest(req, { maxRequestBytes: 1 << 20, signal: controller.signal })
 *   res.end(`${request.method} ${request.url}`)
 * })
 * ```
 * @public
 */
export async function toWebRequest(req: NodeRequestLike, options: ToWebRequestOptions): Promise<Request> {
  const { maxRequestBytes, signal } = options
  const trustProxy = options.trustProxy === true
  signal.throwIfAborted()

  const method = checkMethod((req.method ?? 'GET').toUpperCase())
  const url = absoluteUrl(req, options.url ?? req.originalUrl ?? req.url ?? '/', trustProxy)
  const headers = toWebHeaders(req)

  let body: Uint8Array | null = null
  if (method !== 'GET' && method !== 'HEAD') {
    const bytes = await readBody(req, headers, options, maxRequestBytes)
    if (hasBody(req)) headers.set('content-length', String(bytes.byteLength))
    if (bytes.byteLength > 0) body = bytes
  }

  try {
    // Our bytes always sit on a plain ArrayBuffer; TS 5.9 cannot know that of a Uint8Array.
    const request = new Request(url, { method, headers, body: body as RequestInit['body'], signal })
    if (body !== null) requestBytes.set(request, body.buffer as ArrayBuffer)
    return request
  } catch (error) {
    // Whatever the Fetch API refuses here came from the client: its request, not our bug.
    throw new FnboxError('ERR_BAD_REQUEST', 'The request cannot be represented as a Fetch Request', {
      cause: error,
    })
  }
}

/**
 * The body bytes of each `Request` that {@link toWebRequest} made, in a buffer of their own
 * (exactly the body, no other reference): the runtime takes them instead of reading the
 * request's stream, which would buffer the body a second time.
 */
const requestBytes = new WeakMap<Request, ArrayBuffer>()

/**
 * The body `toWebRequest` read for `request`, once: the caller owns the buffer (it may transfer
 * it). `undefined` for any other request, or when taken already; its stream is still unread.
 *
 * @internal
 */
export function takeRequestBytes(request: Request): ArrayBuffer | undefined {
  const bytes = requestBytes.get(request)
  if (bytes !== undefined) requestBytes.delete(request)
  return bytes
}

/** Methods the Fetch API refuses to carry (a `Request` cannot have them). */
const FORBIDDEN_METHODS = new Set(['CONNECT', 'TRACE', 'TRACK'])
/** An HTTP method: a token (RFC 9110 §9.1). */
const METHOD_TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/

/** The method, or `ERR_BAD_REQUEST`: 405 for one the Fetch API forbids, 400 for a non-token. */
function checkMethod(method: string): string {
  if (FORBIDDEN_METHODS.has(method)) {
    throw new FnboxError('ERR_BAD_REQUEST', `The method ${method} is not supported`, {
      status: 405,
      details: { method },
    })
  }
  if (!METHOD_TOKEN.test(method)) {
    throw new FnboxError('ERR_BAD_REQUEST', 'The request method is not a valid token', {
      details: { method: method.slice(0, 32) },
    })
  }
  return method
}

/**
 * Writes a Web `Response` to a Node `ServerResponse`: status, status text, headers (each
 * `Set-Cookie` kept separate and appended to any set earlier), then the body streamed chunk by
 * chunk with backpressure (`write` returning `false` waits for `drain`). Headers are flushed
 * before the first chunk is awaited, so a client sees the head of a slow stream at once.
 *
 * `HEAD` requests and `204`/`304` answers send no body; their body stream, if any, is
 * cancelled. When the client disconnects mid-stream (or `signal` aborts) the body stream is
 * cancelled so its producer stops, and the promise resolves. When the body stream errors
 * mid-way the socket is destroyed, so the client sees a broken response rather than a clean,
 * truncated one, and the promise rejects with that error.
 *
 * @example
 * ```ts
 * import { createServer } from 'node:http'
 * createServer((req, res) => {
 *   void writeWebResponse(res, new Response('hello'))
 * })
 * ```
 * @public
 */
/**
 * Bodies the runtime hands to its own mounts as bytes, beside a body-less `Response`: writing
 * them at once skips a web stream per request, the largest cost of a small response.
 *
 * @internal
 */
export const responseBytes = new WeakMap<Response, Uint8Array>()

export async function writeWebResponse(res: ServerResponse, response: Response, signal?: AbortSignal): Promise<void> {
  const body = response.body
  if (res.destroyed || res.writableEnded || signal?.aborted === true) {
    await cancelQuietly(body, signal?.reason)
    return
  }
  if (res.headersSent) {
    await cancelQuietly(body, undefined)
    throw new Error('writeWebResponse: the response head was already sent')
  }

  res.statusCode = response.status
  if (response.statusText !== '') res.statusMessage = response.statusText
  for (const [name, value] of nodeHeaderEntries(response.headers)) {
    if (name === 'set-cookie') res.setHeader(name, [...existingCookies(res), ...value])
    else res.setHeader(name, value)
  }

  const method = res.req?.method?.toUpperCase()
  const bytes = responseBytes.get(response)
  if (bytes !== undefined && method !== 'HEAD' && statusAllowsBody(response.status)) {
    res.end(bytes)
    await settled(res)
    return
  }
  if (body === null || method === 'HEAD' || !statusAllowsBody(response.status)) {
    await cancelQuietly(body, undefined)
    res.end()
    await settled(res)
    return
  }

  res.flushHeaders()
  const reader = body.getReader()
  let gone = false
  const stop = (): void => {
    if (gone || res.writableFinished) return
    gone = true
    reader.cancel(signal?.reason ?? disconnected()).catch(noop)
  }
  res.once('close', stop)
  signal?.addEventListener('abort', stop, { once: true })
  try {
    for (;;) {
      const { done, value } = await reader.read()
      if (done || gone) break
      const chunk = toBytes(value)
      if (chunk.byteLength === 0) continue
      if (!res.write(chunk)) await drained(res)
    }
    if (gone || res.destroyed) return
    res.end()
    await settled(res)
  } catch (error) {
    reader.cancel(error).catch(noop)
    res.destroy()
    if (gone) return
    throw error
  } finally {
    res.off('close', stop)
    signal?.removeEventListener('abort', stop)
  }
}

/**
 * Maps an error to the HTTP answer a client may see: a {@link FnboxError} (from any copy of
 * fnbox) answers with its own status, JSON body and `Retry-After`; anything else is a 500
 * `{ error: { code: 'ERR_INTERNAL', message: 'Internal error' } }` that reveals no message or
 * stack of the original error.
 *
 * @example
 * ```ts
 * const response = errorToResponse(new Error('db password is hunter2')) // 500, no secret
 * ```
 * @public
 */
export function errorToResponse(error: unknown): Response {
  if (isFnboxError(error)) {
    try {
      return error.toResponse()
    } catch {
      // A foreign copy without a working toResponse falls through to the generic answer.
    }
  }
  return new FnboxError('ERR_INTERNAL', 'Internal error').toResponse()
}

/**
 * An `AbortSignal` that aborts when the client disconnects before `res` has finished.
 *
 * It listens on `res`'s `close` and checks `writableFinished`: `close` after a complete answer
 * is normal, `close` before it means the client is gone. (`req`'s `close` is no use here: modern
 * Node emits it as soon as the request body has been read.) The abort reason is a
 * `DOMException` named `AbortError`.
 *
 * @example
 * ```ts
 * import { createServer } from 'node:http'
 * createServer((req, res) => {
 *   const signal = createDisconnectSignal(res)
 *   signal.addEventListener('abort', () => console.log('client left'))
 * })
 * ```
 * @public
 */
export function createDisconnectSignal(res: ServerResponse): AbortSignal {
  const controller = new AbortController()
  if (res.destroyed && !res.writableFinished) {
    controller.abort(disconnected())
    return controller.signal
  }
  res.once('close', () => {
    if (!res.writableFinished) controller.abort(disconnected())
  })
  return controller.signal
}

/**
 * The client's address: with `trustProxy`, the left-most `X-Forwarded-For` entry when present;
 * otherwise the socket's peer address.
 *
 * @internal
 */
export function clientAddressOf(req: IncomingMessage, trustProxy: boolean): string | undefined {
  if (trustProxy) {
    const forwarded = firstToken(req.headers['x-forwarded-for'])
    if (forwarded !== undefined) return forwarded
  }
  return req.socket?.remoteAddress
}

/**
 * The pathname of a request target (`/a/b?c` → `/a/b`), `.`/`..` resolved, never host-relative.
 *
 * @internal
 */
export function pathnameOf(target: string): string {
  try {
    return new URL(`http://fnbox.invalid${originForm(target)}`).pathname
  } catch {
    return '/'
  }
}

/** The path under `prefix` (segment boundary), or `undefined` when `path` is outside it. @internal */
export function stripPrefix(path: string, prefix: string): string | undefined {
  if (prefix === '') return path
  if (path === prefix) return '/'
  if (path.startsWith(prefix) && path.charAt(prefix.length) === '/') return path.slice(prefix.length)
  return undefined
}

/** True for errors that only say the client went away (not worth reporting). @internal */
export function isClientGone(error: unknown, signal: AbortSignal): boolean {
  if (!signal.aborted) return false
  if (error === signal.reason) return true
  if (!(error instanceof Error)) return false
  return error.name === 'AbortError' || isClientGoneCode(error)
}

/** Errors Node raises on streams whose peer went away. */
const CLIENT_GONE_CODES = new Set(['ERR_STREAM_PREMATURE_CLOSE', 'ECONNRESET', 'EPIPE'])

function isClientGoneCode(error: unknown): boolean {
  const code = (error as NodeJS.ErrnoException | null)?.code
  return code !== undefined && CLIENT_GONE_CODES.has(code)
}

// ---------------------------------------------------------------------------------------------

function absoluteUrl(req: IncomingMessage, target: string, trustProxy: boolean): string {
  let scheme = (req.socket as Partial<TLSSocket> | undefined)?.encrypted === true ? 'https' : 'http'
  if (trustProxy) {
    const forwarded = firstToken(req.headers['x-forwarded-proto'])?.toLowerCase()
    if (forwarded === 'http' || forwarded === 'https') scheme = forwarded
  }
  const rawHost = req.headers.host ?? req.headers[':authority']
  const host = typeof rawHost === 'string' && HOST.test(rawHost) ? rawHost : 'localhost'
  const path = originForm(target)
  try {
    return new URL(`${scheme}://${host}${path}`).href
  } catch {
    return new URL(`${scheme}://localhost${path}`).href
  }
}

/** A Host header value: reg-name or IP literal, optional port. Anything else is not trusted. */
const HOST = /^(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9\-._~!$&'()*+,;=%]+)(?::\d{1,5})?$/

/**
 * The origin-form (`/path?query`) of a request target. Absolute-form targets keep their path
 * and query; `*` and other oddities become `/`.
 */
function originForm(target: string): string {
  if (target.startsWith('/')) return target
  try {
    const url = new URL(target)
    return `${url.pathname}${url.search}`
  } catch {
    return '/'
  }
}

function toWebHeaders(req: IncomingMessage): Headers {
  const headers = new Headers()
  const raw = req.rawHeaders
  const connectionTokens = new Set(
    (firstHeader(req.headers.connection) ?? '')
      .split(',')
      .map((token) => token.trim().toLowerCase())
      .filter((token) => token !== ''),
  )
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = raw[i] as string
    const lower = name.toLowerCase()
    if (lower.startsWith(':') || HOP_BY_HOP.has(lower) || connectionTokens.has(lower)) continue
    try {
      headers.append(lower, raw[i + 1] as string)
    } catch {
      // Node's parser is more lenient than the Fetch spec; a header Headers refuses is dropped.
    }
  }
  return headers
}

function hasBody(req: IncomingMessage): boolean {
  return req.headers['transfer-encoding'] !== undefined || req.headers['content-length'] !== undefined
}

async function readBody(
  req: NodeRequestLike,
  headers: Headers,
  options: ToWebRequestOptions,
  limit: number,
): Promise<Uint8Array> {
  if (streamConsumed(req)) {
    if (req.headers['content-length'] === '0') return EMPTY
    const parsed = options.parsedBody !== undefined ? options.parsedBody : req.body
    const bytes = rebuildBody(parsed, headers)
    if (bytes.byteLength > limit) throw tooLarge(limit, bytes.byteLength, 'body')
    // A copy of our own: the parser's buffer stays the framework's (ours may be transferred).
    return bytes.byteLength === 0 ? EMPTY : new Uint8Array(bytes)
  }

  const declared = req.headers['content-length']
  if (declared !== undefined) {
    const length = Number(declared)
    // Node's parser has already answered 400 to a malformed Content-Length.
    if (Number.isFinite(length) && length > limit) throw tooLarge(limit, length, 'content-length')
  }
  return collect(req, limit, options.signal)
}

/** True when something before us (a body parser) has already read the request stream. */
function streamConsumed(req: NodeRequestLike): boolean {
  return req.readableEnded || (req as { _body?: unknown })._body === true
}

function collect(req: IncomingMessage, limit: number, signal: AbortSignal): Promise<Uint8Array> {
  return new Promise<Uint8Array>((resolve, reject) => {
    if (req.destroyed) {
      reject(disconnected())
      return
    }
    const chunks: Buffer[] = []
    let size = 0
    const cleanup = (): void => {
      req.off('data', onData)
      req.off('end', onEnd)
      req.off('error', onError)
      req.off('close', onClose)
      signal.removeEventListener('abort', onAbort)
    }
    const fail = (error: unknown): void => {
      cleanup()
      chunks.length = 0
      reject(error)
    }
    const onData = (chunk: Buffer | string): void => {
      const buffer = typeof chunk === 'string' ? Buffer.from(chunk) : chunk
      size += buffer.byteLength
      if (size > limit) {
        fail(tooLarge(limit, size, 'stream'))
        // Keep the bytes flowing into the void (never buffered) so the client can finish its
        // upload and read the 413 on a connection that stays usable.
        req.resume()
        return
      }
      chunks.push(buffer)
    }
    const onEnd = (): void => {
      cleanup()
      // One buffer of exactly the body, owned by no one else: the socket's chunks are views of
      // larger buffers (Buffer.concat's too, from its pool), which cannot be transferred.
      const body = new Uint8Array(size)
      let offset = 0
      for (const chunk of chunks) {
        body.set(chunk, offset)
        offset += chunk.byteLength
      }
      resolve(body)
    }
    // A body the server could not parse (bad chunk framing, a reset mid-body): the client's doing.
    const onError = (error: unknown): void =>
      fail(
        isClientGoneCode(error)
          ? error
          : new FnboxError('ERR_BAD_REQUEST', 'The request body could not be read', { cause: error }),
      )
    const onClose = (): void => {
      if (!req.readableEnded) fail(disconnected())
    }
    const onAbort = (): void => fail(signal.reason)
    if (signal.aborted) {
      reject(signal.reason)
      return
    }
    signal.addEventListener('abort', onAbort, { once: true })
    req.on('data', onData)
    req.on('end', onEnd)
    req.on('error', onError)
    req.on('close', onClose)
  })
}

function rebuildBody(parsed: unknown, headers: Headers): Uint8Array {
  // Parsers inflate compressed bodies; what we rebuild is never encoded.
  headers.delete('content-encoding')
  if (parsed === undefined || parsed === null) return EMPTY
  if (parsed instanceof Uint8Array) return parsed
  if (parsed instanceof ArrayBuffer) return new Uint8Array(parsed)
  if (typeof parsed === 'string') return Buffer.from(parsed, 'utf8')

  const type = headers.get('content-type')?.toLowerCase() ?? ''
  if (type.startsWith('application/x-www-form-urlencoded') && isFlatForm(parsed)) {
    const params = new URLSearchParams()
    for (const [key, value] of Object.entries(parsed)) {
      if (Array.isArray(value)) for (const item of value) params.append(key, item as string)
      else params.append(key, value as string)
    }
    return Buffer.from(params.toString(), 'utf8')
  }

  const json = JSON.stringify(parsed)
  if (json === undefined) return EMPTY
  if (!/^application\/(?:[\w.+-]+\+)?json\b/.test(type)) {
    headers.set('content-type', 'application/json')
  }
  return Buffer.from(json, 'utf8')
}

function isFlatForm(value: unknown): value is Record<string, string | string[]> {
  if (typeof value !== 'object' || value === null) return false
  return Object.values(value).every(
    (item) => typeof item === 'string' || (Array.isArray(item) && item.every((element) => typeof element === 'string')),
  )
}

function tooLarge(limit: number, value: number, how: 'content-length' | 'stream' | 'body'): FnboxError {
  const message =
    how === 'stream'
      ? `Request body too large: more than ${limit} bytes (read ${value} before stopping)`
      : `Request body too large: ${value} bytes exceeds the limit of ${limit} bytes`
  return new FnboxError('ERR_REQUEST_TOO_LARGE', message, { details: { limit, value } })
}

/**
 * Response headers as Node wants them: combined values by lower-case name, `Set-Cookie` as a
 * list, hop-by-hop headers left to Node.
 *
 * @internal
 */
export function nodeHeaderEntries(headers: Headers): Array<[string, string | string[]]> {
  const entries: Array<[string, string | string[]]> = []
  const cookies: string[] = []
  for (const [name, value] of headers) {
    if (name === 'set-cookie') cookies.push(value)
    else if (!HOP_BY_HOP.has(name)) entries.push([name, value])
  }
  const setCookies = typeof headers.getSetCookie === 'function' ? headers.getSetCookie() : cookies
  if (setCookies.length > 0) entries.push(['set-cookie', setCookies])
  return entries
}

function existingCookies(res: ServerResponse): string[] {
  const current = res.getHeader('set-cookie')
  if (current === undefined) return []
  return Array.isArray(current) ? current : [String(current)]
}

/** Statuses that never carry a body (RFC 9110 §6.4.1). @internal */
export function statusAllowsBody(status: number): boolean {
  return status >= 200 && status !== 204 && status !== 205 && status !== 304
}

function toBytes(value: unknown): Uint8Array {
  if (value instanceof Uint8Array) return value
  if (ArrayBuffer.isView(value)) return new Uint8Array(value.buffer, value.byteOffset, value.byteLength)
  throw new TypeError('Response body chunks must be Uint8Array')
}

function drained(res: ServerResponse): Promise<void> {
  return new Promise<void>((resolve) => {
    const done = (): void => {
      res.off('drain', done)
      res.off('close', done)
      resolve()
    }
    res.on('drain', done)
    res.on('close', done)
  })
}

/** Resolves once `res` has finished or closed, whichever comes first. */
function settled(res: ServerResponse): Promise<void> {
  if (res.writableFinished || res.destroyed) return Promise.resolve()
  return new Promise<void>((resolve) => {
    const done = (): void => {
      res.off('finish', done)
      res.off('close', done)
      resolve()
    }
    res.on('finish', done)
    res.on('close', done)
  })
}

async function cancelQuietly(body: ReadableStream | null, reason: unknown): Promise<void> {
  if (body === null) return
  try {
    await body.cancel(reason)
  } catch {
    // A locked or errored stream has nobody left to tell.
  }
}

function disconnected(): DOMException {
  return new DOMException('The client disconnected', 'AbortError')
}

function firstHeader(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value
}

function firstToken(value: string | string[] | undefined): string | undefined {
  const token = firstHeader(value)?.split(',')[0]?.trim()
  return token === undefined || token === '' ? undefined : token
}

function noop(): void {}
