/**
 * The guest's answer to a fetch invocation, turned into a web `Response`: a plain body as bytes
 * (for fnbox's own mounts, beside a body-less `Response`, so no web stream is built), a
 * streamed one as a `ReadableStream` fed chunk by chunk under credit flow control (the thread
 * sends a chunk for each one the consumer took; see `StreamedBody`).
 *
 * @internal
 * @module
 */
import { FnboxError } from '../errors.js'
import type { GuestResponseMeta } from '../sandbox/bridge-types.js'
import { responseBytes } from '../triggers/http/node-http.js'
import { StreamedBody, type StreamedBodySource } from '../triggers/http/streamed-body.js'

const NULL_BODY_STATUS = new Set([101, 103, 204, 205, 304])

/**
 * One invocation's response: {@link GuestResponse.response} settles with the guest's head, the
 * body follows. The executor's handlers call `respond`, `chunk` and `end`; the invocation's end
 * calls `finished` or `failed`.
 */
export class GuestResponse {
  /** Resolves with the `Response` once the guest answered; rejects if it fails before. */
  readonly response: Promise<Response>
  /** The status the guest answered; undefined until it did. */
  status: number | undefined
  readonly #forMount: boolean
  readonly #flow: StreamedBodySource
  #body: StreamedBody | undefined
  #resolve!: (response: Response) => void
  #reject!: (error: unknown) => void

  /**
   * `forMount`: the caller is one of fnbox's HTTP mounts, which writes a plain body's bytes
   * directly. `flow`: credits and cancellation of a streamed body, sent to the thread.
   */
  constructor(forMount: boolean, flow: StreamedBodySource) {
    this.#forMount = forMount
    this.#flow = flow
    this.response = new Promise<Response>((resolve, reject) => {
      this.#resolve = resolve
      this.#reject = reject
    })
  }

  /** The guest answered: a complete body (`bytes`), or the head of a streamed one. */
  respond(head: GuestResponseMeta, bytes: ArrayBuffer | undefined): void {
    this.status = head.status
    if (!head.stream) {
      if (this.#forMount && bytes) {
        // Our mounts write these bytes directly: no web stream for a plain body.
        const response = makeResponse(head, null)
        responseBytes.set(response, new Uint8Array(bytes))
        this.#resolve(response)
      } else {
        this.#resolve(makeResponse(head, bytes ?? null))
      }
      return
    }
    this.#body = new StreamedBody(this.#flow)
    this.#resolve(makeResponse(head, this.#body.stream))
  }

  /** A chunk of a streamed body. Chunks still in flight when the client cancelled are dropped. */
  chunk(data: ArrayBuffer): void {
    this.#body?.push(data)
  }

  /** The body is complete: the client's response ends now, though waitUntil work may go on. */
  end(): void {
    this.#body?.close()
  }

  /** The invocation finished; one that never answered is an `ERR_INTERNAL`. */
  finished(): void {
    if (this.#body) this.#body.close()
    else if (this.status === undefined) {
      this.#reject(new FnboxError('ERR_INTERNAL', 'the function finished without a response'))
    }
  }

  /** The invocation failed. A body already complete stays complete: the failure came after (waitUntil work). */
  failed(error: FnboxError): void {
    if (this.#body) this.#body.error(error)
    else this.#reject(error)
  }
}

function makeResponse(head: GuestResponseMeta, body: BodyInit | null): Response {
  const nullBody = NULL_BODY_STATUS.has(head.status)
  try {
    return new Response(nullBody ? null : body, {
      status: head.status,
      statusText: head.statusText,
      headers: head.headers,
    })
  } catch {
    return new FnboxError('ERR_GUEST_EXCEPTION', `the function answered an invalid status ${head.status}`).toResponse()
  }
}
