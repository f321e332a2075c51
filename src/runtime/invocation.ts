/**
 * The call path: from `runtime.call` or a request to `runtime.fetch` (or a mount) to the guest
 * and back. Each invocation passes the reliability gate (shedding, quota, breaker), takes a warm
 * instance from its version's pool, runs under its deadline with a host session for the guest's
 * outgoing traffic, and is reported (`invoke`, `log` events) when it ends.
 *
 * @internal
 * @module
 */
import { randomUUID } from 'node:crypto'
import { FnboxError, invalidOption, isFnboxError } from '../errors.js'
import { DataSession } from '../host/domains/session.js'
import { GuestHostSession } from '../host/guest-session.js'
import { requestIdOf, type CallIds, type CallTelemetry } from '../observability/index.js'
import type { Trigger } from '../observability/tracing.js'
import type { GuestRequestMeta, GuestResponseMeta } from '../sandbox/bridge-types.js'
import type { InstanceRef, InvocationBudgetSpec } from '../pool/executor.js'
import { markFailed } from '../triggers/http/failed-response.js'
import type { CancelSignal } from '../triggers/http/connection.js'
import { argsToJson } from './json-args.js'
import { admit, invocationOutcome, type GateTicket } from '../reliability/admission.js'
import { retrying } from '../reliability/backoff.js'
import { Deadline, type InvocationLimits } from '../reliability/deadline.js'
import type { RuntimeContext } from './context.js'
import type { Deployments } from './deployments.js'
import { GuestResponse } from './fetch-bridge.js'
import { asFnboxError, mapStack, type FunctionVersion } from './function-version.js'
import { readRequestBody } from './request-body.js'
import type { AnnotateCall } from '../host/domains/session.js'

/** A background run (a job, a cron slot, a hook): its deadline and what aborts it. */
export interface BackgroundRun {
  signal?: AbortSignal | undefined
  /** A job's run: `timeoutMs`, else the function's `limits.jobTimeoutMs`; a hook's: its call limit. */
  job: boolean
  timeoutMs?: number | undefined
}

type GuestLogLevel = 'debug' | 'info' | 'log' | 'warn' | 'error'

/** One invocation between acquiring its instance and releasing it. */
interface OpenCall extends Omit<CallIds, 'requestId'> {
  /** Undefined for a call that has none yet: made when something reads it ({@link idsOf}). */
  requestId: string | undefined
  ref: InstanceRef
  session: GuestHostSession
  started: number
  acquired: number
  gate: GateTicket
  deadline: Deadline
  /** Its limits for the executor, counted from the deadline's start; the deadline moves when it streams. */
  budget: InvocationBudgetSpec
  /** The caller went away (aborted, or cancelled a streamed body): not the function's failure. */
  clientGone: boolean
  /** Its metrics and spans; undefined when nothing observes it. */
  telemetry: CallTelemetry | undefined
  trigger: Trigger
}

/** How a call that is not `runtime.call` runs: a job's limit and signal, its trigger. */
interface CallRun {
  timeoutMs?: number | undefined
  /** The option `timeoutMs` came from, named in its error. */
  timeoutOption?: string | undefined
  signal?: AbortSignal | undefined
  trigger?: Trigger
}

/** `runtime.call`'s: shared, so a call allocates none. */
const NO_RUN: CallRun = Object.freeze({})

export class Invocations {
  readonly #ctx: RuntimeContext
  readonly #deployments: Deployments

  readonly #annotate: AnnotateCall | undefined

  constructor(ctx: RuntimeContext, deployments: Deployments, annotate?: AnnotateCall) {
    this.#ctx = ctx
    this.#deployments = deployments
    this.#annotate = annotate
  }

