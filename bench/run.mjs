// fnbox benchmarks: every figure is printed with a baseline measured in the same run, and the ratio.
//   npm run bench                  all sections
//   npm run bench -- call cold     only those sections (call, peers, mailbox, http, cold, rss, kv, durable, first, vector, faults, stream, streams, snapshot, burst, zipf, webapis, jobs, stall, observe)
import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { execFile } from 'node:child_process'
import { monitorEventLoopDelay } from 'node:perf_hooks'
import express from 'express'
import { createRuntime } from 'fnbox'
import { newQuickJSWASMModuleFromVariant, newVariant } from 'quickjs-emscripten-core'
import releaseSync from '@jitl/quickjs-wasmfile-release-sync'
import { runFaultScenario } from './faults.mjs'
import { benchJobs } from './jobs.mjs'
import { benchMailbox } from './mailbox.mjs'
import { benchObserve } from './observe.mjs'
import { benchPeers } from './peers.mjs'

const require = createRequire(import.meta.url)
const wanted = process.argv.slice(2).filter((a) => !a.startsWith('-'))
const run = (name) => wanted.length === 0 || wanted.includes(name)
const results = []

function pct(sorted, p) {
  return sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * p) / 100))]
}
function fmt(n, digits = 1) {
  return Number(n).toLocaleString('en-US', { maximumFractionDigits: digits })
}
function report(section, figure, value, baseline, target) {
  const ratio = baseline ? value / baseline : undefined
  results.push({ section, figure, value, baseline, ratio, target })
  console.log(
    `  ${figure.padEnd(46)} ${fmt(value, 2).padStart(12)}` +
      (baseline !== undefined ? `   baseline ${fmt(baseline, 2).padStart(12)}   ratio ${fmt(ratio, 3)}` : '') +
      (target ? `   target ${target}` : ''),
  )
}

async function rawModule(mb = 64) {
  const wasmModule = new WebAssembly.Module(readFileSync(require.resolve('@jitl/quickjs-wasmfile-release-sync/wasm')))
  const wasmMemory = new WebAssembly.Memory({ initial: mb * 16, maximum: mb * 16 })
  return newQuickJSWASMModuleFromVariant(newVariant(releaseSync, { wasmModule, wasmMemory }))
}

const ECHO = `export function echo(input) { return input }`
const PAYLOAD = { id: 42, name: 'fnbox', tags: ['a', 'b', 'c'], nested: { ok: true, n: 3.14 } }

// (a) runtime.call of a JSON echo vs a raw quickjs-emscripten warm-context loop.
async function benchCall() {
  console.log('\n(a) runtime.call JSON echo vs raw QuickJS warm context (same JSON in/out)')
  const qjs = await rawModule()
  const rt = qjs.newRuntime()
  const ctx = rt.newContext()
  const fn = ctx.unwrapResult(
    ctx.evalCode(`(json) => JSON.stringify((${ECHO.replace('export ', '')})(JSON.parse(json)))`),
  )
  const argJson = JSON.stringify([PAYLOAD][0])
  const raw = () => {
    const arg = ctx.newString(argJson)
    const out = ctx.unwrapResult(ctx.callFunction(fn, ctx.undefined, arg))
    JSON.parse(ctx.getString(out))
    out.dispose()
    arg.dispose()
  }
  for (let i = 0; i < 5000; i++) raw()
  const n = 50_000
  let t = performance.now()
  for (let i = 0; i < n; i++) raw()
  const rawOps = n / ((performance.now() - t) / 1000)
  fn.dispose()
  ctx.dispose()
  rt.dispose()

  const runtime = await createRuntime({ pool: { max: 8 } })
  await runtime.deploy('echo', { code: ECHO })
  for (let i = 0; i < 2000; i++) await runtime.call('echo', 'echo', PAYLOAD)
  const lat = []
  for (let i = 0; i < 10_000; i++) {
    const s = performance.now()
    await runtime.call('echo', 'echo', PAYLOAD)
    lat.push((performance.now() - s) * 1000)
  }
  lat.sort((a, b) => a - b)
  const concurrency = 16
  const perWorker = 4000
  t = performance.now()
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      for (let i = 0; i < perWorker; i++) await runtime.call('echo', 'echo', PAYLOAD)
    }),
  )
  const ops = (concurrency * perWorker) / ((performance.now() - t) / 1000)
  await runtime.close()
  report('a', 'runtime.call throughput (ops/s, 16 concurrent)', ops, rawOps, '>= 0.5 of raw')

  // The cost of the reliability gate (breaker + shedding on by default, a quota added here):
  // the same load on a runtime with all of it off, runs interleaved to share the machine's noise.
  const gated = { on: [], off: [] }
  for (let round = 0; round < 2; round++) {
    for (const mode of ['off', 'on']) {
      const rt = await createRuntime(
        mode === 'off'
          ? { pool: { max: 8 }, breaker: false, shedding: false }
          : { pool: { max: 8 }, quota: { requestsPerSecond: 1e9, concurrency: 1e6, dailyExecutions: 1e12 } },
      )
      await rt.deploy('echo', { code: ECHO })
      for (let i = 0; i < 2000; i++) await rt.call('echo', 'echo', PAYLOAD)
      const start = performance.now()
      await Promise.all(
        Array.from({ length: concurrency }, async () => {
          for (let i = 0; i < 2000; i++) await rt.call('echo', 'echo', PAYLOAD)
        }),
      )
      gated[mode].push((concurrency * 2000) / ((performance.now() - start) / 1000))
      await rt.close()
    }
  }
  const best = (xs) => Math.max(...xs)
  report('a', 'runtime.call, breaker + quota + shedding on', best(gated.on), best(gated.off), '~1 (gate off)')
  report('a', 'runtime.call sequential p50 (us)', pct(lat, 50), undefined, '<= 50 us')
  report('a', 'runtime.call sequential p99 (us)', pct(lat, 99))
}

// (b) hello function mounted in Express vs a plain Express handler. The load comes from a second
// process (autocannon's CLI), so the load generator does not compete with the server's event loop.
function cannon(url, seconds) {
  const cli = require.resolve('autocannon/autocannon.js')
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      [cli, '-j', '-c', '32', '-d', String(seconds), url],
      { maxBuffer: 64 * 1024 * 1024 },
      (err, stdout) => (err ? reject(err) : resolve(JSON.parse(stdout))),
    )
  })
}
async function benchHttp() {
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
  const plain = await cannon(`${base}/plain`, 5)
  const fn = await cannon(`${base}/fn/hello`, 5)
  server.close()
  await runtime.close()
  if (fn.non2xx || fn.errors) console.log(`  (fnbox: ${fn.non2xx} non-2xx, ${fn.errors} errors)`)
  report('b', 'requests/s', fn.requests.average, plain.requests.average, '>= 0.7 of plain')
  report('b', 'latency p50 (ms)', fn.latency.p50, plain.latency.p50)
  report('b', 'latency p99 (ms)', fn.latency.p99, plain.latency.p99)
}

// (c) cold start: deploy to first response, for a tiny function and a ~500 KB bundle.
function bigBundle(targetBytes = 500 * 1024) {
  const parts = []
  let size = 0
  for (let i = 0; size < targetBytes; i++) {
    const part =
      `function helper${i}(input, options = {}) {\n` +
      `  const items = Array.isArray(input) ? input : [input]\n` +
      `  const out = items.map((item, index) => ({ index, value: String(item) + '${i}', size: options.size ?? ${i % 97} }))\n` +
      `  if (out.length > ${i % 13}) return out.slice(0, ${i % 13}).concat({ tail: out.length })\n` +
      `  return out.filter((x) => x.value.length % 2 === ${i % 2} || options.keepAll)\n` +
      `}\n` +
      `const table${i} = { id: ${i}, name: 'entry-${i}', flags: [${i % 3}, ${i % 5}, ${i % 7}], run: helper${i} }\n`
    parts.push(part)
    size += part.length
  }
  const count = parts.length
  parts.push(`const registry = [${Array.from({ length: count }, (_, i) => `table${i}`).join(',')}]\n`)
  parts.push(`export default { fetch: () => new Response(String(registry.length)) }\n`)
  return parts.join('')
}

