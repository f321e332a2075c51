// A/B of two fnbox builds in one process, rounds interleaved so both share the machine's noise:
//   node bench/ab.mjs <other-dist> [echo|http|fib|cpu|all]
// <other-dist> is another checkout's built dist/ (e.g. `git worktree add /tmp/base main`, npm run
// build there). Prints per-figure medians over rounds and the ratio this build / the other.
import { execFile } from 'node:child_process'
import { readdirSync, readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { resolve } from 'node:path'
import express from 'express'

const require = createRequire(import.meta.url)
const [otherDist, which = 'all'] = process.argv.slice(2)
if (!otherDist) throw new Error('usage: node bench/ab.mjs <other-dist> [echo|http|fib|cpu|all]')
const builds = {
  this: await import(new URL('../dist/index.js', import.meta.url).href),
  other: await import(resolve(otherDist, 'index.js')),
}
const rounds = Number(process.env.FNBOX_AB_ROUNDS ?? 5)
const PAYLOAD = { id: 42, name: 'fnbox', tags: ['a', 'b', 'c'], nested: { ok: true, n: 3.14 } }
const median = (xs) => xs.toSorted((a, b) => a - b)[xs.length >> 1]
const figures = {}
const add = (name, build, value) => (figures[name] ??= { this: [], other: [] })[build].push(value)

/** CPU time (ns) each thread of this process has run, by thread id (Linux; empty elsewhere). */
function threadCpu() {
  try {
    const tids = readdirSync('/proc/self/task')
    return new Map(tids.map((t) => [t, Number(readFileSync(`/proc/self/task/${t}/schedstat`, 'utf8').split(' ')[0])]))
  } catch {
    return new Map()
  }
}

/** The busiest thread other than this one between two {@link threadCpu} readings, in µs per call. */
function executorCpu(before, after, calls) {
  let most = 0
  for (const [tid, ns] of after) {
    if (tid !== String(process.pid) && before.has(tid)) most = Math.max(most, ns - before.get(tid))
  }
  return most / 1000 / calls
}

/** The main thread's CPU time so far in ns, from the scheduler (Linux); undefined elsewhere. */
function mainThreadCpuNs() {
  return threadCpu().get(String(process.pid))
}

async function echo(build) {
  const rt = await builds[build].createRuntime({ pool: { max: 8 } })
  await rt.deploy('echo', { code: 'export const echo = (x) => x' })
  for (let i = 0; i < 2000; i++) await rt.call('echo', 'echo', PAYLOAD)
  const lat = []
  const cpuBefore = threadCpu()
  for (let i = 0; i < 5000; i++) {
    const s = performance.now()
    await rt.call('echo', 'echo', PAYLOAD)
    lat.push((performance.now() - s) * 1000)
  }
  add('echo sequential p50 (us)', build, median(lat))
  // The executor thread's own work per call (its CPU time), which its wake-ups do not blur.
  if (cpuBefore.size)
    add('echo sequential: executor-thread CPU us per call', build, executorCpu(cpuBefore, threadCpu(), 5000))
  const elu = performance.eventLoopUtilization()
  const cpu = mainThreadCpuNs()
  const t = performance.now()
  await Promise.all(
    Array.from({ length: 16 }, async () => {
      for (let i = 0; i < 2000; i++) await rt.call('echo', 'echo', PAYLOAD)
    }),
  )
  add('echo 16 concurrent (ops/s)', build, 32000 / ((performance.now() - t) / 1000))
  // The main thread's own work per call (its event loop's active time): what caps throughput.
  add(
    'echo 16 concurrent: main-thread busy us per call',
    build,
    (performance.eventLoopUtilization(elu).active * 1000) / 32000,
  )
  // The same as CPU time (Linux): what the main thread ran, not counting waits for a core, which
  // the busy figure above includes on a loaded machine.
  if (cpu !== undefined)
    add('echo 16 concurrent: main-thread CPU us per call', build, (mainThreadCpuNs() - cpu) / 1000 / 32000)
  const s = rt.stats()
  const spread = (s.executors ?? []).map((e) => e.instances ?? e.size)
  if (spread.length)
    add(
      `instances per thread after 16 concurrent (max share)`,
      build,
      Math.max(...spread) / spread.reduce((a, b) => a + b, 0),
    )
  await rt.close()
}

async function fib(build) {
  const rt = await builds[build].createRuntime({})
  await rt.deploy('fib', { code: 'export function fib(n) { return n < 2 ? n : fib(n - 1) + fib(n - 2) }' })
  for (let i = 0; i < 10; i++) await rt.call('fib', 'fib', 22)
  const xs = []
  for (let i = 0; i < 40; i++) {
    const s = performance.now()
    await rt.call('fib', 'fib', 22)
    xs.push(performance.now() - s)
  }
  add('fib(22) (ms)', build, median(xs))
  await rt.close()
}

/** CPU-bound guests under concurrency: where a function's instances run on every thread or not. */
async function cpu(build) {
  const rt = await builds[build].createRuntime({ pool: { max: 8 } })
  await rt.deploy('fib', { code: 'export function fib(n) { return n < 2 ? n : fib(n - 1) + fib(n - 2) }' })
  const burst = () => Promise.all(Array.from({ length: 8 }, () => rt.call('fib', 'fib', 20)))
  for (let i = 0; i < 3; i++) await burst()
  const t = performance.now()
  for (let i = 0; i < 20; i++) await burst()
  add('fib(20), 8 concurrent (calls/s)', build, 160 / ((performance.now() - t) / 1000))
  await rt.close()
}

function cannon(url, seconds) {
  const cli = require.resolve('autocannon/autocannon.js')
  return new Promise((res, rej) => {
    execFile(
      process.execPath,
      [cli, '-j', '-c', '32', '-d', String(seconds), url],
      { maxBuffer: 1 << 26 },
      (err, out) => (err ? rej(err) : res(JSON.parse(out))),
    )
  })
}

async function http(build) {
  const rt = await builds[build].createRuntime({ pool: { max: 16 } })
  await rt.deploy('hello', { code: `export default { fetch: () => new Response('hello') }` })
  const app = express()
  app.get('/plain', (_req, res) => res.send('hello'))
  app.use('/fn', rt.express())
  const server = app.listen(0, '127.0.0.1')
  await new Promise((r) => server.once('listening', r))
  const base = `http://127.0.0.1:${server.address().port}`
  await cannon(`${base}/fn/hello`, 1)
  const plain = await cannon(`${base}/plain`, 3)
  const fn = await cannon(`${base}/fn/hello`, 3)
  add('hello over Express (req/s)', build, fn.requests.average)
  add('hello over Express / plain Express', build, fn.requests.average / plain.requests.average)
  server.close()
  await rt.close()
}

const parts = { echo, fib, http, cpu }
for (let r = 0; r < rounds; r++) {
  for (const [name, part] of Object.entries(parts)) {
    if (which !== 'all' && which !== name) continue
    // Alternate which build goes first, so neither always runs on a warmer (or hotter) machine.
    const order = r % 2 ? ['other', 'this'] : ['this', 'other']
    for (const build of order) await part(build)
  }
}
for (const [name, f] of Object.entries(figures)) {
  const a = median(f.this)
  const b = median(f.other)
  console.log(
    `${name.padEnd(52)} this ${a.toFixed(3).padStart(10)}  other ${b.toFixed(3).padStart(10)}  ratio ${(a / b).toFixed(3)}`,
  )
}
