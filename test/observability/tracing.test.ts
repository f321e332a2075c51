import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { SpanKind, trace } from '@opentelemetry/api'
import { InMemorySpanExporter, SimpleSpanProcessor, type ReadableSpan } from '@opentelemetry/sdk-trace-base'
import { NodeTracerProvider } from '@opentelemetry/sdk-trace-node'
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest'
import { createRuntime, type Runtime } from 'fnbox'

const exporter = new InMemorySpanExporter()
const provider = new NodeTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] })
let runtime: Runtime
let upstream: Server
let upstreamPort = 0
const received: { traceparent: string | undefined }[] = []

const INCOMING_TRACE = '4bf92f3577b34da6a3ce929d0e0e4736'
const INCOMING_SPAN = '00f067aa0ba902b7'

beforeAll(async () => {
  // The global provider, the W3C propagator and the AsyncLocalStorage context manager: what an
  // app's SDK setup registers.
  provider.register()
  upstream = createServer((req, res) => {
    received.push({ traceparent: req.headers.traceparent as string | undefined })
    res.setHeader('content-type', 'application/json')
    res.end(JSON.stringify({ ok: true }))
  })
  await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve))
  upstreamPort = (upstream.address() as AddressInfo).port
  runtime = await createRuntime({ threads: 1, storage: 'memory', logger: false })
  await runtime.kv.set('greeting', 'hello')
})

afterAll(async () => {
  await runtime?.close()
  await new Promise((resolve) => upstream?.close(resolve))
  await provider.shutdown()
  trace.disable()
})

beforeEach(() => {
  exporter.reset()
  received.length = 0
})

function byName(spans: ReadableSpan[], name: string): ReadableSpan {
  const span = spans.find((s) => s.name === name)
  if (!span) throw new Error(`no span named ${name} among ${spans.map((s) => s.name).join(', ')}`)
  return span
}

/** The finished spans once `name` is among them (an invocation ends just after its body is complete). */
async function finished(name: string): Promise<ReadableSpan[]> {
  await vi.waitFor(() => byName(exporter.getFinishedSpans(), name))
  return exporter.getFinishedSpans()
}

const parentOf = (span: ReadableSpan): string | undefined => span.parentSpanContext?.spanId

