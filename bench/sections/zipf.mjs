import { execFile } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { createRuntime } from 'fnbox'
import { report, pct, fmt } from '../shared.mjs'

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

export default async function benchZipf() {
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

// Each mode runs in a process of its own (zipfRun starts this file with --zipf-child=<mode>), so
// the RSS it prints is that mode's alone.
const childMode = process.argv.find((a) => a.startsWith('--zipf-child='))?.split('=')[1]
if (childMode && process.argv[1] === fileURLToPath(import.meta.url)) {
  await zipfChild(childMode)
  process.exit(0)
}
