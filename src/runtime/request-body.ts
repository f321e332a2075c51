/**
 * The body of a request to a function, read once under the function's `maxRequestBytes`.
 *
 * A request from fnbox's own HTTP mounts was already read from the socket into one buffer of
 * its own (`toWebRequest`): that buffer is taken as it is and transferred to the executor
 * thread. Reading the `Request`'s stream again would buffer every body a second time (it did:
 * two copies of `collect()`, one in `node-http.ts` and one here).
 *
 * @internal
 * @module
 */
import { FnboxError, isFnboxError } from '../errors.js'
import { takeRequestBytes } from '../triggers/http/node-http.js'

/**
 * Reads a request body with a hard cap; 413 as soon as the cap is crossed. A body that cannot be
 * read (already used, or its stream failed: a client gone mid-upload) is `ERR_BAD_REQUEST`.
 * The buffer returned is the caller's to transfer.
 */
export async function readRequestBody(request: Request, limit: number): Promise<ArrayBuffer | undefined> {
  if (request.method === 'GET' || request.method === 'HEAD') return undefined
  const read = takeRequestBytes(request)
  if (read !== undefined) {
    if (read.byteLength > limit) throw tooLarge(limit, read.byteLength)
    return read
  }
  if (!request.body) return undefined
  try {
    return await readCapped(request, request.body, limit)
  } catch (err) {
    if (isFnboxError(err)) throw err
    throw new FnboxError('ERR_BAD_REQUEST', 'The request body could not be read', { cause: err })
  }
}

function tooLarge(limit: number, value: number): FnboxError {
  return new FnboxError(
    'ERR_REQUEST_TOO_LARGE',
    `request body of ${value} bytes exceeds limits.maxRequestBytes (${limit})`,
    {
      details: { limit, value },
    },
  )
}

async function readCapped(
  request: Request,
  body: ReadableStream<Uint8Array>,
  limit: number,
): Promise<ArrayBuffer | undefined> {
  const declared = Number(request.headers.get('content-length'))
  if (Number.isFinite(declared) && declared > limit) throw tooLarge(limit, declared)
  const chunks: Uint8Array[] = []
  let size = 0
  const reader = body.getReader()
  for (;;) {
    const { done, value } = await reader.read()
    if (done) break
    size += value.byteLength
    if (size > limit) {
      await reader.cancel().catch(() => undefined)
      throw tooLarge(limit, size)
    }
    chunks.push(value)
  }
  const out = new Uint8Array(size)
  let offset = 0
  for (const c of chunks) {
    out.set(c, offset)
    offset += c.byteLength
  }
  return out.buffer
}
