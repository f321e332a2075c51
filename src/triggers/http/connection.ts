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
 * What the mounts need of a cancellation signal: an `AbortSignal` fits, and so does a
 * {@link ClientDisconnect}, which makes no `AbortSignal` until one is asked for.
 *
 * @internal
 */
export interface CancelSignal {
  readonly aborted: boolean
  readonly reason: unknown
  addEventListener(type: 'abort', listener: () => void, options?: { once?: boolean }): void
  removeEventListener(type: 'abort', listener: () => void): void
}

/**
 * A client's disconnect, told the way {@link createDisconnectSignal} tells it, without an
 * `AbortController` per request: Node's costs ~10 µs to make, and an undici `Request` following
 * it ~50 µs more (a controller of its own, a finalization registry entry), while most requests
 * end without anyone listening. {@link ClientDisconnect.signal} makes a real `AbortSignal` for a
 * handler that asks for one.
 *
 * @internal
 */
export class ClientDisconnect implements CancelSignal {
  #reason: DOMException | undefined
  #listeners: Array<() => void> | undefined
  #controller: AbortController | undefined

  constructor(res: ServerResponse) {
    if (res.destroyed && !res.writableFinished) {
      this.#reason = disconnected()
      return
    }
    res.once('close', () => {
      if (!res.writableFinished) this.#abort()
    })
  }

  get aborted(): boolean {
    return this.#reason !== undefined
  }

  get reason(): unknown {
    return this.#reason
  }

  /** An `AbortSignal` that aborts with the disconnect, made on first use. */
  get signal(): AbortSignal {
    if (this.#controller === undefined) {
      this.#controller = new AbortController()
      if (this.#reason !== undefined) this.#controller.abort(this.#reason)
    }
    return this.#controller.signal
  }

  /** Listeners run once, at the disconnect; one added after it never runs (check `aborted`). */
  addEventListener(_type: 'abort', listener: () => void): void {
    if (this.#reason === undefined) (this.#listeners ??= []).push(listener)
  }

  removeEventListener(_type: 'abort', listener: () => void): void {
    const at = this.#listeners?.indexOf(listener) ?? -1
    if (at >= 0) this.#listeners!.splice(at, 1)
  }

  #abort(): void {
    if (this.#reason !== undefined) return
    this.#reason = disconnected()
    this.#controller?.abort(this.#reason)
    const listeners = this.#listeners
    this.#listeners = undefined
    // Each one runs even when another throws, as an AbortSignal's listeners do.
    for (const listener of listeners ?? []) {
      try {
        listener()
      } catch (error) {
        queueMicrotask(() => {
          throw error
        })
      }
    }
  }
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
export function isClientGone(error: unknown, signal: CancelSignal): boolean {
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