async function benchCold() {
  console.log('\n(c) cold start: deploy() to first response (deploy creates the first instance)')
  const big = bigBundle()
  const tiny = `export default { fetch: () => new Response('hi') }`
  // Baseline: a fresh raw QuickJS module + runtime + context evaluating the same source.
  const rawCold = async (code) => {
    const s = performance.now()
    const qjs = await rawModule(128)
    const rt = qjs.newRuntime()
    const ctx = rt.newContext()
    ctx.unwrapResult(ctx.evalCode(code, 'f.js', { type: 'module' })).dispose()
    const ms = performance.now() - s
    ctx.dispose()
    rt.dispose()
    return ms
  }
  const runtime = await createRuntime()
  // blank: a thread has its blank engine ready (the usual case; the pause before each deploy,
  // outside the timed part, lets it refill). none: memoryMb differs from the runtime default, so
  // no blank fits and the deploy creates its module, runtime, context and prelude itself.
  const measure = async (label, code, reps, blank) => {
    const ours = []
    const base = []
    for (let i = 0; i < reps; i++) {
      await new Promise((r) => setTimeout(r, blank ? 150 : 20))
      const s = performance.now()
      await runtime.deploy(`cold${i}`, {
        code: code + `\n// ${label} ${i} ${Math.random()}`,
        limits: blank ? undefined : { memoryMb: 64 },
      })
      const res = await runtime.fetch(new Request(`http://x/cold${i}`))
      await res.text()
      ours.push(performance.now() - s)
      base.push(await rawCold(code + `\n// ${i}`))
      await runtime.undeploy(`cold${i}`)
    }
    ours.sort((a, b) => a - b)
    base.sort((a, b) => a - b)
    return [pct(ours, 50), pct(base, 50)]
  }
  const [tinyOurs, tinyBase] = await measure('tiny', tiny, 20, true)
  report('c', 'tiny function, blank ready: deploy -> 1st response p50 (ms)', tinyOurs, tinyBase, '<= 5 ms')
  const [tinyCold, tinyColdBase] = await measure('tiny', tiny, 20, false)
  report('c', 'tiny function, no blank: deploy -> 1st response p50 (ms)', tinyCold, tinyColdBase)
  const [bigOurs, bigBase] = await measure('big', big, 8, true)
  report('c', `${Math.round(big.length / 1024)} KB bundle, blank ready: deploy -> 1st response (ms)`, bigOurs, bigBase)
  await runtime.close()
}

// (i) cold start of the ~500 KB bundle restored from its snapshot vs evaluated from source. Both
// are a second instance, made on the other thread while the first is busy, in the same runtime.
// The source baseline is the same bundle plus one top-level Math.random() call, which makes it
// unsnapshottable (its instances must differ), so each of its cold starts evaluates the code.
async function benchSnapshot() {
  console.log('\n(i) cold start of a ~500 KB bundle: restored from its snapshot vs evaluated from source')
  const med = (xs) => {
    const sorted = xs.toSorted((a, b) => a - b)
    return pct(sorted, 50)
  }
  const sleep = (ms) => new Promise((r) => setTimeout(r, ms))
  const big = bigBundle() + `export async function hold(ms) { await new Promise((r) => setTimeout(r, ms)) }\n`
  const KB = Math.round(big.length / 1024)
  const REPS = Number(process.env.FNBOX_BENCH_SNAPSHOT_REPS ?? 8)
  const kinds = {
    snapshot: { code: big, wall: [], thread: [], deploy: [] },
    source: { code: big + `const seed = Math.random()\n`, wall: [], thread: [], deploy: [] },
  }

  // Where a cold start goes, on a raw QuickJS module (this thread).
  const parts = { module: [], runtime: [], context: [], evaluate: [] }
  for (let i = 0; i < 5; i++) {
    let t = performance.now()
    const qjs = await rawModule(128)
    parts.module.push(performance.now() - t)
    t = performance.now()
    const rt = qjs.newRuntime()
    parts.runtime.push(performance.now() - t)
    t = performance.now()
    const ctx = rt.newContext()
    parts.context.push(performance.now() - t)
    t = performance.now()
    ctx.unwrapResult(ctx.evalCode(big + `// ${i}`, 'f.js', { type: 'module' })).dispose()
    parts.evaluate.push(performance.now() - t)
    ctx.dispose()
    rt.dispose()
  }
  for (const [part, xs] of Object.entries(parts)) report('i', `raw QuickJS: ${part} (ms)`, med(xs))

  const runtime = await createRuntime({ threads: 2 })
  const snapshots = []
  const creates = []
  runtime.on('snapshot', (e) => snapshots.push(e))
  runtime.on('instance:create', (e) => creates.push(e))
  const idle = async (name, n) => {
    while (runtime.stats().functions[name].idle < n) await sleep(5)
  }

  // Memory of one more warm instance: a restored one has a module of its own; evaluated ones share
  // their module (pool.instancesPerModule, 16). Measured first, before other modules are garbage.
  const N = 6
  const rss = {}
  for (const [kind, k] of Object.entries(kinds)) {
    const name = `mem-${kind}`
    await runtime.deploy(name, { code: k.code, pool: { max: N + 1, idleTimeoutMs: 600_000 } })
    await idle(name, 1)
    await sleep(300)
    const before = process.memoryUsage().rss
    await Promise.all(Array.from({ length: N + 1 }, () => runtime.call(name, 'hold', 300)))
    await sleep(300)
    rss[kind] = (process.memoryUsage().rss - before) / N / 1024 / 1024
  }

  for (let i = 0; i < REPS; i++) {
    for (const [kind, k] of Object.entries(kinds)) {
      const name = `${kind}${i}`
      await sleep(200) // blank engines refill
      let t = performance.now()
      await runtime.deploy(name, { code: k.code + `// ${i} ${Math.random()}`, pool: { max: 2 } })
      await (await runtime.fetch(new Request(`http://x/${name}`))).text()
      k.deploy.push(performance.now() - t)
      // The first instance is busy: the next request needs a new one (on the other thread).
      await idle(name, 1)
      const busy = runtime.call(name, 'hold', 500)
      await sleep(20)
      t = performance.now()
      await (await runtime.fetch(new Request(`http://x/${name}`))).text()
      k.wall.push(performance.now() - t)
      const made = creates.filter((c) => c.function === name)
      if (made.length !== 1 || made[0].restored !== (kind === 'snapshot')) {
        throw new Error(`${name}: expected one ${kind} cold start, got ${JSON.stringify(made)}`)
      }
      k.thread.push(made[0].ms)
      await busy
      await runtime.undeploy(name)
    }
  }
  const snap = snapshots.filter((e) => /^snapshot\d/.test(e.function))
  const { snapshot: s, source: f } = kinds
  report('i', `${KB} KB: deploy -> 1st response (ms)`, med(s.deploy), med(f.deploy))
  report('i', `${KB} KB: evaluate in deploy (ms)`, med(snap.map((e) => e.evaluateMs)))
  report('i', `${KB} KB: take snapshot in deploy (ms)`, med(snap.map((e) => e.takeMs)))
  report('i', `${KB} KB: new instance, thread time (ms)`, med(s.thread), med(f.thread), '<= 0.2 of source')
  report('i', `${KB} KB: request needing a new instance (ms)`, med(s.wall), med(f.wall), '<= 0.2 of source')
  report('i', `${KB} KB: snapshot kept per version (MB)`, med(snap.map((e) => e.bytes)) / 1024 / 1024)
  report('i', `${KB} KB: RSS of one more warm instance (MB)`, rss.snapshot, rss.source)
  await runtime.close()
}

