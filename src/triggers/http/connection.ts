/**
 * One connection's concerns, shared by the request and the response side: hop-by-hop headers,
 * the client's address, the mount-relative path, and telling a client that left (a disconnect
 * signal, the errors that only mean it went away).
 *
 * @module
 */
import type { IncomingMessage, ServerResponse } from 'node:http'

/** Headers that describe one connection, not the message; never forwarded. */
export const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'transfer-encoding',
  'upgrade',
  'te',
  'trailer',
  'http2-settings',
])

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

export function isClientGoneCode(error: unknown): boolean {
  const code = (error as NodeJS.ErrnoException | null)?.code
  return code !== undefined && CLIENT_GONE_CODES.has(code)
}

/**
 * The origin-form (`/path?query`) of a request target. Absolute-form targets keep their path
 * and query; `*` and other oddities become `/`.
 */
export function originForm(target: string): string {
  if (target.startsWith('/')) return target
  try {
    const url = new URL(target)
    return `${url.pathname}${url.search}`
  } catch {
    return '/'
  }
}

export function disconnected(): DOMException {
  return new DOMException('The client disconnected', 'AbortError')
}

export function firstHeader(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value
}

export function firstToken(value: string | string[] | undefined): string | undefined {
  const token = firstHeader(value)?.split(',')[0]?.trim()
  return token === undefined || token === '' ? undefined : token
}
