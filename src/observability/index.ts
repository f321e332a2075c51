/**
 * The runtime's observability in one object: metrics (prom-client), spans (`@opentelemetry/api`),
 * structured guest logs, request ids. The call path holds at most one {@link CallTelemetry} per
 * invocation, and none when metrics are off and no tracer is registered: then a call costs one
 * provider lookup and a few branches here.
 *
 * @internal
 * @module
 */
import { randomUUID } from 'node:crypto'
import type { Span } from '@opentelemetry/api'
import { systemClock, type Clock } from '../clock.js'
import { invalidOption, type FnboxError } from '../errors.js'
import type { EventEmitter } from 'eventemitter3'
import type { RuntimeEvents } from '../events.js'
import {
  LOGGER_LEVEL,
  oneLine,
  type LoggedError,
  parseGuestLine,
  resolveLogger,
  topFrame,
  type ResolvedLogger,
} from './logs.js'
import { Metrics, type FunctionMetrics, type GaugeSource, type MetricsOptions } from './metrics.js'
import { CallTrace, endSpan, Tracing, type InvocationSpanStart, type Trigger, type TracingOptions } from './tracing.js'

export type { FunctionMetrics } from './metrics.js'

/** The runtime options this module reads. */
export interface ObservabilityOptions {
  metrics?: MetricsOptions | boolean
  tracing?: TracingOptions | false
  logger?: unknown
}

/** What a guest's outgoing traffic reports to (see `GuestHostSession`). */
export interface SessionTelemetry {
  hostCall<T>(method: string, run: () => Promise<T>): Promise<T>
  fetch<T extends { status: number }>(
    method: string,
    url: string,
    headers: [string, string][],
    run: () => Promise<T>,
  ): Promise<T>
  /** A guest `trace.start` / `trace.end`: the reply's JSON. */
  guestTrace(method: string, args: string): string | undefined
}

/** Ids a log line and an `invoke` event carry. */
export interface CallIds {
  requestId: string
  traceId: string | undefined
  spanId: string | undefined
}

/** The runtime's events, as far as logs use them. */
type Emitter = Pick<EventEmitter<RuntimeEvents>, 'listenerCount' | 'emit'>

/** An incoming `X-Request-Id` is adopted when it is 1-128 visible ASCII characters. */
const REQUEST_ID = /^[\x21-\x7e]{1,128}$/

/** The request id of an invocation: the client's `X-Request-Id` when valid, else a new UUID. */
export function requestIdOf(headers: Headers | undefined): string {
  const given = headers?.get('x-request-id')
  return given && REQUEST_ID.test(given) ? given : randomUUID()
}

/** Error codes that are the function's own failure (printed to stderr), not a client's or a gate's. */
const FUNCTION_FAILURES = new Set([
  'ERR_GUEST_EXCEPTION',
  'ERR_TIMEOUT',
  'ERR_CPU_LIMIT',
  'ERR_MEMORY_LIMIT',
  'ERR_STACK_OVERFLOW',
  'ERR_RESPONSE_TOO_LARGE',
  'ERR_EXECUTOR_LOST',
  'ERR_INTERNAL',
])

export class Observability {
  readonly metrics: Metrics | undefined
  readonly #tracing: Tracing | undefined
  readonly logger: ResolvedLogger
  readonly #events: Emitter
  /** Dates log events (the runtime's clock). */
  readonly #clock: Clock
  /** Instances that served a call already (the first call on one is its cold start). */
  readonly #used = new WeakSet<object>()

