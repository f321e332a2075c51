// Bench section (p): fnbox's call path against its peers, each a ratio measured in the same run.
//   - raw QuickJS (the same engine build fnbox loads, @jitl/quickjs-wasmfile-release-sync, in fixed
//     memory of the same size) running the same real bundle, interleaved call by call with fnbox;
//   - a minimal postMessage worker executor: the floor of a call that hops to a thread and back;
//   - isolated-vm (async `apply` in process, and inside an Express handler), when installed by
//     `npm run bench:peers:install` (a native addon compiled from source, ~10-15 min here; kept out
//     of the package's dependencies and of CI). Skipped, with the reason, when it is not built.
import { createRequire } from 'node:module'
import { Worker } from 'node:worker_threads'
import express from 'express'
import { bundle, createRuntime } from 'fnbox'
import { cannon, median, rawModule, report, sequentialP50 } from '../shared.mjs'

const ROOT = new URL('../../', import.meta.url).pathname

const PAYLOAD = { id: 42, name: 'fnbox', tags: ['a', 'b', 'c'], nested: { ok: true, n: 3.14 } }
const ORDER = {
  id: 7,
  customer: { name: 'Ada', email: 'ada@example.com' },
  lines: [
    { sku: 'a-1', qty: 2, price: 9.5 },
    { sku: 'b-2', qty: 1, price: 120 },
    { sku: 'c-3', qty: 5, price: 1.25 },
  ],
  tags: ['priority'],
}
const FIB = `export function fib(n) { return n < 2 ? n : fib(n - 1) + fib(n - 2) }
export function timed(n) { const t = performance.now(); fib(n); return performance.now() - t }
export const echo = (x) => x`

/** isolated-vm from bench/peers, or why it is not there. */
function loadIvm() {
  try {
    return { ivm: createRequire(`${ROOT}bench/peers/package.json`)('isolated-vm') }
  } catch (err) {
    return { reason: `isolated-vm not built (npm run bench:peers:install): ${String(err.message).split('\n')[0]}` }
  }
}

/** A raw QuickJS context with `code` evaluated as a module; `call(name, json)` is one JSON call. */
function rawContext(qjs, code) {
  const rt = qjs.newRuntime()
  const ctx = rt.newContext()
  const ns = ctx.unwrapResult(ctx.evalCode(code, 'f.js', { type: 'module' }))
  ctx.setProp(ctx.global, '__ns', ns)
  ns.dispose()
  const fns = new Map()
  const call = (name, argJson) => {
    let fn = fns.get(name)
    if (!fn) {
      fn = ctx.unwrapResult(ctx.evalCode(`(json) => JSON.stringify(__ns.${name}(...JSON.parse(json)))`))
      fns.set(name, fn)
    }
    const arg = ctx.newString(argJson)
    const out = ctx.unwrapResult(ctx.callFunction(fn, ctx.undefined, arg))
    const value = JSON.parse(ctx.getString(out))
    out.dispose()
    arg.dispose()
    return value
  }
  const dispose = () => {
    for (const fn of fns.values()) fn.dispose()
    ctx.dispose()
    rt.dispose()
  }
  return { call, dispose }
}

/** The floor: a worker that answers each message with its payload, and nothing else. */
function floorExecutor() {
  const worker = new Worker(
    `const { parentPort } = require('node:worker_threads')
     parentPort.on('message', (m) => parentPort.postMessage({ id: m.id, result: JSON.stringify(JSON.parse(m.args)[0]) }))`,
    { eval: true },
  )
  const waiting = new Map()
  let next = 1
  worker.on('message', (m) => {
    waiting.get(m.id)(JSON.parse(m.result))
    waiting.delete(m.id)
  })
  const call = (payload) =>
    new Promise((resolve) => {
      const id = next++
      waiting.set(id, resolve)
      worker.postMessage({ id, args: JSON.stringify([payload]) })
    })
  return { call, close: () => worker.terminate() }
}