// (d) RSS per warm idle instance: 1,000 warm instances of one function.
async function benchRss() {
  console.log('\n(d) RSS of 1,000 warm idle instances of one function')
  global.gc?.()
  const runtime = await createRuntime({ limits: { memoryMb: 16 } })
  await runtime.deploy('noop', { code: `export default { fetch: () => new Response('ok') }` })
  global.gc?.()
  await new Promise((r) => setTimeout(r, 200))
  const before = process.memoryUsage().rss
  const N = 1000
  await runtime.deploy('idle', {
    code: `export default { fetch: () => new Response('ok') }`,
    limits: { memoryMb: 16 },
    pool: { min: N, max: N, idleTimeoutMs: 600_000 },
  })
  const t = performance.now()
  while (runtime.stats().functions.idle.idle < N && performance.now() - t < 120_000) {
    await new Promise((r) => setTimeout(r, 100))
  }
  await new Promise((r) => setTimeout(r, 500))
  const after = process.memoryUsage().rss
  const count = runtime.stats().functions.idle.instances
  const mb = (after - before) / 1024 / 1024
  report('d', `RSS of ${count} warm instances (MB)`, mb, 256, '<= 256 MB')
  report('d', 'RSS per warm instance (KB)', (after - before) / count / 1024)
  report('d', 'time to create them (ms)', performance.now() - t)
  await runtime.close()
}

// (e) guest kv.get / kv.set through the whole stack (guest -> executor thread -> host -> store and
// back), per backend, against the host API calling the same store at the same concurrency.
async function benchKv() {
  console.log('\n(e) guest kv.get / kv.set ops/s through the whole stack vs the host API on the same store')
  const { mkdtemp, rm } = await import('node:fs/promises')
  const { tmpdir } = await import('node:os')
  const { join } = await import('node:path')
  const dir = await mkdtemp(join(tmpdir(), 'fnbox-bench-'))
  const server = await benchDatabase()
  const backends = [
    ['memory', 'memory'],
    ['PGlite', { pglite: join(dir, 'pglite') }],
    ['server Postgres', server ? { postgres: server.url } : undefined],
  ]
  const CONCURRENCY = 16
  const PER_CALL = 200
  for (const [name, storage] of backends) {
    if (!storage) {
      console.log(`  ${name}: skipped (no server)`)
      continue
    }
    let runtime
    try {
      runtime = await createRuntime({ storage, files: 'memory' })
      await runtime.kv.scope('bench').set('hot', { n: 1, text: 'hello' })
    } catch (err) {
      console.log(`  ${name}: skipped (${err.message})`)
      await runtime?.close()
      continue
    }
    await runtime.deploy('kvbench', {
      scope: 'bench',
      code: `import { kv } from 'fnbox:host'
        export async function gets(n) { for (let i = 0; i < n; i++) await kv.get('hot') }
        export async function once(n, w, round) { for (let i = 0; i < n; i++) await kv.get('once:' + round + ':' + w + ':' + i) }
        export async function sets(n, w) { for (let i = 0; i < n; i++) await kv.set('w' + w + ':' + (i % 50), { i }) }`,
      pool: { min: CONCURRENCY },
    })
    const host = runtime.kv.scope('bench')
    // get: one hot key (on PGlite a read cache answers it); get once: every key read once (from
    // the database on every backend); set: 50 keys per caller, overwritten.
    let round = 0
    for (const op of ['get', 'get once', 'set']) {
      const exportName = { get: 'gets', 'get once': 'once', set: 'sets' }[op]
      const guest = async () => {
        const t = performance.now()
        round++
        await Promise.all(
          Array.from({ length: CONCURRENCY }, (_, w) => runtime.call('kvbench', exportName, PER_CALL, w, round)),
        )
        return (CONCURRENCY * PER_CALL * 1000) / (performance.now() - t)
      }
      const direct = async () => {
        const t = performance.now()
        round++
        await Promise.all(
          Array.from({ length: CONCURRENCY }, async (_, w) => {
            for (let i = 0; i < PER_CALL; i++) {
              if (op === 'get') await host.get('hot')
              else if (op === 'get once') await host.get('once:' + round + ':' + w + ':' + i)
              else await host.set('w' + w + ':' + (i % 50), { i })
            }
          }),
        )
        return (CONCURRENCY * PER_CALL * 1000) / (performance.now() - t)
      }
      await guest() // warm-up
      await direct()
      const g = Math.max(await guest(), await guest())
      const d = Math.max(await direct(), await direct())
      report(
        'e',
        `${name}: guest kv.${op} ops/s`,
        g,
        d,
        name === 'PGlite' && op === 'get' ? '>= 5,000 ops/s' : undefined,
      )
    }
    await runtime.close()
  }
  await rm(dir, { recursive: true, force: true })
  await server?.drop()
}

/**
 * A database of the bench's own on server Postgres (`FNBOX_BENCH_PG`: the server, default
 * 127.0.0.1:5432), dropped at the end: never rows in a database someone else uses.
 */
async function benchDatabase() {
  const pg = (await import('pg')).default
  const base = process.env.FNBOX_BENCH_PG ?? 'postgres://postgres@127.0.0.1:5432'
  const name = `fnbox_bench_${process.pid}`
  const admin = async (sql) => {
    const client = new pg.Client({ connectionString: `${base}/postgres` })
    await client.connect()
    try {
      await client.query(sql)
    } finally {
      await client.end()
    }
  }
  try {
    await admin(`create database ${name}`)
  } catch (err) {
    console.log(`  server Postgres unavailable (${err.message})`)
    return undefined
  }
  return { url: `${base}/${name}`, drop: () => admin(`drop database if exists ${name} with (force)`) }
}