  constructor(
    options: ObservabilityOptions,
    events: Emitter,
    gauges: () => GaugeSource,
    declaredOrigins: ReadonlyMap<string, string>,
    clock: Clock = systemClock,
    jobCounts?: () => Promise<Partial<Record<string, number>> | undefined>,
  ) {
    this.#events = events
    this.#clock = clock
    const { metrics, tracing, logger } = options
    if (metrics !== undefined && typeof metrics !== 'boolean' && (typeof metrics !== 'object' || metrics === null)) {
      throw invalidOption('options.metrics', 'true, false or { registry }', metrics)
    }
    this.metrics =
      metrics === false
        ? undefined
        : new Metrics(metrics === true || !metrics ? {} : metrics, gauges, declaredOrigins, jobCounts)
    this.#tracing = tracing === false ? undefined : new Tracing(tracing)
    this.logger = resolveLogger(logger)
  }

  /**
   * The telemetry of one invocation, or undefined when neither metrics nor a tracer observe it.
   * `start` is asked only when a tracer records the span: most calls run untraced, and the
   * attributes (request id, headers) are per-call work nobody would read.
   */
  begin(fn: FunctionMetrics | undefined, start: () => InvocationSpanStart): CallTelemetry | undefined {
    const tracer = this.#tracing?.tracer()
    if (!tracer && !this.metrics) return undefined
    return new CallTelemetry(this.metrics, fn, tracer && new CallTrace(tracer, start()))
  }

  /** The instance was taken: wait metrics and span, cold start when the instance is new. */
  acquired(call: CallTelemetry, instance: object, startedMs: number, acquiredMs: number): void {
    call.functionMetrics?.wait.observe((acquiredMs - startedMs) / 1000)
    if (call.trace) {
      const cold = !this.#used.has(instance)
      if (cold) this.#used.add(instance)
      call.trace.waited(startedMs, acquiredMs, cold)
    }
  }

  /**
   * An invocation ended (or was refused: `seconds` undefined). `clientGone`: the caller left
   * first, so its end is the caller's doing, not the function's: counted with outcome
   * `client_gone` and not reported as a failure.
   */
  ended(
    fn: { name: string; version: string },
    call: CallTelemetry | undefined,
    fnMetrics: FunctionMetrics | undefined,
    trigger: Trigger,
    /** Read only to report a failure: undefined when there is none. */
    ids: CallIds | undefined,
    status: number | undefined,
    error: FnboxError | undefined,
    seconds: number | undefined,
    clientGone = false,
  ): void {
    const outcome = clientGone ? 'client_gone' : (error?.code ?? 'ok')
    fnMetrics?.invocation(trigger, outcome, seconds)
    call?.trace?.end(status, clientGone ? undefined : error?.code, error?.message)
    if (clientGone || !error || !ids || !FUNCTION_FAILURES.has(error.code)) return
    const logger = this.logger
    if (logger === false) return
    const stack = typeof error.details.stack === 'string' ? error.details.stack : undefined
    if (logger === 'stderr') {
      if (this.#events.listenerCount('invoke') > 0) return
      const at = topFrame(stack)
      process.stderr.write(
        `[fnbox] ${fn.name} failed (${error.code}): ${oneLine(error.message)}${at ? ` ${at}` : ''} requestId=${ids.requestId}\n`,
      )
      return
    }
    logger.error(
      {
        function: fn.name,
        version: fn.version,
        requestId: ids.requestId,
        traceId: ids.traceId,
        spanId: ids.spanId,
        code: error.code,
        err: serializedError({ type: error.code, message: error.message, stack }),
      },
      'invocation failed',
    )
  }

  /** A guest console line: a `log` event, the logger, or stderr (warnings and errors). */
  guestLog(
    fn: { name: string; version: string },
    ids: CallIds,
    level: 'debug' | 'info' | 'log' | 'warn' | 'error',
    raw: string,
    mapStack: (stack: string) => string,
  ): void {
    const listening = this.#events.listenerCount('log') > 0
    const logger = this.logger
    if (!listening && (logger === false || (logger === 'stderr' && level !== 'warn' && level !== 'error'))) return
    const line = parseGuestLine(raw)
    if (line.err?.stack) line.err.stack = mapStack(line.err.stack)
    if (listening) {
      this.#events.emit('log', {
        level,
        message: line.message,
        fields: line.fields,
        err: line.err,
        function: fn.name,
        version: fn.version,
        requestId: ids.requestId,
        traceId: ids.traceId,
        spanId: ids.spanId,
        time: this.#clock.wallNow(),
      })
    }
    if (logger === false) return
    if (logger === 'stderr') {
      if (listening) return
      const at = topFrame(line.err?.stack)
      const fields = line.fields ? ` ${safeJson(line.fields)}` : ''
      process.stderr.write(
        `[fnbox] ${fn.name} ${level}: ${oneLine(line.message)}${fields}${at ? ` ${at}` : ''} requestId=${ids.requestId}\n`,
      )
      return
    }
    logger[LOGGER_LEVEL[level]](
      {
        ...line.fields,
        ...(line.err ? { err: serializedError(line.err) } : {}),
        function: fn.name,
        version: fn.version,
        requestId: ids.requestId,
        traceId: ids.traceId,
        spanId: ids.spanId,
      },
      line.message,
    )
  }
}