async function concurrentOps(call, concurrency = 16, perCaller = 2000) {
  const t = performance.now()
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      for (let i = 0; i < perCaller; i++) await call()
    }),
  )
  return (concurrency * perCaller) / ((performance.now() - t) / 1000)
}

export default async function benchPeers() {
  console.log('\n(p) peers in the same run: raw QuickJS on the same bundle, a postMessage floor, isolated-vm')
  const { ivm, reason } = loadIvm()
  if (!ivm) console.log(`  (${reason})`)
  const real = (await bundle('bench/fixtures/real-bundle.mjs', { cwd: ROOT })).code
  const rounds = Number(process.env.FNBOX_BENCH_PEER_ROUNDS ?? 5)

  // Echo: fnbox, the floor and isolated-vm, sequential and 16 concurrent.
  const runtime = await createRuntime({ pool: { max: 8 } })
  await runtime.deploy('real', { code: real })
  await runtime.deploy('fib', { code: FIB })
  const fnEcho = () => runtime.call('real', 'echo', PAYLOAD)
  const floor = floorExecutor()
  const floorEcho = () => floor.call(PAYLOAD)
  let ivmEcho
  let ivmEchoPair
  let isolates = []
  if (ivm) {
    const make = () => {
      const isolate = new ivm.Isolate({ memoryLimit: 128 })
      const context = isolate.createContextSync()
      const fn = context.evalSync('(json) => JSON.stringify(JSON.parse(json)[0])', { reference: true })
      isolates.push(isolate)
      return async (payload) =>
        JSON.parse(await fn.apply(undefined, [JSON.stringify([payload])], { result: { copy: true } }))
    }
    const one = make()
    const two = [one, make()]
    let k = 0
    ivmEcho = () => one(PAYLOAD)
    ivmEchoPair = () => two[k++ & 1](PAYLOAD)
  }
  const seq = { fnbox: [], floor: [], ivm: [] }
  const conc = { fnbox: [], floor: [], ivm: [] }
  for (let r = 0; r < 3; r++) {
    seq.fnbox.push(await sequentialP50(fnEcho))
    seq.floor.push(await sequentialP50(floorEcho))
    if (ivmEcho) seq.ivm.push(await sequentialP50(ivmEcho))
    conc.fnbox.push(await concurrentOps(fnEcho))
    conc.floor.push(await concurrentOps(floorEcho))
    if (ivmEchoPair) conc.ivm.push(await concurrentOps(ivmEchoPair))
  }
  await floor.close()
  report('p', 'echo sequential p50 (us): fnbox vs postMessage floor', median(seq.fnbox), median(seq.floor))
  if (ivm) report('p', 'echo sequential p50 (us): fnbox vs isolated-vm', median(seq.fnbox), median(seq.ivm), '<= 1.0')
  report('p', 'echo 16 concurrent (ops/s): fnbox vs floor', median(conc.fnbox), median(conc.floor))
  if (ivm) report('p', 'echo 16 concurrent (ops/s): fnbox vs ivm, 2 isolates', median(conc.fnbox), median(conc.ivm))

  // Engine time: the real bundle in raw QuickJS and in fnbox, interleaved call by call, each net
  // of its own echo call (what is left is the engine running the function). Per round the ratio
  // of medians; the spread over rounds shows how stable it is.
  const qjs = await rawModule(128)
  const raw = rawContext(qjs, real)
  const orderJson = JSON.stringify([ORDER])
  const echoJson = JSON.stringify([PAYLOAD])
  const want = JSON.stringify(raw.call('run', orderJson))
  const got = JSON.stringify(await runtime.call('real', 'run', ORDER))
  if (want !== got) throw new Error(`fnbox and raw QuickJS disagree: ${got} vs ${want}`)
  const time = (f) => {
    const s = performance.now()
    f()
    return (performance.now() - s) * 1000
  }
  const timeAsync = async (f) => {
    const s = performance.now()
    await f()
    return (performance.now() - s) * 1000
  }
  const ratios = []
  const nets = { fnbox: [], raw: [], fnCall: [], rawCall: [] }
  for (let r = 0; r < rounds; r++) {
    const xs = { rawRun: [], rawEcho: [], fnRun: [], fnEcho: [] }
    for (let i = 0; i < 1500; i++) {
      xs.rawRun.push(time(() => raw.call('run', orderJson)))
      xs.rawEcho.push(time(() => raw.call('echo', echoJson)))
      xs.fnRun.push(await timeAsync(() => runtime.call('real', 'run', ORDER)))
      xs.fnEcho.push(await timeAsync(fnEcho))
    }
    if (r === 0) continue // warm-up round
    const fnNet = median(xs.fnRun) - median(xs.fnEcho)
    const rawNet = median(xs.rawRun) - median(xs.rawEcho)
    nets.fnbox.push(fnNet)
    nets.raw.push(rawNet)
    nets.fnCall.push(median(xs.fnRun))
    nets.rawCall.push(median(xs.rawRun))
    ratios.push(fnNet / rawNet)
  }
  raw.dispose()
  const KB = Math.round(real.length / 1024)
  report('p', `${KB} KB zod+lodash bundle, warm call (us)`, median(nets.fnCall), median(nets.rawCall))
  report('p', 'same, net of echo: engine time (us)', median(nets.fnbox), median(nets.raw), '<= 1.05')
  console.log(`  engine-time ratio per round: ${ratios.map((x) => x.toFixed(3)).join(', ')}`)
  report('p', 'engine-time ratio, spread over rounds (max - min)', Math.max(...ratios) - Math.min(...ratios))

  // fib(22), interleaved with raw QuickJS, on runtimes of 1 and 2 threads.
  for (const threads of [1, 2]) {
    const rt = threads === 1 ? await createRuntime({ threads: 1 }) : runtime
    if (threads === 1) await rt.deploy('fib', { code: FIB })
    const rawFib = rawContext(qjs, FIB)
    const a = []
    const b = []
    const inside = []
    for (let i = 0; i < 60; i++) {
      a.push(await timeAsync(() => rt.call('fib', 'fib', 22)))
      b.push(time(() => rawFib.call('fib', '[22]')))
      inside.push(await rt.call('fib', 'timed', 22))
    }
    rawFib.dispose()
    if (threads === 1) await rt.close()
    const rawMs = median(b.slice(10)) / 1000
    report('p', `fib(22), threads: ${threads} (ms)`, median(a.slice(10)) / 1000, rawMs, '<= 1.05')
    // The same timed inside the guest: the engine's own time, without the threads' wake-ups.
    report('p', `fib(22), threads: ${threads}, timed in the guest (ms)`, median(inside.slice(10)), rawMs)
  }

  // Inside Express: fnbox's mount, isolated-vm in a handler, and a plain handler.
  await runtime.deploy('hello', { code: `export default { fetch: () => new Response('hello') }` })
  const app = express()
  app.get('/plain', (_req, res) => res.send('hello'))
  app.use('/fn', runtime.express())
  if (ivm) {
    const isolate = new ivm.Isolate({ memoryLimit: 128 })
    isolates.push(isolate)
    const fn = isolate.createContextSync().evalSync(`() => 'hello'`, { reference: true })
    app.get('/ivm', async (_req, res) => res.send(await fn.apply(undefined, [], { result: { copy: true } })))
  }
  const server = app.listen(0, '127.0.0.1')
  await new Promise((r) => server.once('listening', r))
  const base = `http://127.0.0.1:${server.address().port}`
  await cannon(`${base}/fn/hello`, 2)
  const plain = await cannon(`${base}/plain`, 5)
  const fn = await cannon(`${base}/fn/hello`, 5)
  report('p', 'hello over Express (req/s): fnbox vs plain', fn.requests.average, plain.requests.average, '>= 0.7')
  if (ivm) {
    await cannon(`${base}/ivm`, 2)
    const iv = await cannon(`${base}/ivm`, 5)
    report('p', 'hello over Express (req/s): fnbox vs isolated-vm', fn.requests.average, iv.requests.average, '>= 1.0')
  }
  server.close()
  await runtime.close()
  for (const isolate of isolates) isolate.dispose()
  isolates = []
}
