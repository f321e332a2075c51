import express from 'express'
import { createRuntime } from 'fnbox'
import { report, cannon, cannonWithCpu } from '../shared.mjs'

// (b) hello function mounted in Express vs a plain Express handler. The load comes from a second
// process (autocannon's CLI), so the load generator does not compete with the server's event loop.
export default async function benchHttp() {
  console.log('\n(b) Express: hello function via runtime.express() vs plain handler (autocannon, 32 connections)')
  // FNBOX_BENCH_THREADS=n tries other thread counts (default: one per core, as createRuntime).
  const threads = process.env.FNBOX_BENCH_THREADS ? Number(process.env.FNBOX_BENCH_THREADS) : undefined
  const runtime = await createRuntime({ threads, pool: { max: 16 } })
  await runtime.deploy('hello', { code: `export default { fetch: () => new Response('hello') }` })
  const app = express()
  app.get('/plain', (_req, res) => res.send('hello'))
  app.use('/fn', runtime.express())
  const server = app.listen(0, '127.0.0.1')
  await new Promise((r) => server.once('listening', r))
  const base = `http://127.0.0.1:${server.address().port}`
  await cannon(`${base}/fn/hello`, 2)
  const plain = await cannonWithCpu(`${base}/plain`, 5)
  const fn = await cannonWithCpu(`${base}/fn/hello`, 5)
  server.close()
  await runtime.close()
  if (fn.non2xx || fn.errors) console.log(`  (fnbox: ${fn.non2xx} non-2xx, ${fn.errors} errors)`)
  report('b', 'requests/s', fn.requests.average, plain.requests.average, '>= 0.7 of plain')
  report('b', 'latency p50 (ms)', fn.latency.p50, plain.latency.p50)
  report('b', 'latency p99 (ms)', fn.latency.p99, plain.latency.p99)
  // What limits requests/s on a saturated machine: the CPU each request costs, thread by thread.
  if (fn.cpuUsPerRequest && plain.cpuUsPerRequest) {
    report('b', 'CPU µs per request: main thread', fn.cpuUsPerRequest.main, plain.cpuUsPerRequest.main)
    report('b', 'CPU µs per request: other threads', fn.cpuUsPerRequest.others, plain.cpuUsPerRequest.others)
  }
}