// (e2) What durability costs on the default storage: a kv.set through the host API on PGlite,
// its table logged (today: the write-ahead log is written at each commit, so the set survives a
// crash of the host) vs UNLOGGED (before: a crash emptied the table); and files.write, fsynced
// (file and folder) vs the same temp-file-and-rename without fsync.
async function benchDurability() {
  console.log('\n(e2) durability: kv.set on PGlite logged vs UNLOGGED (before), files.write fsynced vs not')
  const { mkdtemp, rm, writeFile, rename, mkdir } = await import('node:fs/promises')
  const { tmpdir } = await import('node:os')
  const { join } = await import('node:path')
  const { PGlite } = await import('@electric-sql/pglite')
  const dir = await mkdtemp(join(tmpdir(), 'fnbox-bench-durable-'))
  const SETS = 2000
  const CONCURRENCY = 16
  const open = async (folder) => {
    const runtime = await createRuntime({ threads: 1, storage: { pglite: folder }, files: join(dir, 'files') })
    const kv = runtime.kv.scope('bench')
    await kv.set('warm', 1)
    const one = async (n) => {
      const t = performance.now()
      for (let i = 0; i < n; i++) await kv.set('k' + (i % 100), { i, text: 'durable?' })
      return (performance.now() - t) / n
    }
    const many = async () => {
      const t = performance.now()
      await Promise.all(
        Array.from({ length: CONCURRENCY }, async (_, w) => {
          for (let i = 0; i < SETS / CONCURRENCY; i++) await kv.set(`w${w}:${i % 50}`, { i })
        }),
      )
      return (SETS * 1000) / (performance.now() - t)
    }
    await one(200) // warm-up
    return { runtime, one, many, latency: Infinity, throughput: 0 }
  }
  const logged = join(dir, 'logged')
  const unlogged = join(dir, 'unlogged')
  // The UNLOGGED baseline: the same schema, its kv table switched back as releases before 0011 made it.
  const schema = await createRuntime({ threads: 1, storage: { pglite: unlogged }, files: 'memory' })
  await schema.kv.get('migrate')
  await schema.close()
  const db = await PGlite.create(unlogged)
  await db.exec('alter table fnbox_kv set unlogged')
  await db.close()
  const before = await open(unlogged)
  const now = await open(logged)
  // Taking turns, best of three each: a busy machine slows both alike.
  for (let round = 0; round < 3; round++) {
    for (const side of [before, now]) {
      side.latency = Math.min(side.latency, await side.one(SETS / 4))
      side.throughput = Math.max(side.throughput, await side.many())
    }
  }
  report('e2', 'PGlite kv.set, one writer (ms per set)', now.latency, before.latency)
  report('e2', `PGlite kv.set, ${CONCURRENCY} writers (sets/s)`, now.throughput, before.throughput)
  const files = now.runtime.files.scope('bench')
  await before.runtime.close()
  // Files: the store's fsynced write vs the unsynced temp file and rename it did before.
  const plain = join(dir, 'plain')
  await mkdir(join(plain, 'f'), { recursive: true })
  const data = new Uint8Array(4096).fill(7)
  const synced = async () => {
    const t = performance.now()
    for (let i = 0; i < 100; i++) await files.write(`f/${i % 20}.bin`, data)
    return (performance.now() - t) / 100
  }
  const unsynced = async () => {
    const t = performance.now()
    for (let i = 0; i < 100; i++) {
      await writeFile(join(plain, `tmp${i}`), data)
      await rename(join(plain, `tmp${i}`), join(plain, 'f', `${i % 20}.bin`))
    }
    return (performance.now() - t) / 100
  }
  let fileNow = Infinity
  let fileBefore = Infinity
  for (let round = 0; round < 3; round++) {
    fileBefore = Math.min(fileBefore, await unsynced())
    fileNow = Math.min(fileNow, await synced())
  }
  report('e2', 'files.write 4 KiB, fsynced (ms per write)', fileNow, fileBefore)
  await now.runtime.close()
  await rm(dir, { recursive: true, force: true })
}

// (e3) A fresh database's first start (createRuntime, first kv.get: open, migrate, answer) on
// PGlite in memory, from the template of a fresh cluster (node_modules/.cache/fnbox) vs running
// initdb as before (the template moved away for that start; taking turns, best of three each).
async function benchFirstStart() {
  console.log('\n(e3) a fresh PGlite database to its first answer: from the cached template vs initdb')
  const { readdir, rename } = await import('node:fs/promises')
  const { join, dirname } = await import('node:path')
  const cache = join(dirname(require.resolve('@electric-sql/pglite')), '..', '..', '..', '.cache', 'fnbox')
  const start = async () => {
    const t = performance.now()
    const runtime = await createRuntime({ threads: 1, storage: { pglite: 'memory://' }, files: 'memory' })
    await runtime.kv.get('first')
    const ms = performance.now() - t
    await runtime.close()
    return ms
  }
  await start() // makes the template if there is none yet
  const templates = (await readdir(cache).catch(() => [])).filter((f) => f.endsWith('.tar'))
  if (templates.length === 0) {
    console.log('  skipped (no template: node_modules/.cache is not writable)')
    return
  }
  const template = join(cache, templates[0])
  let withTemplate = Infinity
  let withInitdb = Infinity
  for (let round = 0; round < 3; round++) {
    withTemplate = Math.min(withTemplate, await start())
    await rename(template, `${template}.away`)
    try {
      withInitdb = Math.min(withInitdb, await start())
    } finally {
      await rename(`${template}.away`, template) // over the one that start wrote
    }
  }
  report('e3', 'fresh PGlite to first kv.get (ms)', withTemplate, withInitdb)
}

// (f) vector top-10 on N x 384 clustered vectors (FNBOX_BENCH_VECTORS, default 50,000): p50/p99
// and recall against a brute force computed here, on PGlite in-process and through pg (PGlite
// served by pglite-socket: the local server has no pgvector).
async function benchVector() {
  const N = Number(process.env.FNBOX_BENCH_VECTORS ?? 50_000)
  const DIM = 384
  console.log(`\n(f) vector top-10 on ${N.toLocaleString('en-US')} x ${DIM} clustered vectors, recall vs brute force`)
  let seed = 42
  const rand = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31) * 2 - 1
  const unit = (v) => {
    const n = Math.hypot(...v)
    return v.map((x) => x / n)
  }
  const centres = Array.from({ length: 200 }, () => Array.from({ length: DIM }, rand))
  const near = (c) => unit(c.map((x) => x + rand() * 0.6))
  const items = Array.from({ length: N }, (_, i) => ({
    id: `v${i}`,
    values: near(centres[i % centres.length]).map((x) => Math.fround(x)),
    metadata: { group: i % 8, doc: i % 500 },
  }))
  const queries = Array.from({ length: 100 }, (_, i) => near(centres[(i * 7) % centres.length]))
  const dot = (a, b) => a.reduce((s, x, i) => s + x * b[i], 0)
  // The exact top-10 (ids), and every matching item's score, in doubles.
  const brute = (q, filter) => {
    const scored = items
      .filter((it) => !filter || Object.entries(filter).every(([k, v]) => it.metadata[k] === v))
      .map((it) => [it.id, dot(q, it.values)])
      .sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1))
    return { ids: scored.slice(0, 10).map(([id]) => id), scores: new Map(scored) }
  }
  // pgvector sums in single precision: two items whose exact scores are within ~1e-6 may come in
  // either order. The same items, in order up to such ties, is the exact result.
  const sameResult = (got, want) =>
    got.length === want.ids.length &&
    got.every((id, i) => id === want.ids[i] || Math.abs(want.scores.get(id) - want.scores.get(want.ids[i])) < 1e-6)
  const { PGlite } = await import('@electric-sql/pglite')
  const { vector } = await import('@electric-sql/pglite-pgvector')
  const { PGLiteSocketServer } = await import('@electric-sql/pglite-socket')
  const pgMod = await import('pg')
  const served = await PGlite.create({ extensions: { vector } })
  const server = new PGLiteSocketServer({ db: served, port: 0, host: '127.0.0.1' })
  await server.start()
  const port = Number(server.getServerConn().split(':').at(-1))
  const pool = new pgMod.default.Pool({ host: '127.0.0.1', port, user: 'postgres', database: 'postgres', max: 1 })
  const backends = [
    ['PGlite', { pglite: 'memory://' }],
    ['pg driver (pglite-socket)', { postgres: pool }],
  ]
  for (const [name, storage] of backends) {
    const runtime = await createRuntime({ threads: 1, storage, files: 'memory' })
    const t = performance.now()
    await runtime.vector.createIndex('bench', { dimensions: DIM, metric: 'cosine' })
    for (let i = 0; i < N; i += 500) await runtime.vector.upsert('bench', items.slice(i, i + 500))
    report('f', `${name}: load + HNSW build (s)`, (performance.now() - t) / 1000)
    // Unfiltered (HNSW), a filter matching 1/8 of the rows and one matching 1/500 (both exact).
    for (const [label, filterOf] of [
      ['unfiltered', () => undefined],
      ['filtered (1/8)', (i) => ({ group: i % 8 })],
      ['filtered (1/500)', (i) => ({ doc: (i * 37) % 500 })],
    ]) {
      const filtered = label !== 'unfiltered'
      const times = []
      let hits = 0
      let exact = 0
      for (const [i, q] of queries.entries()) {
        const filter = filterOf(i)
        const s0 = performance.now()
        const res = await runtime.vector.query('bench', { vector: q, topK: 10, filter })
        times.push(performance.now() - s0)
        const want = brute(q, filter)
        const got = res.map((m) => m.id)
        hits += got.filter((id) => want.ids.includes(id)).length
        if (sameResult(got, want)) exact++
      }
      times.sort((a, b) => a - b)
      report('f', `${name}: ${label} p50 (ms)`, pct(times, 50), undefined, '<= 20 ms')
      report('f', `${name}: ${label} p99 (ms)`, pct(times, 99))
      report(
        'f',
        `${name}: ${label} recall@10`,
        hits / (queries.length * 10),
        undefined,
        filtered ? '= 1 (exact)' : '>= 0.95',
      )
      if (filtered)
        report('f', `${name}: ${label} results equal to brute force`, exact / queries.length, undefined, '= 1')
    }
    await runtime.close()
  }
  await pool.end()
  await server.stop()
  await served.close()
}

