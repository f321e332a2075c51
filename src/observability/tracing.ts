/**
 * Spans through `@opentelemetry/api` only: users bring their SDK (NodeSDK, NodeTracerProvider,
 * ...); with none registered nothing is recorded and no span object is made.
 *
 * Why only the API (a dependency of a few KB, no SDK): it is the contract instrumented libraries
 * share; the app's SDK decides exporters and sampling, and fnbox's spans join the app's traces.
 *
 * One invocation: a span named after the function (kind SERVER for HTTP, INTERNAL for `call`),
 * with `faas.*` attributes, and children: the wait for an instance, every `fnbox:host` call, every
 * guest fetch (kind CLIENT, HTTP semantic-convention attributes, `traceparent` injected through
 * the registered propagator) and every guest `trace.span`. An incoming `traceparent` (or the
 * active context of the caller) is the parent.
 *
 * @internal
 * @module
 */
import {
  context as otelContext,
  propagation,
  ProxyTracerProvider,
  SpanKind,
  SpanStatusCode,
  trace,
  type Attributes,
  type AttributeValue,
  type Context,
  type Span,
  type TextMapGetter,
  type Tracer,
  type TracerProvider,
} from '@opentelemetry/api'
import { invalidOption } from '../errors.js'

const TRACER_NAME = 'fnbox'
/** The API's no-op provider (what an unregistered global proxy delegates to). */
const NOOP_PROVIDER = new ProxyTracerProvider().getDelegate()

/** How an invocation was started (the `trigger` label of the metrics). */
export type Trigger = 'http' | 'call' | 'job' | 'background'

/** OpenTelemetry's `faas.trigger` values: a job is a queued message; the rest, `other`. */
const FAAS_TRIGGER: Record<Trigger, string> = { http: 'http', call: 'other', job: 'pubsub', background: 'other' }

/** Guest spans one invocation may open; more are refused (their `trace.span` still runs the body). */
export const MAX_GUEST_SPANS = 1000
/** Attributes one guest span may carry. */
export const MAX_GUEST_ATTRIBUTES = 64
const MAX_NAME = 128
/**
 * A wait for an instance at least this long (ms), or the first call on an instance, gets a span
 * of its own. A warm call finds an idle instance in microseconds: a span for that would double the
 * SDK's cost per call (~8 us a span on the 2-core box) and show nothing.
 */
export const WAIT_SPAN_MS = 1
const MAX_ATTRIBUTE_CHARS = 4096

/**
 * Options of the tracing (`createRuntime({ tracing })`).
 *
 * @public
 */
export interface TracingOptions {
  /** The provider to take fnbox's tracer from. Default: the global one (`trace.getTracerProvider()`). */
  tracerProvider?: TracerProvider
}

interface ProxyLike extends TracerProvider {
  getDelegate(): TracerProvider
}

const headersGetter: TextMapGetter<Headers> = {
  keys: (carrier) => [...carrier.keys()],
  get: (carrier, key) => carrier.get(key) ?? undefined,
}

export class Tracing {
  readonly #explicit: TracerProvider | undefined
  #provider: TracerProvider | undefined
  #delegate: TracerProvider | undefined
  #tracer: Tracer | undefined

  constructor(option: TracingOptions | undefined) {
    if (option !== undefined && (typeof option !== 'object' || option === null)) {
      throw invalidOption('options.tracing', 'an object or false', option)
    }
    const provider = option?.tracerProvider
    if (provider !== undefined && typeof (provider as Partial<TracerProvider> | null)?.getTracer !== 'function') {
      throw invalidOption('options.tracing.tracerProvider', 'an OpenTelemetry TracerProvider', provider)
    }
    this.#explicit = provider
  }

  /**
   * The tracer while an SDK is registered, else undefined. Costs a lookup of the global provider
   * and its delegate, no allocation; a provider registered (or replaced) later is picked up.
   */
  tracer(): Tracer | undefined {
    const provider = this.#explicit ?? trace.getTracerProvider()
    const delegate =
      typeof (provider as ProxyLike).getDelegate === 'function' ? (provider as ProxyLike).getDelegate() : provider
    if (provider !== this.#provider || delegate !== this.#delegate) {
      this.#provider = provider
      this.#delegate = delegate
      const noop = delegate === NOOP_PROVIDER || delegate.constructor?.name === 'NoopTracerProvider'
      this.#tracer = noop ? undefined : provider.getTracer(TRACER_NAME)
    }
    return this.#tracer
  }
}