  /** A job's run, a cron slot or a hook: `exportName(...args)` of the current version. */
  background(name: string, exportName: string, args: unknown[], run: BackgroundRun): Promise<unknown> {
    const fn = this.#deployments.get(name)
    const timeoutMs = run.job ? (run.timeoutMs ?? fn.limits.jobTimeoutMs) : undefined
    // Its timeout error names the option to raise: the job's own, or the function's job limit.
    const timeoutOption = run.job
      ? run.timeoutMs === undefined
        ? 'limits.jobTimeoutMs'
        : "the job's timeoutMs"
      : undefined
    const trigger = run.job ? 'job' : 'background'
    return this.#callOnce(fn, exportName, JSON.stringify(args), {
      timeoutMs,
      timeoutOption,
      signal: run.signal,
      trigger,
    })
  }

  /** See `Runtime.call`. */
  async call<T>(name: string, exportName: string, args: unknown[]): Promise<T> {
    const fn = this.#deployments.get(name)
    if (typeof exportName !== 'string' || exportName.length === 0) {
      throw invalidOption('exportName', 'a non-empty string', exportName)
    }
    const argsJson = argsToJson(args)
    if (argsJson.length > fn.limits.maxRequestBytes) {
      throw new FnboxError(
        'ERR_REQUEST_TOO_LARGE',
        `call arguments of ${argsJson.length} bytes exceed limits.maxRequestBytes (${fn.limits.maxRequestBytes})`,
        { details: { limit: fn.limits.maxRequestBytes, value: argsJson.length } },
      )
    }
    if (!fn.retry) return this.#callOnce(fn, exportName, argsJson)
    const policy = fn.retry
    return retrying(
      // A redeploy between attempts: the next one runs the current version.
      (attempt) => this.#callOnce(attempt === 1 ? fn : this.#deployments.get(name), exportName, argsJson),
      policy,
      {
        clock: this.#ctx.defaults.clock,
        what: `a retry of runtime.call('${name}', '${exportName}')`,
        retryable: (err) => isFnboxError(err) && policy.on.has(err.code),
        retryAfterMs: (err) =>
          isFnboxError(err) && err.retryAfterSeconds !== undefined ? err.retryAfterSeconds * 1000 : undefined,
      },
    )
  }

  /**
   * Serves a request whose `path` names the function in its first segment; always resolves to a
   * `Response` (failures as their HTTP answer). `forMount`: the caller is one of our HTTP
   * mounts, which can take a body as bytes, and which gets failures before the response head
   * as rejections, to report them to its `onError` before answering.
   */
  async serve(request: Request, path: string, signal: CancelSignal | undefined, forMount: boolean): Promise<Response> {
    // The client's X-Request-Id when valid, else a new one: echoed in the answer, errors included.
    const requestId = requestIdOf(request.headers)
    try {
      const name = functionNameOf(path)
      if (!name) throw new FnboxError('ERR_NOT_FOUND', 'no function named in the path (expected /<function>/...)')
      return await this.#invokeFetch(this.#deployments.get(name), request, path, requestId, signal, forMount)
    } catch (err) {
      const error = asFnboxError(err)
      const response = error.toResponse()
      response.headers.set('x-request-id', requestId)
      // A mount tells its onError (a guest exception, a timeout) before it answers.
      if (forMount) markFailed(response, error)
      return response
    }
  }

  async #callOnce<T>(fn: FunctionVersion, exportName: string, argsJson: string, run: CallRun = NO_RUN): Promise<T> {
    const trigger = run.trigger ?? 'call'
    // No request id yet: one is made only when something reads it (see idsOf).
    const call = await this.#begin(fn, trigger, undefined, exportName, undefined, run.timeoutMs, run.timeoutOption)
    const { ref, session } = call
    let error: FnboxError | undefined
    let inv = -1
    const cancel = run.signal && ((): void => ref.executor.cancel(inv, 'client'))
    try {
      const invocation = ref.executor.invoke(ref, { kind: 'call', exportName, argsJson }, call.budget, {
        onLog: (level, message) => this.#log(fn, call, level, message),
        onHost: (req) => session.handle(req),
      })
      inv = invocation.inv
      if (cancel) {
        if (run.signal!.aborted) cancel()
        else run.signal!.addEventListener('abort', cancel, { once: true })
      }
      const { result } = await invocation.done
      return (result === undefined ? undefined : JSON.parse(result)) as T
    } catch (err) {
      error = mapStack(fn.stacks, asFnboxError(err))
      // Whether its writes happened: a caller told "failed" must not assume nothing changed.
      error = session.withWrites(error)
      throw error
    } finally {
      if (cancel) run.signal!.removeEventListener('abort', cancel)
      this.#end(fn, call, 'call', exportName, undefined, error)
    }
  }

  async #invokeFetch(
    fn: FunctionVersion,
    request: Request,
    path: string,
    requestId: string,
    signal: CancelSignal | undefined,
    forMount: boolean,
  ): Promise<Response> {
    const requestBody = await readRequestBody(request, fn.limits.maxRequestBytes)
    const call = await this.#begin(fn, 'http', requestId, path, request)
    const { ref, session, telemetry } = call
    const meta = JSON.stringify({
      method: request.method,
      ...mountedUrl(request.url, path),
      headers: [...request.headers],
      requestId,
      functionName: fn.name,
      version: fn.version,
      traceId: call.traceId,
    } satisfies GuestRequestMeta)
    const executor = ref.executor
    const cancel = (): void => {
      call.clientGone = true
      executor.cancel(inv, 'client')
    }
    const answer = new GuestResponse(forMount, { credit: () => executor.credit(inv), cancel })
    const { inv, done } = executor.invoke(ref, { kind: 'fetch', meta, body: requestBody }, call.budget, {
      onRespond: (head, bytes) => answer.respond(withRequestId(head, requestId), bytes),
      onChunk: (data) => {
        telemetry?.chunk()
        answer.chunk(data)
      },
      onEnd: () => answer.end(),
      onLog: (level, message) => this.#log(fn, call, level, message),
      onHost: (req) => session.handle(req),
    })
    // An already aborted signal never fires 'abort': the caller is gone before we started.
    if (signal?.aborted) cancel()
    else signal?.addEventListener('abort', cancel, { once: true })
    let error: FnboxError | undefined
    done
      .then(
        () => answer.finished(),
        (err: unknown) => {
          error = session.withWrites(mapStack(fn.stacks, asFnboxError(err)))
          answer.failed(error)
        },
      )
      .catch(() => undefined)
      .finally(() => {
        signal?.removeEventListener('abort', cancel)
        const status = answer.status
        this.#end(fn, call, 'fetch', request.method, error && status === undefined ? error.status : status, error)
      })
    return answer.response
  }

  /**
   * Passes the reliability gate (shedding, quota, breaker: no sandbox is touched when it
   * refuses), takes a warm instance and opens the host side of the guest's outgoing traffic.
   */
  async #begin(
    fn: FunctionVersion,
    trigger: Trigger,
    requestId: string | undefined,
    target: string,
    request: Request | undefined,
    timeoutMs: number = fn.timeoutMs,
    timeoutOption?: string,
  ): Promise<OpenCall> {
    const ctx = this.#ctx
    const telemetry = ctx.obs.begin(fn.metrics, () => ({
      function: fn.name,
      version: fn.version,
      trigger,
      requestId: (requestId ??= randomUUID()),
      target,
      headers: request?.headers,
      method: request?.method,
      redact: fn.source.redactor.empty ? undefined : (text) => fn.source.redactor.redact(text),
    }))
    // Waits and durations in real time: instances are made and guests run on real threads.
    const started = performance.now()
    let gate: GateTicket | undefined
    let ref: InstanceRef
    try {
      gate = admit({
        name: fn.name,
        priority: fn.priority,
        quota: fn.quota,
        breaker: fn.breaker,
        shedder: ctx.shedder,
      })
      ref = await fn.pool.acquire()
    } catch (err) {
      gate?.abandon()
      // A refused call counts (its outcome the refusal's code) and ends its span.
      const ids = { requestId: requestId ?? randomUUID(), traceId: telemetry?.traceId, spanId: telemetry?.spanId }
      ctx.obs.ended(fn, telemetry, fn.metrics, trigger, ids, undefined, asFnboxError(err), undefined)
      throw err
    }
    const acquired = performance.now()
    if (telemetry) {
      telemetry.acquiredAt = acquired
      ctx.obs.acquired(telemetry, ref, started, acquired)
    }
    fn.acquired++
    fn.acquireWaits.record(acquired - started)
    // On the system clock, not the runtime's: the executor thread enforces the same limits with
    // the real clock, and both sides must agree on when the invocation ends.
    const deadline = new Deadline(timeoutMs)
    const { streamIdleMs, streamTotalMs } = fn.limits
    // A job's longer limit is its CPU limit too, unless cpuMs was set below timeoutMs.
    const cpuMs = timeoutMs !== fn.timeoutMs && fn.limits.cpuMs >= fn.limits.timeoutMs ? timeoutMs : fn.limits.cpuMs
    const limits: InvocationLimits = { startedAt: deadline.startedAt, timeoutMs, cpuMs, streamIdleMs, streamTotalMs }
    // Set only when there is one: a spread of an empty object would cost every call two objects.
    if (timeoutOption !== undefined) limits.timeoutOption = timeoutOption
    return {
      requestId,
      traceId: telemetry?.traceId,
      spanId: telemetry?.spanId,
      telemetry,
      trigger,
      ref,
      session: new GuestHostSession(
        ctx.egress,
        {
          allowedHosts: fn.allowedHosts,
          timeoutMs,
          maxResponseBytes: fn.limits.maxResponseBytes,
          deadline,
          grants: fn.upstreamGrants,
        },
        () => new DataSession(() => ctx.storage(), fn.scope, this.#annotate),
        telemetry,
      ),
      started,
      acquired,
      gate,
      deadline,
      budget: { limits, deadline },
      clientGone: false,
    }
  }

  /** Closes the guest's traffic, gives the instance back, reports the invocation. */
  #end(
    fn: FunctionVersion,
    call: OpenCall,
    kind: 'call' | 'fetch',
    target: string,
    status: number | undefined,
    error: FnboxError | undefined,
  ): void {
    call.session.close()
    call.deadline.dispose()
    fn.pool.release(call.ref)
    const now = performance.now()
    const held = now - call.acquired
    fn.pool.serviceTime.observe(held)
    call.gate.finish(invocationOutcome(error, status, call.clientGone), held, error)
    const ids = error ? idsOf(call) : undefined
    this.#ctx.obs.ended(fn, call.telemetry, fn.metrics, call.trigger, ids, status, error, held / 1000, call.clientGone)
    const events = this.#ctx.events
    if (events.listenerCount('invoke') === 0) return
    events.emit('invoke', {
      function: fn.name,
      version: fn.version,
      requestId: idsOf(call).requestId,
      traceId: call.traceId,
      kind,
      target,
      status,
      error: error?.code,
      // Guest text arrives redacted of the function's secrets (see GUEST_TEXT in pool/executor.ts).
      errorMessage: error?.message,
      errorStack: typeof error?.details.stack === 'string' ? error.details.stack : undefined,
      waitMs: call.acquired - call.started,
      durationMs: now - call.acquired,
    })
  }

  /** A guest console line: structured, to `log` listeners, the logger or stderr (observability/). */
  #log(fn: FunctionVersion, call: OpenCall, level: GuestLogLevel, message: string): void {
    this.#ctx.obs.guestLog(fn, idsOf(call), level, message, (stack) => fn.stacks?.map(stack) ?? stack)
  }
}

