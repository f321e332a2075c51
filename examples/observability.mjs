// An Express app that an operator can watch: fnbox's metrics in the app's prom-client registry
// (GET /metrics), its spans in the app's OpenTelemetry SDK, guest logs as pino JSON lines with
// request and trace ids, and a readiness probe at /fn/_health.
//   node examples/observability.mjs               serve on http://localhost:3000 until Ctrl-C
//   node examples/observability.mjs --self-test   make a few calls, print what an operator sees, exit
import { createServer } from 'node:http'
import express from 'express'
import pino from 'pino'
import { collectDefaultMetrics, register } from 'prom-client'
import { ConsoleSpanExporter, InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base'
import { NodeTracerProvider } from '@opentelemetry/sdk-trace-node'
import { createRuntime } from 'fnbox'

const selfTest = process.argv.includes('--self-test')

// 1. The OpenTelemetry SDK, registered globally before the runtime starts: fnbox's spans join the
//    app's traces (an OTLP exporter in production; the console here, or memory for the self-test).
const spans = new InMemorySpanExporter()
const provider = new NodeTracerProvider({
  spanProcessors: [new SimpleSpanProcessor(selfTest ? spans : new ConsoleSpanExporter())],
})
provider.register()

// 2. prom-client: the app's registry (Node's default metrics in it too), fnbox's series added to it.
collectDefaultMetrics({ register })

// 3. pino: guest console lines and failed invocations arrive as JSON with their ids.
const logger = pino({ base: { app: 'shop' } })

// A stand-in for a model API the function calls.
const upstream = createServer((req, res) => {
  res.setHeader('content-type', 'application/json')
  res.end(JSON.stringify({ embedding: [0.1, 0.2, 0.3], traceparent: req.headers.traceparent ?? null }))
})
await new Promise((resolve) => upstream.listen(0, '127.0.0.1', resolve))
const upstreamUrl = `http://127.0.0.1:${upstream.address().port}`

const runtime = await createRuntime({ storage: 'memory', metrics: { registry: register }, logger })
await runtime.deploy('agent', {
  allowedHosts: [upstreamUrl.slice('http://'.length)],
  code: `
    import { kv, trace } from 'fnbox:host'
    export default {
      async fetch(request, ctx) {
        const user = new URL(request.url).searchParams.get('user') ?? 'anonymous'
        console.log('Processing', { user })
        const visits = await kv.incr('visits:' + user)
        const { embedding } = await trace.span('embed', async (span) => {
          span.setAttribute('chunks', 1)
          return (await fetch('${upstreamUrl}/v1/embeddings')).json()
        })
        if (user === 'mallory') throw new Error('refusing ' + user)
        return Response.json({ user, visits, dims: embedding.length, requestId: ctx.requestId, traceId: ctx.traceId })
      },
    }`,
})

const app = express()
app.get('/metrics', async (_req, res) => res.type(register.contentType).send(await register.metrics()))
app.use('/fn', runtime.express({ healthPath: '/_health' }))
const server = app.listen(selfTest ? 0 : Number(process.env.PORT ?? 3000), '127.0.0.1')
await new Promise((resolve) => server.once('listening', resolve))
const base = `http://127.0.0.1:${server.address().port}`
logger.info({ base }, 'listening: try /fn/agent?user=ada, /fn/_health and /metrics')

if (selfTest) {
  const ok = await fetch(`${base}/fn/agent?user=ada`, { headers: { 'x-request-id': 'req-ada-1' } })
  console.log('status', ok.status, 'x-request-id', ok.headers.get('x-request-id'), await ok.text())
  const failed = await fetch(`${base}/fn/agent?user=mallory`, { headers: { 'x-request-id': 'req-mallory-1' } })
  console.log('status', failed.status, 'x-request-id', failed.headers.get('x-request-id'))
  // Spans end just after the response: give the last one a moment.
  await new Promise((resolve) => setTimeout(resolve, 100))

  console.log('--- spans (name, kind, parent)')
  const finished = spans
    .getFinishedSpans()
    .filter((s) => s.spanContext().traceId === spans.getFinishedSpans()[0]?.spanContext().traceId)
  const names = new Map(finished.map((s) => [s.spanContext().spanId, s.name]))
  for (const s of finished) {
    console.log(`span ${s.name} kind=${s.kind} parent=${names.get(s.parentSpanContext?.spanId) ?? '-'}`)
  }
  console.log('--- metrics')
  const text = await (await fetch(`${base}/metrics`)).text()
  for (const line of text.split('\n')) {
    if (/^fnbox_(invocations_total|egress_requests_total|host_call_duration_seconds_count|instances)\{/.test(line)) {
      console.log(line)
    }
  }
  console.log('nodejs metrics in the same registry:', text.includes('nodejs_heap_size_total_bytes'))
  console.log('--- health')
  const health = await fetch(`${base}/fn/_health`)
  console.log('health', health.status, (await health.json()).status)
}

if (selfTest) {
  server.close()
  upstream.close()
  await runtime.close()
  await provider.shutdown()
} else {
  process.on('SIGINT', async () => {
    server.close()
    upstream.close()
    await runtime.close()
    await provider.shutdown()
    process.exit(0)
  })
}