/** What the invocation span starts with. */
export interface InvocationSpanStart {
  function: string
  version: string
  /** `http`, `call`, `job` (a job run) or `background` (a cron slot or a table hook). */
  trigger: Trigger
  requestId: string
  /** The request's headers (HTTP): a `traceparent` among them is the parent. */
  headers?: Headers | undefined
  method?: string | undefined
  /** Export called (`call`) or the URL path (HTTP). */
  target: string
  /** Replaces the function's granted secrets in guest text (fetch URLs, guest span names and attributes). */
  redact?: ((text: string) => string) | undefined
}

interface GuestSpan {
  span: Span
  context: Context
}

/** The spans of one invocation. */
export class CallTrace {
  readonly #tracer: Tracer
  readonly #redact: (text: string) => string
  readonly span: Span
  readonly context: Context
  readonly #guest = new Map<number, GuestSpan>()
  #guestCount = 0
  #ended = false

  constructor(tracer: Tracer, start: InvocationSpanStart) {
    this.#tracer = tracer
    this.#redact = start.redact ?? ((text) => text)
    const active = otelContext.active()
    const parent = start.headers ? propagation.extract(active, start.headers, headersGetter) : active
    const attributes: Attributes = {
      'faas.name': start.function,
      'faas.version': start.version,
      'faas.trigger': FAAS_TRIGGER[start.trigger],
      'fnbox.trigger': start.trigger,
      'faas.invocation_id': start.requestId,
      'fnbox.request_id': start.requestId,
    }
    if (start.trigger === 'http') {
      attributes['http.request.method'] = start.method ?? 'GET'
      attributes['url.path'] = start.target
    } else {
      attributes['fnbox.export'] = start.target
    }
    this.span = tracer.startSpan(
      start.function,
      { kind: start.trigger === 'http' ? SpanKind.SERVER : SpanKind.INTERNAL, attributes },
      parent,
    )
    this.context = trace.setSpan(parent, this.span)
  }

  get traceId(): string {
    return this.span.spanContext().traceId
  }

  get spanId(): string {
    return this.span.spanContext().spanId
  }

  /**
   * The wait for an instance (`performance.now()` times): an attribute of the invocation, and a
   * child span after the fact when it is worth one (see WAIT_SPAN_MS).
   */
  waited(started: number, acquired: number, coldStart: boolean): void {
    const ms = acquired - started
    this.span.setAttribute('faas.coldstart', coldStart)
    this.span.setAttribute('fnbox.instance.wait_ms', ms)
    if (coldStart || ms >= WAIT_SPAN_MS) {
      this.#tracer.startSpan('fnbox.instance.wait', { startTime: started }, this.context).end(acquired)
    }
  }

