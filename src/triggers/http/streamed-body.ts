/**
 * The host end of a guest's streamed response: a web `ReadableStream` fed with the chunks the
 * executor thread sends, with credit-based backpressure, that the executor may keep feeding
 * after the consumer has gone.
 *
 * Why a class of its own: chunks travel between threads, so some are always in flight when a
 * client disconnects (the consumer cancels the stream), when the body is closed, or when the
 * invocation fails. A web stream controller throws `ERR_INVALID_STATE` on `enqueue` or `close`
 * once the stream is closed or cancelled, and that throw, inside a worker's `message` handler,
 * was an uncaught exception that took the host process down (30 disconnects mid-stream: 1 to 5
 * crashes). Here every operation checks the stream's state first, so a late chunk, a late close
 * or a late error is dropped, never thrown.
 *
 * @internal
 * @module
 */

/** What the stream asks of its producer (the executor thread, through the runtime). */
export interface StreamedBodySource {
  /** The consumer took a chunk: the producer may send one more. */
  credit(): void
  /** The consumer cancelled the stream (a client disconnect): stop producing. */
  cancel(reason: unknown): void
}

type State = 'open' | 'closed' | 'errored' | 'cancelled'

/** Chunks the stream holds before the producer has to wait for a credit. */
const HIGH_WATER_MARK = 4

export class StreamedBody {
  readonly stream: ReadableStream<Uint8Array>
  #controller!: ReadableStreamDefaultController<Uint8Array>
  #state: State = 'open'
  /** Credits owed for chunks that arrived while the consumer was behind. */
  #owed = 0

  readonly #source: StreamedBodySource

  constructor(source: StreamedBodySource) {
    this.#source = source
    this.stream = new ReadableStream<Uint8Array>(
      {
        start: (controller) => {
          this.#controller = controller
        },
        pull: () => {
          for (; this.#owed > 0; this.#owed--) source.credit()
        },
        cancel: (reason) => {
          if (this.#state !== 'open') return
          this.#state = 'cancelled'
          this.#owed = 0
          source.cancel(reason)
        },
      },
      new CountQueuingStrategy({ highWaterMark: HIGH_WATER_MARK }),
    )
  }

  /** True once the body was closed, errored or cancelled: later chunks are dropped. */
  get ended(): boolean {
    return this.#state !== 'open'
  }

  /** True when the consumer cancelled the stream. */
  get cancelled(): boolean {
    return this.#state === 'cancelled'
  }

  /**
   * One chunk from the producer, credited at once while the consumer keeps up, or when it next
   * pulls. Dropped once the stream is no longer open.
   */
  push(data: ArrayBuffer): void {
    if (this.#state !== 'open') return
    this.#controller.enqueue(new Uint8Array(data))
    if ((this.#controller.desiredSize ?? 0) > 0) this.#source.credit()
    else this.#owed++
  }

  /** The body is complete. No-op once ended. */
  close(): void {
    if (this.#state !== 'open') return
    this.#state = 'closed'
    this.#controller.close()
  }

  /** The body broke off: the consumer's next read rejects with `error`. No-op once ended. */
  error(error: unknown): void {
    if (this.#state !== 'open') return
    this.#state = 'errored'
    this.#controller.error(error)
  }
}
