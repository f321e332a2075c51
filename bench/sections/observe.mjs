// (o) The cost of observability on the warm call path: metrics on with no tracer registered (the
// API's no-op), and metrics on with a real OpenTelemetry SDK tracer (every span recorded and
// handed to a batch processor whose exporter drops them), against metrics and tracing off.
// Paired rounds: the three modes back to back in a shuffled order, each on a fresh runtime, and
// the median of the per-round ratios kept, so a busy machine's noise falls on all three alike.
// Also printed: the main thread's busy time per call (where all of the observability code runs).
import { BasicTracerProvider, BatchSpanProcessor } from '@opentelemetry/sdk-trace-base'
import { createRuntime } from 'fnbox'
import { ECHO, median, PAYLOAD, report } from '../shared.mjs'

const CONCURRENCY = 16
const BATCH = { call: 4000, fetch: 800 }
const ROUNDS = 9

/** An exporter that accepts and drops spans: the SDK's own cost, not a collector's. */
const dropExporter = {
  export: (_spans, done) => done({ code: 0 }),
  shutdown: async () => undefined,
  forceFlush: async () => undefined,
}

/** Ops/s of a batch, and the main thread's busy time per op in us (where all of fnbox's observability runs). */
async function batch(rt, invoke, total) {
  const start = performance.now()
  const elu = performance.eventLoopUtilization()
  let left = total
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (left-- > 0) await invoke(rt)
    }),
  )
  const busyUs = (performance.eventLoopUtilization(elu).active * 1000) / total
  return { rate: total / ((performance.now() - start) / 1000), busyUs }
}

export default async function benchObserve() {
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
  /** One runtime at a time (a second one's threads, timers and garbage would bill the first). */
  async function measure(mode, path) {
    const rt = await createRuntime({ threads: 1, pool: { max: 8 }, storage: 'memory', logger: false, ...modes[mode] })
    try {
      await rt.deploy('echo', { code: ECHO })
      await rt.deploy('hello', { code: `export default { fetch: () => new Response('hi') }` })
      await batch(rt, paths[path], BATCH[path] / 2) // warm
      return await batch(rt, paths[path], BATCH[path])
    } finally {
      await rt.close()
    }
  }
  // Each round measures the three modes back to back, in a shuffled order, and keeps each mode's
  // ratio to "off" of that same round: pairs share the machine's load of the moment.
  const ratios = {}
  const rates = {}
  const busy = {}
  for (let round = 0; round < ROUNDS; round++) {
    for (const path of Object.keys(paths)) {
      const order = Object.keys(modes).sort(() => Math.random() - 0.5)
      const rate = {}
      for (const mode of order) rate[mode] = await measure(mode, path)
      for (const mode of Object.keys(modes)) {
        ;(rates[`${path}:${mode}`] ??= []).push(rate[mode].rate)
        ;(ratios[`${path}:${mode}`] ??= []).push(rate[mode].rate / rate.off.rate)
        ;(busy[`${path}:${mode}`] ??= []).push(rate[mode].busyUs)
      }
    }
  }
  await provider.shutdown()
  for (const path of Object.keys(paths)) {
    const off = median(rates[`${path}:off`])
    for (const [mode, label, target] of [
      ['metrics', 'metrics on, no-op tracer', '>= 0.95'],
      ['sdk', 'metrics on, SDK tracer', '>= 0.85'],
    ]) {
      // value: the median rate; ratio: the median of the per-round ratios (printed as value/baseline).
      const ratio = median(ratios[`${path}:${mode}`])
      report('o', `${path}: ${label} (ops/s)`, off * ratio, off, `${target} of off (median of ${ROUNDS} paired rounds)`)
    }
    const offBusy = median(busy[`${path}:off`])
    for (const mode of ['metrics', 'sdk']) {
      report('o', `${path}: main-thread us per call, ${mode}`, median(busy[`${path}:${mode}`]), offBusy, 'vs off')
    }
  }
}