// (g) Guests against a faulty upstream (one key down, slow, 429 bursts, flapping; the other key
// healthy): success rate with fnbox's egress policies vs the guest on its own (see faults.mjs).
async function benchFaults() {
  console.log('\n(g) guest success rate against a faulty upstream with one healthy key (800 requests at 100/s)')
  const without = await runFaultScenario({ policies: false, requests: 800 })
  const withPolicies = await runFaultScenario({ policies: true, requests: 800 })
  report('g', 'success rate with policies (%)', withPolicies.successRate * 100, without.successRate * 100, '>= 99')
  console.log(`    upstream faults met without policies: ${JSON.stringify(without.upstream)}`)
  console.log(
    `    with policies: ${JSON.stringify(withPolicies.upstream)}, failovers ${withPolicies.stats.failovers}, retries ${withPolicies.stats.retries}, guest failures ${JSON.stringify(withPolicies.failures)}`,
  )
}

// (h) a streamed chat completion: time to first byte and total time at an HTTP client, through
// Express + fnbox (the examples/ai-chat functions, bundled from TypeScript) against the same SDK code
// bundled for Node and called from a plain Express handler; the same local mock server answers both.
async function benchStream() {
  console.log(
    '\n(h) streamed completion (examples/ai-chat) via Express: fnbox vs the same SDK code run directly in Node',
  )
  const esbuild = await import('esbuild')
  const { startMockOpenAI } = await import('../examples/ai-chat/mock-openai.mjs')
  const { mkdtemp, writeFile, rm } = await import('node:fs/promises')
  const { tmpdir } = await import('node:os')
  const { join } = await import('node:path')
  const TOKENS = Array.from({ length: 16 }, (_, i) => ` token${i}`)
  const DELAY = 2
  const mock = await startMockOpenAI({ tokens: TOKENS, delayMs: DELAY })
  const secrets = { OPENAI_API_KEY: 'sk-bench', OPENAI_BASE_URL: mock.url }
  const dir = await mkdtemp(join(tmpdir(), 'fnbox-bench-'))
  const runtime = await createRuntime({
    storage: 'memory',
    secrets: { key: 'ab'.repeat(32) },
    allowedHosts: [mock.host],
  })
  for (const [k, v] of Object.entries(secrets)) await runtime.secrets.set(k, v)
  const app = express()
  app.use('/fn', runtime.express())
  const nodeFns = {}
  app.post('/node/:name', async (req, res) => {
    const response = await nodeFns[req.params.name].fetch(
      new Request(`http://local${req.url}`, { method: 'POST', body: req, duplex: 'half', headers: req.headers }),
    )
    res.writeHead(response.status, Object.fromEntries(response.headers))
    for await (const chunk of response.body) res.write(chunk)
    res.end()
  })
  const server = app.listen(0, '127.0.0.1')
  await new Promise((r) => server.once('listening', r))
  const base = `http://127.0.0.1:${server.address().port}`
  const once = async (url) => {
    const s = performance.now()
    const res = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"prompt":"hi"}',
    })
    const reader = res.body.getReader()
    let ttfb
    let text = ''
    const decoder = new TextDecoder()
    for (;;) {
      const { done, value } = await reader.read()
      if (done) break
      ttfb ??= performance.now() - s
      text += decoder.decode(value, { stream: true })
    }
    if (text !== TOKENS.join('')) throw new Error(`bad answer from ${url}: ${text.slice(0, 80)}`)
    return [ttfb, performance.now() - s]
  }
  // Node and fnbox requests alternate, so drift on the machine (other work, CPU frequency) falls
  // on both alike; the added time is the median of the per-pair differences.
  const paired = async (nodeUrl, fnUrl, n) => {
    for (let i = 0; i < 10; i++) {
      await once(nodeUrl)
      await once(fnUrl)
    }
    const rows = { node: { ttfb: [], total: [] }, fn: { ttfb: [], total: [] } }
    const added = []
    for (let i = 0; i < n; i++) {
      const first = i % 2 ? 'fn' : 'node'
      const out = {}
      for (const side of first === 'fn' ? ['fn', 'node'] : ['node', 'fn']) {
        out[side] = await once(side === 'fn' ? fnUrl : nodeUrl)
        rows[side].ttfb.push(out[side][0])
        rows[side].total.push(out[side][1])
      }
      added.push(out.fn[0] - out.node[0])
    }
    const p50 = (a) =>
      pct(
        a.slice().sort((x, y) => x - y),
        50,
      )
    return {
      node: { ttfb: p50(rows.node.ttfb), total: p50(rows.node.total) },
      ours: { ttfb: p50(rows.fn.ttfb), total: p50(rows.fn.total) },
      added: p50(added),
    }
  }
  for (const [name, file] of [
    ['openai', 'openai-chat.ts'],
    ['aisdk', 'ai-sdk-chat.ts'],
  ]) {
    const entry = new URL(`../examples/ai-chat/functions/${file}`, import.meta.url).pathname
    await runtime.deploy(name, {
      entry,
      bundle: { minify: true },
      secrets: Object.keys(secrets),
      pool: { min: 1, max: 1 },
    })
    // The same entry for Node, with fnbox:host's secrets served from the map above.
    const built = await esbuild.build({
      entryPoints: [entry],
      bundle: true,
      write: false,
      format: 'esm',
      platform: 'node',
      banner: { js: "import { createRequire } from 'node:module'; const require = createRequire(import.meta.url);" },
      plugins: [
        {
          name: 'host',
          setup(b) {
            b.onResolve({ filter: /^fnbox:host$/ }, () => ({ path: 'host', namespace: 'host' }))
            b.onLoad({ filter: /.*/, namespace: 'host' }, () => ({
              contents: `const values = ${JSON.stringify(secrets)}; export const secrets = { get: (n) => values[n] }`,
            }))
          },
        },
      ],
    })
    const file2 = join(dir, `${name}.mjs`)
    await writeFile(file2, built.outputFiles[0].text)
    nodeFns[name] = (await import(file2)).default
    const { node, ours, added } = await paired(`${base}/node/${name}`, `${base}/fn/${name}`, 60)
    const label = name === 'openai' ? 'OpenAI SDK' : 'AI SDK streamText'
    report('h', `${label}: time to first byte p50 (ms)`, ours.ttfb, node.ttfb)
    report('h', `${label}: TTFB added by fnbox, median of paired requests (ms)`, added, undefined, '<= 5 ms')
    report('h', `${label}: total time p50 (ms)`, ours.total, node.total)
  }
  server.close()
  await runtime.close()
  await mock.close()
  await rm(dir, { recursive: true, force: true })
}

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