/**
 * An error entry as it should print: without a prototype, so pino's `err` serializer keeps our
 * `type` instead of naming the object's constructor.
 */
function serializedError(err: LoggedError): LoggedError {
  return Object.assign(Object.create(null) as LoggedError, err)
}

function safeJson(value: unknown): string {
  try {
    return oneLine(JSON.stringify(value))
  } catch {
    return ''
  }
}

/** The metrics and spans of one invocation, and of its guest's outgoing traffic. */
export class CallTelemetry implements SessionTelemetry {
  readonly #metrics: Metrics | undefined
  readonly functionMetrics: FunctionMetrics | undefined
  readonly trace: CallTrace | undefined
  /** `performance.now()` when the instance was taken (first-byte time counts from it). */
  acquiredAt = 0
  #firstByte = false

  constructor(metrics: Metrics | undefined, fn: FunctionMetrics | undefined, trace: CallTrace | undefined) {
    this.#metrics = metrics
    this.functionMetrics = fn
    this.trace = trace
  }

  get traceId(): string | undefined {
    return this.trace?.traceId
  }

  get spanId(): string | undefined {
    return this.trace?.spanId
  }

  /** The first chunk of a streamed response. */
  chunk(): void {
    if (this.#firstByte) return
    this.#firstByte = true
    this.functionMetrics?.firstByte.observe((performance.now() - this.acquiredAt) / 1000)
  }

  async hostCall<T>(method: string, run: () => Promise<T>): Promise<T> {
    const span = this.trace?.hostCall(method)
    const started = performance.now()
    let failure: unknown
    try {
      return await run()
    } catch (err) {
      failure = err
      throw err
    } finally {
      this.#metrics?.hostCall(method, (performance.now() - started) / 1000)
      if (span) endSpan(span, failure)
    }
  }

  async fetch<T extends { status: number }>(
    method: string,
    url: string,
    headers: [string, string][],
    run: () => Promise<T>,
  ): Promise<T> {
    const span: Span | undefined = this.trace?.fetch(method, url, headers)
    try {
      const res = await run()
      this.#metrics?.egressRequest(url, res.status)
      if (span) endSpan(span, res.status >= 500 ? { code: String(res.status) } : undefined, res.status)
      return res
    } catch (err) {
      this.#metrics?.egressRequest(url, 'error')
      if (span) endSpan(span, err)
      throw err
    }
  }

  guestTrace(method: string, args: string): string | undefined {
    const trace = this.trace
    if (!trace) return undefined
    let parsed: Record<string, unknown>
    try {
      parsed = JSON.parse(args) as Record<string, unknown>
    } catch {
      return undefined
    }
    if (method === 'trace.start') {
      const id = trace.guestStart(parsed.name, parsed.parent)
      return id === undefined ? undefined : String(id)
    }
    if (method === 'trace.end') trace.guestEnd(parsed.id, parsed.attributes, parsed.error)
    return undefined
  }
}