  /** A child span for one `fnbox:host` call. */
  hostCall(method: string): Span {
    const dot = method.indexOf('.')
    return this.#tracer.startSpan(
      method,
      {
        attributes: {
          'fnbox.host.domain': dot < 0 ? method : method.slice(0, dot),
          'fnbox.host.operation': dot < 0 ? '' : method.slice(dot + 1),
        },
      },
      this.context,
    )
  }

  /**
   * A client span for one guest fetch; `traceparent` (and whatever else the registered
   * propagator writes) is set on `headers` to continue the trace upstream.
   */
  fetch(method: string, url: string, headers: [string, string][]): Span {
    // The guest built the URL: a granted secret in its query must not reach the trace backend.
    const attributes: Attributes = { 'http.request.method': method, 'url.full': this.#redact(url) }
    try {
      const parsed = new URL(url)
      attributes['server.address'] = parsed.hostname
      attributes['server.port'] = Number(parsed.port) || (parsed.protocol === 'https:' ? 443 : 80)
      attributes['url.scheme'] = parsed.protocol.slice(0, -1)
    } catch {
      // the fetch itself names the problem
    }
    const span = this.#tracer.startSpan(method, { kind: SpanKind.CLIENT, attributes }, this.context)
    const carrier: Record<string, string> = {}
    propagation.inject(trace.setSpan(this.context, span), carrier)
    for (const [name, value] of Object.entries(carrier)) {
      const lower = name.toLowerCase()
      for (let i = headers.length - 1; i >= 0; i--) if (headers[i]![0].toLowerCase() === lower) headers.splice(i, 1)
      headers.push([name, value])
    }
    return span
  }

  /** A guest `trace.span` starts: its id, or undefined when refused (past MAX_GUEST_SPANS, or ended). */
  guestStart(name: unknown, parent: unknown): number | undefined {
    if (this.#ended || this.#guestCount >= MAX_GUEST_SPANS) return undefined
    if (typeof name !== 'string' || name.length === 0) return undefined
    const parentSpan = typeof parent === 'number' ? this.#guest.get(parent) : undefined
    const parentContext = parentSpan?.context ?? this.context
    const span = this.#tracer.startSpan(this.#redact(name.slice(0, MAX_NAME)), {}, parentContext)
    const id = ++this.#guestCount
    this.#guest.set(id, { span, context: trace.setSpan(parentContext, span) })
    return id
  }

  /** A guest span ends with the attributes it was given and its error, if its body threw. */
  guestEnd(id: unknown, attributes: unknown, error: unknown): void {
    const entry = typeof id === 'number' ? this.#guest.get(id) : undefined
    if (!entry) return
    this.#guest.delete(id as number)
    if (attributes && typeof attributes === 'object') {
      let n = 0
      for (const [key, value] of Object.entries(attributes)) {
        if (n++ >= MAX_GUEST_ATTRIBUTES) break
        const checked = attributeValue(value, this.#redact)
        if (checked !== undefined) entry.span.setAttribute(this.#redact(key.slice(0, MAX_NAME)), checked)
      }
    }
    if (error && typeof error === 'object') {
      const { type, message } = error as { type?: unknown; message?: unknown }
      const text = typeof message === 'string' ? this.#redact(message) : undefined
      entry.span.setStatus({ code: SpanStatusCode.ERROR, message: text })
      if (typeof type === 'string') entry.span.setAttribute('error.type', type.slice(0, MAX_NAME))
    }
    entry.span.end()
  }

  /** The invocation ends: guest spans left open end with it. */
  end(status: number | undefined, errorCode: string | undefined, errorMessage: string | undefined): void {
    this.#ended = true
    for (const { span } of this.#guest.values()) span.end()
    this.#guest.clear()
    if (status !== undefined) this.span.setAttribute('http.response.status_code', status)
    if (errorCode !== undefined) {
      this.span.setAttribute('error.type', errorCode)
      this.span.setStatus({ code: SpanStatusCode.ERROR, message: errorMessage })
    }
    this.span.end()
  }
}

/** Ends a child span, as failed when `error` is given. */
export function endSpan(span: Span, error: unknown, status?: number): void {
  if (status !== undefined) span.setAttribute('http.response.status_code', status)
  if (error !== undefined) {
    const code = (error as { code?: unknown } | null)?.code
    span.setAttribute('error.type', typeof code === 'string' ? code : ((error as Error | null)?.name ?? 'Error'))
    span.setStatus({ code: SpanStatusCode.ERROR, message: (error as Error | null)?.message })
  }
  span.end()
}

function attributeValue(value: unknown, redact: (text: string) => string): AttributeValue | undefined {
  if (typeof value === 'string') return redact(value.slice(0, MAX_ATTRIBUTE_CHARS))
  if (typeof value === 'number' || typeof value === 'boolean') return value
  if (Array.isArray(value) && value.length <= 128) {
    if (value.every((v) => typeof v === 'string'))
      return value.map((v: string) => redact(v.slice(0, MAX_ATTRIBUTE_CHARS)))
    if (value.every((v) => typeof v === 'number')) return value as number[]
    if (value.every((v) => typeof v === 'boolean')) return value as boolean[]
  }
  return undefined
}