async function benchStreams() {
  console.log("\n(i) the guest's web streams: µs per chunk inside the guest (baseline: one await per chunk)")
  const runtime = await createRuntime({ pool: { max: 1 } })
  // A case that fails (main's BYOB reads spin forever) is cut off by the time limit and reported as such.
  await runtime.deploy('streams', { code: STREAMS_MICRO, limits: { timeoutMs: 5000 } })
  const median = (xs) => xs.slice().sort((a, b) => a - b)[Math.floor(xs.length / 2)]
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

// (j) burst: 0 -> 500 concurrent requests on a function with pool.max 8. Every request must end
// served (200) or refused with 503 + Retry-After, none lost; how long the pool takes to reach
// max, and to get back to min once idle. Baseline: the same burst on a pool pre-warmed at max.
async function benchBurst() {
  console.log('\n(j) burst: 0 -> 500 concurrent requests, pool.max 8, maxQueue 200 (autoscaled vs pre-warmed at max)')
  const N = 500
  const IDLE_MS = 2000
  const INTERVAL_MS = 100
  const code = `export default { async fetch() { await new Promise((r) => setTimeout(r, 20)); return new Response('ok') } }`
  const runtime = await createRuntime({ pool: { scaleIntervalMs: INTERVAL_MS } })
  const scale = []
  runtime.on('pool:scale', (e) => scale.push({ ...e, at: performance.now() }))
  const burst = async (name, pool) => {
    const d0 = performance.now()
    await runtime.deploy(name, {
      code: `${code}\n// ${name}`,
      pool: { max: 8, maxQueue: 200, idleTimeoutMs: IDLE_MS, ...pool },
    })
    while (runtime.stats().functions[name].instances < (pool.min ?? 1) && performance.now() - d0 < 10_000) {
      await new Promise((r) => setTimeout(r, 1))
    }
    const fillMs = performance.now() - d0
    await new Promise((r) => setTimeout(r, 300)) // blank engines refilled, the pool at rest
    const t0 = performance.now()
    let unsettled = N
    const outcomes = await Promise.race([
      Promise.all(
        Array.from({ length: N }, async () => {
          const s0 = performance.now()
          try {
            const res = await runtime.fetch(new Request(`http://x/${name}`))
            await res.text()
            return { status: res.status, retryAfter: res.headers.get('retry-after'), ms: performance.now() - s0 }
          } catch {
            return { status: 'threw' }
          } finally {
            unsettled--
          }
        }),
      ),
      new Promise((r) => setTimeout(() => r(null), 60_000)),
    ])
    const end = performance.now()
    const served = outcomes?.filter((o) => o.status === 200) ?? []
    const refused = outcomes?.filter((o) => o.status === 503 && /^[1-9]\d*$/.test(o.retryAfter ?? '')) ?? []
    const other = (outcomes?.length ?? 0) - served.length - refused.length
    const atMax = scale.find((e) => e.function === name && e.at >= t0 && e.to === 8)
    const lat = served.map((o) => o.ms).sort((a, b) => a - b)
    return { served: served.length, refused: refused.length, other, lost: unsettled, t0, end, atMax, lat, fillMs }
  }
  const auto = await burst('burst', { min: 0 })
  const fixed = await burst('fixedburst', { min: 8 })
  report('j', 'autoscaled: served (200)', auto.served, N)
  report('j', 'autoscaled: refused 503 + Retry-After', auto.refused, N)
  report('j', 'autoscaled: lost or other answers', auto.lost + auto.other, undefined, '= 0')
  report('j', 'pre-warmed: served (200)', fixed.served, N)
  report('j', 'pre-warmed: lost or other answers', fixed.lost + fixed.other, undefined, '= 0')
  // Baseline: deploying the pre-warmed pool, i.e. making the same 8 instances with no traffic.
  report('j', 'time to reach max 8 under the burst (ms)', auto.atMax ? auto.atMax.at - auto.t0 : NaN, fixed.fillMs)
  report('j', 'burst answered in (ms): autoscaled vs pre-warmed', auto.end - auto.t0, fixed.end - fixed.t0)
  report('j', 'served latency p50 (ms)', pct(auto.lat, 50), pct(fixed.lat, 50))
  report('j', 'served latency p99 (ms)', pct(auto.lat, 99), pct(fixed.lat, 99))
  // Back to min: from the last answer until the pool is at 0 again (idleTimeoutMs 2 s).
  const deadline = performance.now() + IDLE_MS * 5
  while (runtime.stats().functions.burst.instances > 0 && performance.now() < deadline) {
    await new Promise((r) => setTimeout(r, 10))
  }
  const atMin = scale.find((e) => e.function === 'burst' && e.at >= auto.end && e.to === 0)
  report(
    'g',
    'time back to min 0 after the burst (ms)',
    atMin ? atMin.at - auto.end : NaN,
    IDLE_MS,
    `idleTimeoutMs + <= ${INTERVAL_MS} ms`,
  )
  await runtime.close()
}

// (k) 50 functions under Zipf-distributed traffic (s = 1.1), 64 closed-loop callers: autoscaled
// pools (min 0, max 16) vs a fixed pool of 16 per function. Each runs in its own process, so its
// RSS at the end is its own.
const ZIPF = { functions: 50, callers: 64, warmupS: 3, runS: 10, s: 1.1, fixed: 16 }

async function zipfChild(mode) {
  const fixed = mode === 'fixed'
  // 'floor': the same callers on ONE function with one instance per caller: what the process,
  // its threads and the traffic cost whatever the pools hold.
  const floor = mode === 'floor'
  const functions = floor ? 1 : ZIPF.functions
  const runtime = await createRuntime({ limits: { memoryMb: 32 } })
  // 'auto': the defaults (idleTimeoutMs 60 s, longer than the run); 'auto-idle5': 5 s, so the
  // surplus made for spikes during the warm-up has gone by the end.
  const pool = floor
    ? { min: ZIPF.callers, max: ZIPF.callers }
    : fixed
      ? { min: ZIPF.fixed, max: ZIPF.fixed }
      : { min: 0, max: ZIPF.fixed, ...(mode === 'auto-idle5' ? { idleTimeoutMs: 5000 } : {}) }
  for (let i = 0; i < functions; i++) {
    await runtime.deploy(`f${i}`, {
      code: `export async function run(n) {
        let x = 0
        for (let i = 0; i < n; i++) x += (i * ${i + 1}) % 7
        await new Promise((r) => setTimeout(r, 5)) // an upstream call
        return x
      }`,
      pool,
    })
  }
  const want = floor ? ZIPF.callers : fixed ? ZIPF.functions * ZIPF.fixed : ZIPF.functions
  const t = Date.now()
  const total = () => Object.values(runtime.stats().functions).reduce((n, f) => n + f.instances, 0)
  while (total() < want && Date.now() - t < 120_000) await new Promise((r) => setTimeout(r, 50))
  global.gc?.()
  await new Promise((r) => setTimeout(r, 500))
  const rssBeforeMb = process.memoryUsage().rss / 1024 / 1024
  const weights = Array.from({ length: ZIPF.functions }, (_, k) => 1 / (k + 1) ** ZIPF.s)
  const sum = weights.reduce((a, b) => a + b)
  const cumulative = []
  weights.reduce((acc, w, k) => (cumulative[k] = acc + w / sum), 0)
  let seed = 7
  const rand = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31
  const pick = () => {
    if (floor) return 0
    const r = rand()
    const k = cumulative.findIndex((c) => c >= r)
    return k < 0 ? ZIPF.functions - 1 : k
  }
  const lat = []
  let done = 0
  let errors = 0
  let recording = false
  let stop = false
  const caller = async () => {
    while (!stop) {
      const s0 = performance.now()
      try {
        await runtime.call(`f${pick()}`, 'run', 200)
        if (recording) {
          lat.push(performance.now() - s0)
          done++
        }
      } catch {
        if (recording) errors++
      }
    }
  }
  const callers = Array.from({ length: ZIPF.callers }, caller)
  await new Promise((r) => setTimeout(r, ZIPF.warmupS * 1000))
  const coldStarts = () => Object.values(runtime.stats().functions).reduce((n, f) => n + f.coldStarts, 0)
  const coldBefore = coldStarts()
  recording = true
  const t0 = performance.now()
  await new Promise((r) => setTimeout(r, ZIPF.runS * 1000))
  recording = false
  const created = coldStarts() - coldBefore
  const seconds = (performance.now() - t0) / 1000
  stop = true
  await Promise.all(callers)
  global.gc?.()
  await new Promise((r) => setTimeout(r, 500))
  lat.sort((a, b) => a - b)
  const stats = runtime.stats()
  const out = {
    throughput: done / seconds,
    p50: pct(lat, 50),
    p99: pct(lat, 99),
    errors,
    rssMb: process.memoryUsage().rss / 1024 / 1024,
    rssBeforeMb,
    created,
    instances: total(),
    modules: stats.pool.memoryMb / 32 - stats.pool.blankEngines,
  }
  await runtime.close()
  console.log(JSON.stringify(out))
}

function zipfRun(mode) {
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      ['--expose-gc', new URL(import.meta.url).pathname, `--zipf-child=${mode}`],
      { maxBuffer: 16 * 1024 * 1024, timeout: 300_000 },
      (err, stdout) => (err ? reject(err) : resolve(JSON.parse(stdout.trim().split('\n').at(-1)))),
    )
  })
}

