import { createRuntime } from 'fnbox'
import { median, report } from '../shared.mjs'

// (i) the guest's web streams, per chunk (µs), measured inside the guest with performance.now():
// the baseline is the same loop awaiting a resolved promise per chunk (the interpreter's cost of
// one await), so the ratio says how many awaits a chunk's way costs. Each figure is the fastest of
// 15 runs (other work on the machine only ever adds time). "first use" rows time the first touch
// of a global in a fresh instance (the chunk that defines it loads then): the median of 5.
const STREAMS_MICRO = `
const N = 400
const source = () => { let i = 0; return new ReadableStream({ pull(c) { if (i++ < N) c.enqueue(i); else c.close() } }, { highWaterMark: 0 }) }
const bytes = () => { let i = 0; const chunk = new Uint8Array(64); return new ReadableStream({ type: 'bytes', pull(c) { if (i++ < N) c.enqueue(chunk.slice()); else { c.close(); c.byobRequest?.respond(0) } } }) }
const drain = async (rs) => { const r = rs.getReader(); let n = 0; while (!(await r.read()).done) n++; return n }
const CASES = {
  async await() { for (let i = 0; i < N; i++) await Promise.resolve(i) },
  async read() { await drain(source()) },
  async forAwait() { for await (const _ of source()); },
  async eightTransforms() { let rs = source(); for (let i = 0; i < 8; i++) rs = rs.pipeThrough(new TransformStream()); await drain(rs) },
  async tee() { const [a, b] = source().tee(); await Promise.all([drain(a), drain(b)]) },
  async pipeTo() { await source().pipeTo(new WritableStream({ write() {} })) },
  async writeThroughTransform() { const ts = new TransformStream(); const w = ts.writable.getWriter(); const r = ts.readable.getReader(); for (let i = 0; i < N; i++) { w.write(i); await r.read() } },
  async newTransformStream() { for (let i = 0; i < N; i++) new TransformStream() },
  async byteStreamRead() { await drain(bytes()) },
  async byobRead() { const r = bytes().getReader({ mode: 'byob' }); let buf = new Uint8Array(64); for (;;) { const { done, value } = await r.read(buf); if (done) break; buf = new Uint8Array(value.buffer) } },
  async responseBody() { await drain(new Response(bytes()).body) },
}
export async function micro(name) {
  await CASES[name]()
  const t = performance.now()
  await CASES[name]()
  return ((performance.now() - t) * 1000) / N
}
export function first(name) {
  const t = performance.now()
  if (name === 'ReadableStream') new ReadableStream()
  else if (name === 'byte stream') new ReadableStream({ type: 'bytes' })
  else if (name === 'Response body') void new Response('x').body
  return performance.now() - t
}
`

export default async function benchStreams() {
  console.log("\n(i) the guest's web streams: µs per chunk inside the guest (baseline: one await per chunk)")
  const runtime = await createRuntime({ pool: { max: 1 } })
  // A case that fails (main's BYOB reads spin forever) is cut off by the time limit and reported as such.
  await runtime.deploy('streams', { code: STREAMS_MICRO, limits: { timeoutMs: 5000 } })
  const measure = async (name) => {
    const runs = []
    for (let i = 0; i < 15; i++) runs.push(await runtime.call('streams', 'micro', name))
    return Math.min(...runs)
  }
  const base = await measure('await')
  const rows = [
    ['read', 'a read (reader.read())'],
    ['forAwait', 'for await'],
    ['eightTransforms', 'eight chained identity transforms'],
    ['tee', 'a tee (both branches read)'],
    ['pipeTo', 'pipeTo'],
    ['writeThroughTransform', 'a write into a TransformStream, read back'],
    ['newTransformStream', 'new TransformStream() (per stream)'],
    ['byteStreamRead', 'a byte stream read (default reader)'],
    ['byobRead', 'a byte stream read (BYOB reader)'],
    ['responseBody', 'a Response body read'],
  ]
  for (const [name, label] of rows) {
    try {
      report('i', `${label} (µs)`, await measure(name), base)
    } catch (err) {
      console.log(`  ${`${label} (µs)`.padEnd(46)} failed: ${err.code ?? err.message}`)
    }
  }
  let n = 0
  for (const name of ['ReadableStream', 'byte stream', 'Response body']) {
    const times = []
    for (let i = 0; i < 5; i++) {
      const fn = `first${n++}`
      await runtime.deploy(fn, { code: STREAMS_MICRO })
      times.push(await runtime.call(fn, 'first', name))
      await runtime.undeploy(fn)
    }
    report('i', `first use: ${name} (ms)`, median(times))
  }
  await runtime.close()
}
