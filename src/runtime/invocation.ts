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
import type { InstanceRef, InvocationBudgetSpec, InvocationResult, InvocationSink } from '../pool/executor.js'
import type { HostCall, HostReplyValue } from '../sandbox/protocol.js'
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
class OpenCall implements Omit<CallIds, 'requestId'> {
  readonly fn: FunctionVersion
  readonly trigger: Trigger
  /** Undefined for a call that has none yet: made when something reads it ({@link idsOf}). */
  requestId: string | undefined
  traceId: string | undefined = undefined
  spanId: string | undefined = undefined
  /** Its metrics and spans; undefined when nothing observes it. */
  telemetry: CallTelemetry | undefined = undefined
  ref!: InstanceRef
  /** The host side of its outgoing traffic, made on its first host call ({@link sessionOf}). */
  session: GuestHostSession | undefined = undefined
  /**
   * The end its host calls inherit: made with its session, or at once when the executor may move
   * it (a response that streams).
   */
  deadline: Deadline | undefined = undefined
  started = 0
  acquired = 0
  gate!: GateTicket
  /** Its limits for the executor, counted from the start; the deadline moves when it streams. */
  budget!: InvocationBudgetSpec
  /** The caller went away (aborted, or cancelled a streamed body): not the function's failure. */
  clientGone = false

  constructor(fn: FunctionVersion, trigger: Trigger, requestId: string | undefined) {
    this.fn = fn
    this.trigger = trigger
    this.requestId = requestId
  }
}

/** What the call path shares with each invocation: the runtime's parts, the data-call annotator. */
interface CallPath {
  ctx: RuntimeContext
  annotate: AnnotateCall | undefined
}

/**
 * A `runtime.call` (or a job's run, a hook) from its instance to its answer. It is what the
 * executor reports to (its handlers and its end), and it settles the caller's promise itself: a
 * call costs this object, that promise and the messages, and no await between the caller and
 * the thread either way.
 */
class CallInvocation<T> extends OpenCall implements InvocationSink {
  readonly #path: CallPath
  readonly #exportName: string
  readonly #argsJson: string
  readonly #signal: AbortSignal | undefined
  readonly #resolve: (value: T) => void
  readonly #reject: (error: unknown) => void
  #onAbort: (() => void) | undefined

  constructor(
    path: CallPath,
    fn: FunctionVersion,
    exportName: string,
    argsJson: string,
    run: CallRun,
    resolve: (value: T) => void,
    reject: (error: unknown) => void,
  ) {
    super(fn, run.trigger ?? 'call', undefined)
    this.#path = path
    this.#exportName = exportName
    this.#argsJson = argsJson
    this.#signal = run.signal
    this.#resolve = resolve
    this.#reject = reject
  }