async function benchZipf() {
  const { functions, callers, s, fixed } = ZIPF
  console.log(
    `\n(k) ${functions} functions, Zipf traffic (s = ${s}), ${callers} callers: autoscaled (min 0, max ${fixed}) vs fixed pools of ${fixed}`,
  )
  // The machine's noise (other work on 2 cores) is larger than the difference: alternate the
  // modes over several runs (FNBOX_BENCH_ZIPF_RUNS, default 5) and compare medians.
  const runs = Number(process.env.FNBOX_BENCH_ZIPF_RUNS ?? 5)
  const all = { fixed: [], auto: [] }
  for (let i = 0; i < runs; i++) for (const mode of ['fixed', 'auto']) all[mode].push(await zipfRun(mode))
  const idle5 = await zipfRun('auto-idle5')
  const floor = await zipfRun('floor')
  const median = (mode, key) => all[mode].map((r) => r[key]).sort((a, b) => a - b)[Math.floor(runs / 2)]
  const m = (key) => [median('auto', key), median('fixed', key)]
  console.log(
    `  throughput per run: autoscaled ${all.auto.map((r) => fmt(r.throughput, 0)).join(', ')}; fixed ${all.fixed.map((r) => fmt(r.throughput, 0)).join(', ')}`,
  )
  report('k', `throughput (calls/s), median of ${runs}: autoscaled vs fixed`, ...m('throughput'), '>= 1')
  report('k', 'latency p50 (ms)', ...m('p50'))
  report('k', 'latency p99 (ms)', ...m('p99'))
  report('k', 'RSS at the end (MB)', ...m('rssMb'), '<= 0.5')
  report('k', 'RSS at rest after deploy, before traffic (MB)', ...m('rssBeforeMb'))
  // The floor's own 64 instances (4 modules) count in it: this slightly understates both.
  report(
    'h',
    `RSS above the floor (${fmt(floor.rssMb, 0)} MB: same traffic, 1 function)`,
    ...m('rssMb').map((v) => v - floor.rssMb),
    '<= 0.5',
  )
  const growth = (mode) => all[mode].map((r) => r.rssMb - r.rssBeforeMb).sort((a, b) => a - b)[Math.floor(runs / 2)]
  report('k', 'RSS growth under traffic (MB)', growth('auto'), growth('fixed'))
  report('k', 'warm instances at the end', ...m('instances'))
  report('k', 'modules at the end', ...m('modules'))
  report('k', 'instances created while measured (10 s)', ...m('created'))
  report('k', 'idleTimeoutMs 5 s: throughput (calls/s)', idle5.throughput, median('fixed', 'throughput'), '>= 1')
  report('k', 'idleTimeoutMs 5 s: RSS at the end (MB)', idle5.rssMb, median('fixed', 'rssMb'), '<= 0.5')
  report('k', 'idleTimeoutMs 5 s: warm instances at the end', idle5.instances, median('fixed', 'instances'))
  const errors = [...all.auto, ...all.fixed, idle5, floor].reduce((n, r) => n + r.errors, 0)
  if (errors) console.log(`  (${errors} calls failed)`)
}

// (l) web APIs the host serves or the guest loads on first use: Intl (the host's ICU), legacy
// TextDecoder encodings (@exodus/bytes in lazy chunks), crypto.subtle (the host's WebCrypto, keys
// sealed). Per call: the same loop in a warm instance and in Node. First use: the first call in a
// fresh instance (a new function each time, its chunk not yet loaded) against the first call in a
// fresh Node worker thread (a new isolate; the process's ICU data is loaded either way).
const WEB_OPS = `
const text1k = new Uint8Array(1024).map((_, i) => 0x40 + (i % 60))
const sjis1k = new Uint8Array(1024).map((_, i) => (i % 2 ? 0xa0 : 0x82))
const data = new TextEncoder().encode('x'.repeat(100))
let nf, dtf, hmac, ec, ed
const ops = {
  numberToLocaleString: (i) => (1234567.5 + i).toLocaleString('en-US'),
  numberFormat: (i) => (nf ??= new Intl.NumberFormat('en-US', { style: 'currency', currency: 'EUR' })).format(i),
  dateTimeFormat: (i) => (dtf ??= new Intl.DateTimeFormat('en-US', { timeZone: 'America/New_York', dateStyle: 'medium', timeStyle: 'long' })).format(i * 1e6),
  localeCompare: (i) => ('Zoë, the ' + i).localeCompare('zoe the ' + i),
  windows1252: () => new TextDecoder('windows-1252').decode(text1k),
  shiftJis: () => new TextDecoder('shift_jis').decode(sjis1k),
  hmacSign: async () => crypto.subtle.sign('HMAC', (hmac ??= await crypto.subtle.importKey('raw', data, { name: 'HMAC', hash: 'SHA-256' }, false, ['sign'])), data),
  ecdsaSign: async () => crypto.subtle.sign({ name: 'ECDSA', hash: 'SHA-256' }, (ec ??= (await crypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, false, ['sign'])).privateKey), data),
  ed25519Sign: async () => crypto.subtle.sign('Ed25519', (ed ??= (await crypto.subtle.generateKey({ name: 'Ed25519' }, false, ['sign'])).privateKey), data),
}
`
const WEB_FN = `${WEB_OPS}
export async function first(op) { const t = performance.now(); await ops[op](0); return performance.now() - t }
export async function perCall(op, n) {
  for (let i = 0; i < 20; i++) await ops[op](i)
  const t = performance.now()
  for (let i = 0; i < n; i++) await ops[op](i)
  return ((performance.now() - t) / n) * 1000
}`

async function nodeWebOps(op, n) {
  const { Worker } = await import('node:worker_threads')
  const code = `${WEB_OPS}
    const { parentPort, workerData } = require('node:worker_threads')
    ;(async () => {
      let t = performance.now(); await ops[workerData.op](0); const first = performance.now() - t
      for (let i = 0; i < 20; i++) await ops[workerData.op](i)
      t = performance.now()
      for (let i = 0; i < workerData.n; i++) await ops[workerData.op](i)
      parentPort.postMessage({ first, perCall: ((performance.now() - t) / workerData.n) * 1000 })
    })()`
  const worker = new Worker(code, { eval: true, workerData: { op, n } })
  const out = await new Promise((resolve, reject) => worker.once('message', resolve).once('error', reject))
  await worker.terminate()
  return out
}

