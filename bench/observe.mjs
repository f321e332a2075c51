// (o) The cost of observability on the warm call path: metrics on with no tracer registered (the
// API's no-op), and metrics on with a real OpenTelemetry SDK tracer (every span recorded and
// handed to a batch processor whose exporter drops them), against metrics and tracing off.
// The three runtimes stay up together and take turns in short batches (many rounds, the median
// kept), so a busy machine's noise falls on all three alike.
import { BasicTracerProvider, BatchSpanProcessor } from '@opentelemetry/sdk-trace-base'
import { createRuntime } from 'fnbox'

const CONCURRENCY = 16
const BATCH = { call: 4000, fetch: 800 }
const ROUNDS = 15

/** An exporter that accepts and drops spans: the SDK's own cost, not a collector's. */
const dropExporter = {
  export: (_spans, done) => done({ code: 0 }),
  shutdown: async () => undefined,
  forceFlush: async () => undefined,
}

async function batch(rt, invoke, total) {
  const start = performance.now()
  let left = total
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (left-- > 0) await invoke(rt)
    }),
  )
  return total / ((performance.now() - start) / 1000)
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]

export async function benchObserve({ report, PAYLOAD, ECHO }) {
  console.log(
    '\n(o) observability on the warm call path: ops/s, metrics + no-op tracer and metrics + SDK tracer vs off',
  )
  const provider = new BasicTracerProvider({ spanProcessors: [new BatchSpanProcessor(dropExporter)] })
  const modes = {
    off: { metrics: false, tracing: false },
    metrics: {},
    sdk: { tracing: { tracerProvider: provider } },
  }
  const paths = {
    call: (rt) => rt.call('echo', 'echo', PAYLOAD),
    fetch: (rt) => rt.fetch(new Request('http://localhost/hello')).then((res) => res.arrayBuffer()),
  }
  const runtimes = {}
  for (const [mode, options] of Object.entries(modes)) {
    const rt = await createRuntime({ threads: 1, pool: { max: 8 }, storage: 'memory', logger: false, ...options })
    await rt.deploy('echo', { code: ECHO })
    await rt.deploy('hello', { code: `export default { fetch: () => new Response('hi') }` })
    for (const invoke of Object.values(paths)) await batch(rt, invoke, 1000) // warm
    runtimes[mode] = rt
  }
  const samples = {}
  for (let round = 0; round < ROUNDS; round++) {
    for (const [path, invoke] of Object.entries(paths)) {
      for (const [mode, rt] of Object.entries(runtimes)) {
        ;(samples[`${path}:${mode}`] ??= []).push(await batch(rt, invoke, BATCH[path]))
      }
    }
  }
  await Promise.all(Object.values(runtimes).map((rt) => rt.close()))
  await provider.shutdown()
  for (const path of Object.keys(paths)) {
    const off = median(samples[`${path}:off`])
    report('o', `${path}: metrics on, no-op tracer (ops/s)`, median(samples[`${path}:metrics`]), off, '>= 0.95 of off')
    report('o', `${path}: metrics on, SDK tracer (ops/s)`, median(samples[`${path}:sdk`]), off, '>= 0.85 of off')
  }
}
