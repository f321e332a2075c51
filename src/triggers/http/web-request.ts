/**
 * A Node request as a Web `Request`: its URL as the client used it, its headers without
 * hop-by-hop ones, and its body read once under a hard limit (or rebuilt from what a body
 * parser left), kept beside the `Request` for the runtime to take.
 *
 * @module
 */
import type { IncomingMessage } from 'node:http'
import type { TLSSocket } from 'node:tls'
import { FnboxError } from '../../errors.js'
import {
  disconnected,
  firstHeader,
  firstToken,
  HOP_BY_HOP,
  isClientGoneCode,
  originForm,
  type CancelSignal,
} from './connection.js'
import type { NodeRequestLike, ToWebRequestOptions } from './http-types.js'

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
export function toWebRequest(req: NodeRequestLike, options: ToWebRequestOptions): Promise<Request> {
  return readWebRequest(req, { ...options, requestSignal: options.signal, bodyInRequest: true })
}

/**
 * Options of {@link readWebRequest}: `signal` aborts the body read; `requestSignal`, when given,
 * becomes the `Request`'s signal; `bodyInRequest: false` leaves the body out of the `Request`
 * (only {@link takeRequestBytes} has it).
 *
 * @internal
 */
export interface ReadWebRequestOptions extends Omit<ToWebRequestOptions, 'signal'> {
  signal: CancelSignal
  requestSignal: AbortSignal | undefined
  bodyInRequest: boolean
}

/**
 * {@link toWebRequest} for the mounts: the `Request` follows a signal only when given one, and
 * carries the body only when asked to. The runtime's own handler reads neither (it takes the
 * disconnect and the body's bytes directly), while an undici `Request` that follows a signal
 * costs ~4 times one that does not, and one with a body copies it (a second buffer of it).
 *
 * @internal
 */
export async function readWebRequest(req: NodeRequestLike, options: ReadWebRequestOptions): Promise<Request> {
  const { maxRequestBytes, signal, requestSignal } = options
  const trustProxy = options.trustProxy === true
  if (signal.aborted) throw signal.reason

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
    const init: RequestInit = { method, headers }
    if (body !== null && options.bodyInRequest) init.body = body as RequestInit['body']
    if (requestSignal !== undefined) init.signal = requestSignal
    const request = new Request(url, init)
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
  options: ReadWebRequestOptions,
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

function collect(req: IncomingMessage, limit: number, signal: CancelSignal): Promise<Uint8Array> {
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
