import { createRuntime } from 'fnbox'
import { bigBundle } from './cold.mjs'
import { report, pct, rawModule } from '../shared.mjs'

// (i) cold start of the ~500 KB bundle restored from its snapshot vs evaluated from source. Both
// are a second instance, made on the other thread while the first is busy, in the same runtime.
// The source baseline is the same bundle plus one top-level Math.random() call, which makes it
// unsnapshottable (its instances must differ), so each of its cold starts evaluates the code.
export default async function benchSnapshot() {
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
