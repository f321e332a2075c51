/**
 * The host side of one invocation's outgoing traffic: the guest's `fetch` calls, the bodies it
 * reads chunk by chunk, and their aborts; and its data calls (`fnbox:host`). Everything is
 * released when the invocation ends (an open transaction is rolled back).
 *
 * @internal
 * @module
 */
import { FnboxError } from '../errors.js'
import type { Deadline } from '../reliability/deadline.js'
import type { Egress } from '../reliability/egress.js'
import { transferable, type HostCall, type HostReplyValue } from '../sandbox/protocol.js'
import type { SessionTelemetry } from '../observability/index.js'
import type { DataSession } from './domains/session.js'
import type { AllowedHosts } from './net/index.js'

/** Where guest fetches go: the egress policies over the guarded network. */
type Net = Pick<Egress, 'fetch'>

export interface SessionPolicy {
  allowedHosts: AllowedHosts
  timeoutMs: number
  maxResponseBytes: number
  /** The invocation's end: every host call gets only the time left. */
  deadline: Deadline
  /** Upstreams whose credentials the host injects for this function. */
  grants: ReadonlySet<string>
}

interface OpenBody {
  iterator: AsyncIterator<Uint8Array>
  cancel(): void
}

/** Outgoing requests one invocation may have open at once. */
const MAX_OPEN_FETCHES = 64

export class GuestHostSession {
  readonly #net: Net
  readonly #policy: SessionPolicy
  /** Open fetches and response bodies, made on the first fetch: most invocations fetch nothing. */
  #aborts: Map<number, AbortController> | undefined
  #bodies: Map<number, OpenBody> | undefined
  /** Created on the first fetch: an AbortController and its abort cost ~25 us, most calls fetch nothing. */
  #closed: AbortController | undefined
  #ended = false
  #nextBody = 1
  readonly #openData: () => DataSession
  /** Opened on the first data call (kv, vector, files, tx). */
  #data: DataSession | undefined
  /** Metrics and spans of the invocation; undefined when nothing observes it. */
  readonly #telemetry: SessionTelemetry | undefined

  constructor(net: Net, policy: SessionPolicy, openData: () => DataSession, telemetry?: SessionTelemetry) {
    this.#net = net
    this.#policy = policy
    this.#openData = openData
    this.#telemetry = telemetry
  }

  async handle(req: HostCall): Promise<HostReplyValue | undefined> {
    switch (req.op) {
      case 'fetchStart': {
        if (this.#ended) throw new FnboxError('ERR_CLOSED', 'the invocation has ended')
        this.#closed ??= new AbortController()
        this.#aborts ??= new Map()
        this.#bodies ??= new Map()
        if (this.#aborts.size >= MAX_OPEN_FETCHES) {
          throw new FnboxError(
            'ERR_RATE_LIMITED',
            `too many concurrent fetches in one invocation (limit ${MAX_OPEN_FETCHES})`,
            { details: { limit: MAX_OPEN_FETCHES } },
          )
        }
        const abort = new AbortController()
        this.#aborts.set(req.meta.fetchId, abort)
        try {
          const { url, method, headers } = req.meta
          const signal = AbortSignal.any([abort.signal, this.#closed.signal])
          const body = req.body ? new Uint8Array(req.body) : undefined
          const send = () =>
            this.#net.fetch(
              url,
              { method, headers, body, redirect: req.meta.redirect, signal },
              this.#policy,
              this.#policy,
            )
          const res = this.#telemetry ? await this.#telemetry.fetch(method, url, headers, send) : await send()
          let bodyId: number | null = null
          if (res.body) {
            bodyId = this.#nextBody++
            this.#bodies?.set(bodyId, { iterator: res.body[Symbol.asyncIterator](), cancel: () => res.cancel() })
          }
          return {
            op: 'fetchStart',
            meta: {
              status: res.status,
              statusText: res.statusText,
              headers: res.headers,
              url: res.url,
              redirected: res.redirected,
              bodyId,
            },
          }
        } catch (err) {
          this.#aborts?.delete(req.meta.fetchId)
          throw err
        }
      }
      case 'bodyRead': {
        const body = this.#bodies?.get(req.bodyId)
        if (!body) return { op: 'bodyRead', chunk: undefined }
        const next = await body.iterator.next()
        if (next.done) {
          this.#bodies?.delete(req.bodyId)
          return { op: 'bodyRead', chunk: undefined }
        }
        const chunk = next.value
        return { op: 'bodyRead', chunk: chunk.slice().buffer as ArrayBuffer }
      }
      case 'bodyCancel': {
        this.#bodies?.get(req.bodyId)?.cancel()
        this.#bodies?.delete(req.bodyId)
        return undefined
      }
      case 'fetchAbort': {
        this.#aborts?.get(req.fetchId)?.abort(new DOMException('The operation was aborted', 'AbortError'))
        return undefined
      }
      case 'data': {
        if (this.#ended) throw new FnboxError('ERR_CLOSED', 'the invocation has ended')
        // A guest `trace.span` (observability/tracing.ts), not a data call.
        if (req.method === 'trace.start' || req.method === 'trace.end') {
          return { op: 'data', json: this.#telemetry?.guestTrace(req.method, req.args), bytes: undefined }
        }
        const data = (this.#data ??= this.#openData())
        const bytes = req.bytes ? new Uint8Array(req.bytes) : undefined
        // Cut short at the invocation's deadline (a write that has not started never does).
        const run = () => data.handle(req.method, req.args, bytes, this.#policy.deadline)
        const reply = this.#telemetry ? await this.#telemetry.hostCall(req.method, run) : await run()
        return { op: 'data', json: reply.json, bytes: reply.bytes ? transferable(reply.bytes) : undefined }
      }
    }
  }

  /**
   * The invocation's error with `details.writes`: what its data writes did (see
   * `WriteOutcome`), when it attempted any. Call before {@link GuestHostSession.close}.
   */
  withWrites(error: FnboxError): FnboxError {
    const writes = this.#data?.endWrites()
    if (writes === undefined || error.details.writes !== undefined) return error
    return new FnboxError(error.code, error.message, {
      cause: error.cause,
      status: error.status,
      retryAfterSeconds: error.retryAfterSeconds,
      details: { ...error.details, writes },
    })
  }

  /** Aborts every request and body still open. */
  close(): void {
    this.#ended = true
    this.#data?.close()
    this.#closed?.abort()
    for (const body of this.#bodies?.values() ?? []) body.cancel()
    this.#bodies?.clear()
    this.#aborts?.clear()
  }
}
