/**
 * A Web `Response` written to a Node `ServerResponse` with backpressure, and an error as the
 * HTTP answer a client may see.
 *
 * @module
 */
import type { ServerResponse } from 'node:http'
import { FnboxError, isFnboxError } from '../../errors.js'
import { disconnected, HOP_BY_HOP, type CancelSignal } from './connection.js'

/**
 * Bodies the runtime hands to its own mounts as bytes, beside a body-less `Response`: writing
 * them at once skips a web stream per request, the largest cost of a small response.
 *
 * @internal
 */
export const responseBytes = new WeakMap<Response, Uint8Array>()

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

export async function writeWebResponse(res: ServerResponse, response: Response, signal?: CancelSignal): Promise<void> {
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

/** Resolves at `res`'s next `event` or its close, whichever comes first. */
function nextOrClose(res: ServerResponse, event: 'drain' | 'finish'): Promise<void> {
  return new Promise<void>((resolve) => {
    const done = (): void => {
      res.off(event, done)
      res.off('close', done)
      resolve()
    }
    res.on(event, done)
    res.on('close', done)
  })
}

function drained(res: ServerResponse): Promise<void> {
  return nextOrClose(res, 'drain')
}

/** Resolves once `res` has finished or closed, whichever comes first. */
function settled(res: ServerResponse): Promise<void> {
  if (res.writableFinished || res.destroyed) return Promise.resolve()
  return nextOrClose(res, 'finish')
}

async function cancelQuietly(body: ReadableStream | null, reason: unknown): Promise<void> {
  if (body === null) return
  try {
    await body.cancel(reason)
  } catch {
    // A locked or errored stream has nobody left to tell.
  }
}

function noop(): void {}