  /** Sends the invocation to its instance's thread (the instance is taken). */
  start(): void {
    const { executor } = this.ref
    let inv: number
    try {
      inv = executor.start(
        this.ref,
        { kind: 'call', exportName: this.#exportName, argsJson: this.#argsJson },
        this.budget,
        this,
      )
    } catch (err) {
      this.settle(undefined, asFnboxError(err))
      return
    }
    const signal = this.#signal
    if (!signal) return
    const cancel = (): void => executor.cancel(inv, 'client')
    // An already aborted signal never fires 'abort'.
    if (signal.aborted) cancel()
    else signal.addEventListener('abort', (this.#onAbort = cancel), { once: true })
  }

  onLog(level: GuestLogLevel, message: string): void {
    guestLog(this.#path, this, level, message)
  }

  onHost(req: HostCall): Promise<HostReplyValue | undefined> {
    return sessionOf(this.#path, this).handle(req)
  }

  settle(result: InvocationResult | undefined, error: FnboxError | undefined): void {
    let value: unknown
    let failure = error
    if (!failure && result?.result !== undefined) {
      try {
        value = JSON.parse(result.result)
      } catch (err) {
        failure = asFnboxError(err)
      }
    }
    if (failure) {
      failure = mapStack(this.fn.stacks, failure)
      // Whether its writes happened: a caller told "failed" must not assume nothing changed.
      if (this.session) failure = this.session.withWrites(failure)
    }
    if (this.#onAbort) this.#signal!.removeEventListener('abort', this.#onAbort)
    try {
      endCall(this.#path.ctx, this, 'call', this.#exportName, undefined, failure)
    } catch (err) {
      // A listener of 'invoke' threw: the caller gets it, as an awaited call's finally would give it.
      this.#reject(err)
      return
    }
    if (failure) this.#reject(failure)
    else this.#resolve(value as T)
  }
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
  readonly #path: CallPath

  constructor(ctx: RuntimeContext, deployments: Deployments, annotate?: AnnotateCall) {
    this.#ctx = ctx
    this.#deployments = deployments
    this.#path = { ctx, annotate }
  }

  /** A job's run, a cron slot or a hook: `exportName(...args)` of the current version. */
  background(name: string, exportName: string, args: unknown[], run: BackgroundRun): Promise<unknown> {
    let fn: FunctionVersion
    try {
      fn = this.#deployments.get(name)
    } catch (err) {
      return Promise.reject(err as Error)
    }
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

  /** See `Runtime.call`. Never throws: every failure is the promise's. */
  call<T>(name: string, exportName: string, args: unknown[]): Promise<T> {
    let fn: FunctionVersion
    let argsJson: string
    try {
      fn = this.#deployments.get(name)
      if (typeof exportName !== 'string' || exportName.length === 0) {
        throw invalidOption('exportName', 'a non-empty string', exportName)
      }
      argsJson = argsToJson(args)
      if (argsJson.length > fn.limits.maxRequestBytes) {
        throw new FnboxError(
          'ERR_REQUEST_TOO_LARGE',
          `call arguments of ${argsJson.length} bytes exceed limits.maxRequestBytes (${fn.limits.maxRequestBytes})`,
          { details: { limit: fn.limits.maxRequestBytes, value: argsJson.length } },
        )
      }
    } catch (err) {
      return Promise.reject(err as Error)
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

  /**
   * One attempt of a call. With an idle instance, everything up to the message to the thread
   * happens before this returns; the answer settles the promise from the thread's message.
   */
  #callOnce<T>(fn: FunctionVersion, exportName: string, argsJson: string, run: CallRun = NO_RUN): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const call = new CallInvocation<T>(this.#path, fn, exportName, argsJson, run, resolve, reject)
      let waiting: Promise<void> | undefined
      try {
        waiting = this.#begin(call, exportName, undefined, run.timeoutMs, run.timeoutOption)
      } catch (err) {
        reject(err)
        return
      }
      if (waiting) waiting.then(() => call.start(), reject)
      else call.start()
    })
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
    const call = new OpenCall(fn, 'http', requestId)
    await this.#begin(call, path, request)
    const { ref, telemetry } = call
    // Its end moves when the response streams (the executor extends it): made now.
    const { limits } = call.budget
    call.deadline = new Deadline(limits.timeoutMs, undefined, limits.startedAt)
    call.budget.deadline = call.deadline
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
      onLog: (level, message) => guestLog(this.#path, call, level, message),
      onHost: (req) => sessionOf(this.#path, call).handle(req),
    })
    // An already aborted signal never fires 'abort': the caller is gone before we started.
    if (signal?.aborted) cancel()
    else signal?.addEventListener('abort', cancel, { once: true })
    let error: FnboxError | undefined
    done
      .then(
        () => answer.finished(),
        (err: unknown) => {
          error = mapStack(fn.stacks, asFnboxError(err))
          if (call.session) error = call.session.withWrites(error)
          answer.failed(error)
        },
      )
      .catch(() => undefined)
      .finally(() => {
        signal?.removeEventListener('abort', cancel)
        const status = answer.status
        endCall(this.#ctx, call, 'fetch', request.method, error && status === undefined ? error.status : status, error)
      })
    return answer.response
  }

  /**
   * Passes the reliability gate (shedding, quota, breaker: no sandbox is touched when it
   * refuses) and takes a warm instance: at once when one is idle (returns undefined), else the
   * promise of one. A refusal, or no instance, is reported and thrown (or rejected).
   */
  #begin(
    call: OpenCall,
    target: string,
    request: Request | undefined,
    timeoutMs: number = call.fn.timeoutMs,
    timeoutOption?: string,
  ): Promise<void> | undefined {
    const ctx = this.#ctx
    const { fn, trigger } = call
    const telemetry = ctx.obs.begin(fn.metrics, () => ({
      function: fn.name,
      version: fn.version,
      trigger,
      requestId: (call.requestId ??= randomUUID()),
      target,
      headers: request?.headers,
      method: request?.method,
      redact: fn.source.redactor.empty ? undefined : (text) => fn.source.redactor.redact(text),
    }))
    if (telemetry) {
      call.telemetry = telemetry
      call.traceId = telemetry.traceId
      call.spanId = telemetry.spanId
    }
    // Waits and durations in real time: instances are made and guests run on real threads.
    call.started = performance.now()
    let gate: GateTicket | undefined
    let got: InstanceRef | Promise<InstanceRef>
    try {
      gate = admit(fn, ctx.shedder)
      got = fn.pool.acquireNow()
    } catch (err) {
      throw this.#refused(call, gate, err)
    }
    call.gate = gate
    if (!(got instanceof Promise)) {
      this.#opened(call, got, timeoutMs, timeoutOption)
      return undefined
    }
    return got.then(
      (ref) => this.#opened(call, ref, timeoutMs, timeoutOption),
      (err: unknown) => {
        throw this.#refused(call, gate, err)
      },
    )
  }

  /** A call refused at the gate or given no instance: counted (its outcome the refusal's code), its span ended. */
  #refused(call: OpenCall, gate: GateTicket | undefined, err: unknown): unknown {
    gate?.abandon()
    const ids = { requestId: call.requestId ?? randomUUID(), traceId: call.traceId, spanId: call.spanId }
    this.#ctx.obs.ended(
      call.fn,
      call.telemetry,
      call.fn.metrics,
      call.trigger,
      ids,
      undefined,
      asFnboxError(err),
      undefined,
    )
    return err
  }

  /** The instance is taken: the call's limits, counted from now. */
  #opened(call: OpenCall, ref: InstanceRef, timeoutMs: number, timeoutOption: string | undefined): void {
    const fn = call.fn
    const acquired = performance.now()
    call.ref = ref
    call.acquired = acquired
    if (call.telemetry) {
      call.telemetry.acquiredAt = acquired
      this.#ctx.obs.acquired(call.telemetry, ref, call.started, acquired)
    }
    fn.acquired++
    fn.acquireWaits.record(acquired - call.started)
    const { streamIdleMs, streamTotalMs } = fn.limits
    // A job's longer limit is its CPU limit too, unless cpuMs was set below timeoutMs.
    const cpuMs = timeoutMs !== fn.timeoutMs && fn.limits.cpuMs >= fn.limits.timeoutMs ? timeoutMs : fn.limits.cpuMs
    // On the system clock, not the runtime's: the executor thread enforces the same limits with
    // the real clock, and both sides must agree on when the invocation ends.
    const limits: InvocationLimits = { startedAt: Date.now(), timeoutMs, cpuMs, streamIdleMs, streamTotalMs }
    // Set only when there is one: a spread of an empty object would cost every call two objects.
    if (timeoutOption !== undefined) limits.timeoutOption = timeoutOption
    call.budget = { limits, deadline: undefined }
  }
}

/**
 * The host side of a call's outgoing traffic, made on its first host call (most calls make
 * none), with the deadline its host calls inherit.
 */
function sessionOf(path: CallPath, call: OpenCall): GuestHostSession {
  if (call.session) return call.session
  const { ctx, annotate } = path
  const { fn } = call
  const { limits } = call.budget
  const deadline = (call.deadline ??= new Deadline(limits.timeoutMs, undefined, limits.startedAt))
  call.session = new GuestHostSession(
    ctx.egress,
    {
      allowedHosts: fn.allowedHosts,
      timeoutMs: limits.timeoutMs,
      maxResponseBytes: fn.limits.maxResponseBytes,
      deadline,
      grants: fn.upstreamGrants,
    },
    () => new DataSession(() => ctx.storage(), fn.scope, annotate),
    call.telemetry,
  )
  return call.session
}

/** Closes the guest's traffic, gives the instance back, reports the invocation. */
function endCall(
  ctx: RuntimeContext,
  call: OpenCall,
  kind: 'call' | 'fetch',
  target: string,
  status: number | undefined,
  error: FnboxError | undefined,
): void {
  const { fn } = call
  call.session?.close()
  call.deadline?.dispose()
  fn.pool.release(call.ref)
  const now = performance.now()
  const held = now - call.acquired
  fn.pool.serviceTime.observe(held)
  call.gate.finish(invocationOutcome(error, status, call.clientGone), held, error)
  const ids = error ? idsOf(call) : undefined
  ctx.obs.ended(fn, call.telemetry, fn.metrics, call.trigger, ids, status, error, held / 1000, call.clientGone)
  const events = ctx.events
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
function guestLog(path: CallPath, call: OpenCall, level: GuestLogLevel, message: string): void {
  const { fn } = call
  path.ctx.obs.guestLog(fn, idsOf(call), level, message, (stack) => fn.stacks?.map(stack) ?? stack)
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