describe('tracing with the OpenTelemetry SDK registered', () => {
  it('one HTTP call that reads kv and fetches an upstream yields the span tree, and the upstream gets the trace', async () => {
    await runtime.deploy('agent', {
      allowedHosts: [`127.0.0.1:${upstreamPort}`],
      code: `
        import { kv, trace } from 'fnbox:host'
        export default {
          async fetch(request, ctx) {
            const greeting = await kv.get('greeting')
            const upstream = await fetch('http://127.0.0.1:${upstreamPort}/v1/embed?q=1').then((r) => r.json())
            const total = await trace.span('embed', async (span) => {
              span.setAttribute('chunks', 12)
              return span.span('embed.batch', async (child) => { child.setAttributes({ size: 4, model: 'm' }); return 3 })
            })
            return Response.json({ greeting, upstream, total, traceId: ctx.traceId, requestId: ctx.requestId })
          },
        }`,
    })
    const res = await runtime.fetch(
      new Request('http://localhost/agent/run', {
        headers: { traceparent: `00-${INCOMING_TRACE}-${INCOMING_SPAN}-01`, 'x-request-id': 'req-trace-1' },
      }),
    )
    const body = (await res.json()) as Record<string, unknown>
    expect(res.status).toBe(200)
    expect(body).toMatchObject({ greeting: 'hello', upstream: { ok: true }, total: 3, requestId: 'req-trace-1' })
    expect(body.traceId).toBe(INCOMING_TRACE)
    expect(res.headers.get('x-request-id')).toBe('req-trace-1')

    const spans = await finished('agent')
    const invocation = byName(spans, 'agent')
    expect(invocation.kind).toBe(SpanKind.SERVER)
    expect(invocation.spanContext().traceId).toBe(INCOMING_TRACE)
    expect(parentOf(invocation)).toBe(INCOMING_SPAN)
    expect(invocation.attributes).toMatchObject({
      'faas.name': 'agent',
      'faas.trigger': 'http',
      'faas.invocation_id': 'req-trace-1',
      'fnbox.request_id': 'req-trace-1',
      'http.request.method': 'GET',
      'url.path': '/agent/run',
      'http.response.status_code': 200,
    })
    expect(invocation.attributes['faas.version']).toMatch(/^[0-9a-f]{16}$/)
    expect(typeof invocation.attributes['faas.coldstart']).toBe('boolean')
    const id = invocation.spanContext().spanId
    for (const s of spans) expect(s.spanContext().traceId).toBe(INCOMING_TRACE)

    // The first call on its instance: the wait gets a span of its own.
    expect(invocation.attributes['faas.coldstart']).toBe(true)
    expect(typeof invocation.attributes['fnbox.instance.wait_ms']).toBe('number')
    expect(parentOf(byName(spans, 'fnbox.instance.wait'))).toBe(id)
    const kvGet = byName(spans, 'kv.get')
    expect(parentOf(kvGet)).toBe(id)
    expect(kvGet.attributes).toMatchObject({ 'fnbox.host.domain': 'kv', 'fnbox.host.operation': 'get' })

    const fetchSpan = byName(spans, 'GET')
    expect(fetchSpan.kind).toBe(SpanKind.CLIENT)
    expect(parentOf(fetchSpan)).toBe(id)
    expect(fetchSpan.attributes).toMatchObject({
      'http.request.method': 'GET',
      'url.full': `http://127.0.0.1:${upstreamPort}/v1/embed?q=1`,
      'server.address': '127.0.0.1',
      'server.port': upstreamPort,
      'http.response.status_code': 200,
    })

    const embed = byName(spans, 'embed')
    expect(parentOf(embed)).toBe(id)
    expect(embed.attributes).toEqual({ chunks: 12 })
    const batch = byName(spans, 'embed.batch')
    expect(parentOf(batch)).toBe(embed.spanContext().spanId)
    expect(batch.attributes).toEqual({ size: 4, model: 'm' })

    // The upstream continues the same trace, as a child of the fetch's client span.
    expect(received).toHaveLength(1)
    expect(received[0]!.traceparent).toBe(`00-${INCOMING_TRACE}-${fetchSpan.spanContext().spanId}-01`)
  })

  it('without an incoming traceparent a new trace starts; runtime.call continues the caller’s active span', async () => {
    await runtime.deploy('plain', {
      code: `export default { fetch: (req, ctx) => Response.json({ traceId: ctx.traceId }) }
             export const add = (a, b) => a + b`,
    })
    const res = await runtime.fetch(new Request('http://localhost/plain'))
    const { traceId } = (await res.json()) as { traceId: string }
    const root = byName(await finished('plain'), 'plain')
    expect(traceId).toBe(root.spanContext().traceId)
    expect(parentOf(root)).toBeUndefined()

    exporter.reset()
    const tracer = trace.getTracer('test')
    const sum = await tracer.startActiveSpan('handler', async (span) => {
      try {
        return await runtime.call<number>('plain', 'add', 2, 3)
      } finally {
        span.end()
      }
    })
    expect(sum).toBe(5)
    const spans = exporter.getFinishedSpans()
    const handler = byName(spans, 'handler')
    const call = byName(spans, 'plain')
    expect(call.kind).toBe(SpanKind.INTERNAL)
    expect(call.attributes).toMatchObject({ 'faas.trigger': 'other', 'fnbox.export': 'add' })
    expect(parentOf(call)).toBe(handler.spanContext().spanId)
  })

  it('a warm call on a used instance records its wait as an attribute, without a span of its own', async () => {
    await runtime.deploy('warm', { code: `export const f = () => 1` })
    await runtime.call('warm', 'f')
    exporter.reset()
    await runtime.call('warm', 'f')
    const spans = await finished('warm')
    const invocation = byName(spans, 'warm')
    expect(invocation.attributes['faas.coldstart']).toBe(false)
    const waitMs = invocation.attributes['fnbox.instance.wait_ms'] as number
    // An idle instance is taken at once (a GC pause on a busy machine may stretch it past 1 ms).
    const waitSpans = spans.filter((s) => s.name === 'fnbox.instance.wait')
    expect(waitSpans).toHaveLength(waitMs >= 1 ? 1 : 0)
  })

  it('a failing invocation and a failing guest span are recorded as errors', async () => {
    await runtime.deploy('fails', {
      code: `import { trace } from 'fnbox:host'
        export default { async fetch() {
          await trace.span('step', async () => { throw new TypeError('bad step') })
        } }`,
    })
    const res = await runtime.fetch(new Request('http://localhost/fails'))
    expect(res.status).toBe(500)
    const spans = await finished('fails')
    const step = byName(spans, 'step')
    expect(step.status.code).toBe(2) // ERROR
    expect(step.attributes['error.type']).toBe('TypeError')
    const invocation = byName(spans, 'fails')
    expect(invocation.status.code).toBe(2)
    expect(invocation.attributes['error.type']).toBe('ERR_GUEST_EXCEPTION')
    expect(invocation.attributes['http.response.status_code']).toBe(500)
  })
})