async function benchWebApis() {
  console.log('\n(l) web APIs: per call in a warm instance, and first use in a fresh one, vs Node')
  const runtime = await createRuntime({ threads: 1 })
  await runtime.deploy('web', { code: WEB_FN })
  const ops = {
    numberToLocaleString: 5000,
    numberFormat: 5000,
    dateTimeFormat: 5000,
    localeCompare: 5000,
    windows1252: 2000,
    shiftJis: 2000,
    hmacSign: 2000,
    ecdsaSign: 1000,
    ed25519Sign: 1000,
  }
  let k = 0
  for (const [op, n] of Object.entries(ops)) {
    // Rounds alternate between the sandbox and Node, so both meet the machine's noise alike.
    const node = []
    const calls = []
    const firsts = []
    for (let i = 0; i < 5; i++) {
      node.push(await nodeWebOps(op, n))
      calls.push(await runtime.call('web', 'perCall', op, n))
      const name = `web-first-${k++}`
      await runtime.deploy(name, { code: `${WEB_FN}\n// ${name}` })
      firsts.push(await runtime.call(name, 'first', op))
      await runtime.undeploy(name)
    }
    const median = (xs) => xs.slice().sort((a, b) => a - b)[Math.floor(xs.length / 2)]
    report('l', `${op}: per call (us)`, median(calls), median(node.map((r) => r.perCall)))
    report('l', `${op}: first use in an instance (ms)`, median(firsts), median(node.map((r) => r.first)))
  }
  await runtime.close()
}

// (n) the host's event loop while guests spin to their time limit: one, two at once, and one
// wedged in a JSON.stringify that ignores the interrupt (its thread is terminated and replaced).
// The loop's delay is sampled at 1 ms resolution over each whole scenario; the baseline is the
// same loop over the same time with the runtime idle. On Linux the main thread's scheduler
// counters (schedstat) split each stall into work the loop did and time it waited for a core.
const SPIN = `export function run() { while (true) {} }\nexport const ok = () => 'ok'`
const WEDGE = `export function run() {
  const big = []; for (let i = 0; i < 200000; i++) big.push({ a: 'x'.repeat(20), b: [i, i, i] })
  let s = ''; for (let i = 0; i < 1000; i++) s = JSON.stringify(big)
  return s.length
}
export const ok = () => 'ok'`
const SCHEDSTAT = `/proc/self/task/${process.pid}/schedstat`

/** Watches the event loop until stop(): worst and p99 delay, and the most work done in one stall. */
function watchLoop() {
  const h = monitorEventLoopDelay({ resolution: 1 })
  h.enable()
  let readStat
  try {
    readFileSync(SCHEDSTAT)
    readStat = () => readFileSync(SCHEDSTAT, 'utf8').split(' ').map(Number)
  } catch {
    readStat = undefined
  }
  let last = performance.now()
  let lastStat = readStat?.()
  let busy = 0
  let waited = 0
  const timer = setInterval(() => {
    const now = performance.now()
    const stat = readStat?.()
    if (stat && now - last > 5) {
      busy = Math.max(busy, (stat[0] - lastStat[0]) / 1e6)
      waited = Math.max(waited, (stat[1] - lastStat[1]) / 1e6)
    }
    last = now
    lastStat = stat
  }, 1)
  return () => {
    clearInterval(timer)
    h.disable()
    return { worst: h.max / 1e6, p99: h.percentile(99) / 1e6, busy: readStat ? busy : NaN, waited }
  }
}

async function benchStall() {
  console.log('\n(l) host event-loop stall while guests spin, wedge and get their threads replaced (target < 50 ms)')
  const rounds = Number(process.env.FNBOX_BENCH_STALL_ROUNDS ?? 5)
  const runtime = await createRuntime({ threads: 2, storage: 'memory', limits: { timeoutMs: 500 } })
  // No breaker: these timeouts are on purpose, round after round.
  await runtime.deploy('spin', { code: SPIN, pool: { min: 2 }, breaker: false })
  await runtime.deploy('wedge', {
    code: WEDGE,
    limits: { timeoutMs: 300, memoryMb: 256 },
    pool: { min: 1 },
    breaker: false,
  })
  const scenarios = [
    ['one guest spinning to its timeout', 'spin', 1],
    ['two guests spinning at once', 'spin', 2],
    ['a wedged JSON.stringify, its thread replaced', 'wedge', 1],
  ]
  for (const [label, name, n] of scenarios) {
    const runs = []
    const base = []
    for (let r = 0; r < rounds; r++) {
      const started = performance.now()
      const stop = watchLoop()
      const codes = await Promise.all(
        Array.from({ length: n }, () =>
          runtime.call(name, 'run').then(
            () => 'ok',
            (e) => e.code,
          ),
        ),
      )
      // The thread replaced after a wedge must serve again: that is part of the scenario.
      for (let i = 0; (await runtime.call(name, 'ok').catch((e) => e.code)) !== 'ok'; i++) {
        if (i === 100) throw new Error(`${name} does not answer after its scenario`)
        await new Promise((resolve) => setTimeout(resolve, 10))
      }
      runs.push(stop())
      if (codes.some((c) => c !== 'ERR_TIMEOUT')) console.log(`    (unexpected outcomes: ${codes.join(', ')})`)
      // Baseline: the same loop, the same time, nothing running.
      const stopBase = watchLoop()
      await new Promise((resolve) => setTimeout(resolve, performance.now() - started))
      base.push(stopBase())
    }
    const max = (list, key) => Math.max(...list.map((x) => x[key]))
    report('n', `${label}: worst stall (ms, ${rounds} rounds)`, max(runs, 'worst'), max(base, 'worst'), '< 50')
    report('n', `${label}: p99 stall (ms)`, max(runs, 'p99'), max(base, 'p99'))
    report('n', `${label}: most loop work in one stall (ms)`, max(runs, 'busy'), max(base, 'busy'))
    report('n', `${label}: most wait for a core in one stall (ms)`, max(runs, 'waited'), max(base, 'waited'))
  }
  await runtime.close()
}

const zipfChildMode = process.argv.find((a) => a.startsWith('--zipf-child='))?.split('=')[1]
if (zipfChildMode) {
  await zipfChild(zipfChildMode)
  process.exit(0)
}

console.log(`fnbox bench — node ${process.version}, ${(await import('node:os')).availableParallelism()} cores`)
if (run('call')) await benchCall()
if (run('peers')) await benchPeers({ report, rawModule, cannon })
if (run('mailbox')) await benchMailbox({ report })
if (run('http')) await benchHttp()
if (run('cold')) await benchCold()
if (run('rss')) await benchRss()
if (run('kv')) await benchKv()
if (run('durable')) await benchDurability()
if (run('first')) await benchFirstStart()
if (run('vector')) await benchVector()
if (run('faults')) await benchFaults()
if (run('snapshot')) await benchSnapshot()
if (run('stream')) await benchStream()
if (run('streams')) await benchStreams()
if (run('burst')) await benchBurst()
if (run('zipf')) await benchZipf()
if (run('webapis')) await benchWebApis()
if (run('jobs')) await benchJobs({ report, fmt })
if (run('stall')) await benchStall()
if (run('observe')) await benchObserve({ report, PAYLOAD, ECHO })
if (process.argv.includes('--json')) console.log(JSON.stringify(results, null, 2))