/**
 * The URL a function sees: relative to its own mount (`/fn/hello/api/x?y=1` under
 * `app.use('/fn', ...)` is `/api/x?y=1` for `hello`), so a router written for its own origin
 * works unchanged wherever the function is mounted; and the mount (`/fn/hello`) and the URL as
 * the client sent it. `path` is the request path relative to the runtime's mount.
 */
function mountedUrl(original: string, path: string): { url: string; originalUrl: string; mountPath: string } {
  const url = new URL(original)
  const segment = path.split('/')[1] ?? ''
  const rest = path.slice(segment.length + 1)
  const pathname = url.pathname
  // The mount ends where the function's own path begins (both as sent, dot segments resolved).
  const mountPath = rest !== '' && pathname.endsWith(rest) ? pathname.slice(0, -rest.length) : pathname
  url.pathname = rest === '' ? '/' : rest
  return { url: url.href, originalUrl: original, mountPath: mountPath.replace(/\/$/, '') }
}

/** The guest's response head with the invocation's `x-request-id` (replacing one the guest set). */
/**
 * The call's ids, its request id made on first use: a `runtime.call` (no request to take one
 * from) needs one only for a log line, a failure's report, an `invoke` event or a span.
 */
function idsOf(call: OpenCall): CallIds {
  call.requestId ??= randomUUID()
  return { requestId: call.requestId, traceId: call.traceId, spanId: call.spanId }
}

function withRequestId(head: GuestResponseMeta, requestId: string): GuestResponseMeta {
  const headers = head.headers.filter(([name]) => name.toLowerCase() !== 'x-request-id')
  headers.push(['x-request-id', requestId])
  return { ...head, headers }
}

/** The first segment of a request path, percent-decoded; `ERR_BAD_REQUEST` when it cannot be. */
function functionNameOf(path: string): string {
  const segment = path.split('/')[1] ?? ''
  try {
    return decodeURIComponent(segment)
  } catch {
    throw new FnboxError('ERR_BAD_REQUEST', 'The function name in the path is not valid percent-encoded UTF-8', {
      details: { segment: segment.slice(0, 64) },
    })
  }
}