describe('tracing and secrets', () => {
  it('redacts granted secrets from fetch URLs and guest span attributes', async () => {
    const secret = 'sk-live-5d41402abc4b2a76b9719d91'
    const rt = await createRuntime({ threads: 1, storage: 'memory', logger: false, secrets: { key: 'c'.repeat(64) } })
    try {
      await rt.secrets.set('KEY', secret)
      await rt.deploy('leaky', {
        secrets: ['KEY'],
        allowedHosts: [`127.0.0.1:${upstreamPort}`],
        code: `import { secrets, trace } from 'fnbox:host'
          export default { async fetch() {
            const key = secrets.get('KEY')
            await fetch('http://127.0.0.1:${upstreamPort}/v1?key=' + key).then((r) => r.text())
            await trace.span('lookup', async (span) => { span.setAttribute('token', key); span.setAttribute('tokens', [key]) })
            return new Response('ok')
          } }`,
      })
      exporter.reset()
      expect((await rt.fetch(new Request('http://localhost/leaky'))).status).toBe(200)
      const spans = await finished('leaky')
      expect(JSON.stringify(spans.map((s) => [s.name, s.attributes]))).not.toContain(secret)
      expect(byName(spans, 'GET').attributes['url.full']).toBe(`http://127.0.0.1:${upstreamPort}/v1?key=[redacted]`)
      expect(byName(spans, 'lookup').attributes).toEqual({ token: '[redacted]', tokens: ['[redacted]'] })
    } finally {
      await rt.close()
    }
  })
})

describe('tracing without an SDK', () => {
  it('records nothing, ctx.traceId is undefined, and trace.span still runs its body', async () => {
    const rt = await createRuntime({ threads: 1, storage: 'memory', logger: false, tracing: false })
    try {
      await rt.deploy('t', {
        code: `import { trace } from 'fnbox:host'
          export default { async fetch(req, ctx) {
            const v = await trace.span('x', async (span) => { span.setAttribute('a', 1); return 7 })
            return Response.json({ v, traceId: ctx.traceId ?? null })
          } }`,
      })
      exporter.reset()
      const res = await rt.fetch(new Request('http://localhost/t'))
      expect(await res.json()).toEqual({ v: 7, traceId: null })
      await new Promise((resolve) => setTimeout(resolve, 50)) // an invocation ends just after its body
      expect(exporter.getFinishedSpans()).toHaveLength(0)
    } finally {
      await rt.close()
    }
  })
})
