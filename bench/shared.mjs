// What every bench section shares: the report (each figure with its baseline and the ratio, also
// kept for --json), percentiles, number formatting, a raw QuickJS module (the baseline of several
// sections), the echo function and its payload, and the HTTP load generator.
import { execFile } from 'node:child_process'
import { readdirSync, readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { newQuickJSWASMModuleFromVariant, newVariant } from 'quickjs-emscripten-core'
import releaseSync from '@jitl/quickjs-wasmfile-release-sync'

const require = createRequire(import.meta.url)

/** Every figure reported in this run, printed by run.mjs as JSON with --json. */
export const results = []

export function pct(sorted, p) {
  return sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * p) / 100))]
}
/** The middle of `xs` (the upper one of an even count), which it leaves unsorted. */
export function median(xs) {
  return xs.toSorted((a, b) => a - b)[xs.length >> 1]
}

/** The median latency (µs) of `n` sequential `await call()`, after `warm` calls not counted. */
export async function sequentialP50(call, n = 5000, warm = 1000) {
  for (let i = 0; i < warm; i++) await call()
  const lat = []
  for (let i = 0; i < n; i++) {
    const s = performance.now()
    await call()
    lat.push((performance.now() - s) * 1000)
  }
  return median(lat)
}
export function fmt(n, digits = 1) {
  return Number(n).toLocaleString('en-US', { maximumFractionDigits: digits })
}
export function report(section, figure, value, baseline, target) {
  const ratio = baseline ? value / baseline : undefined
  results.push({ section, figure, value, baseline, ratio, target })
  console.log(
    `  ${figure.padEnd(46)} ${fmt(value, 2).padStart(12)}` +
      (baseline !== undefined ? `   baseline ${fmt(baseline, 2).padStart(12)}   ratio ${fmt(ratio, 3)}` : '') +
      (target ? `   target ${target}` : ''),
  )
}

export async function rawModule(mb = 64) {
  const wasmModule = new WebAssembly.Module(readFileSync(require.resolve('@jitl/quickjs-wasmfile-release-sync/wasm')))
  const wasmMemory = new WebAssembly.Memory({ initial: mb * 16, maximum: mb * 16 })
  return newQuickJSWASMModuleFromVariant(newVariant(releaseSync, { wasmModule, wasmMemory }))
}

export const ECHO = `export function echo(input) { return input }`
export const PAYLOAD = { id: 42, name: 'fnbox', tags: ['a', 'b', 'c'], nested: { ok: true, n: 3.14 } }

/**
 * autocannon's CLI against `url` for `seconds` (32 connections), its JSON summary. The load comes
 * from a second process, so the load generator does not compete with the server's event loop.
 */
export function cannon(url, seconds) {
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

/**
 * CPU time of this process's threads (Linux: `/proc/self/task`), in ms: `main` (the event loop)
 * and `others` (executor threads and V8's helpers). `undefined` where `/proc` is missing.
 */
export function threadCpuMs() {
  try {
    let main = 0
    let others = 0
    const tick = 1000 / 100 // USER_HZ
    for (const tid of readdirSync('/proc/self/task')) {
      const stat = readFileSync(`/proc/self/task/${tid}/stat`, 'utf8')
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
      const ms = (Number(fields[11]) + Number(fields[12])) * tick
      if (tid === String(process.pid)) main += ms
      else others += ms
    }
    return { main, others }
  } catch {
    return undefined
  }
}

/** `cannon`, with the CPU time per request of this process's threads meanwhile (µs), if known. */
export async function cannonWithCpu(url, seconds) {
  const before = threadCpuMs()
  const result = await cannon(url, seconds)
  const after = threadCpuMs()
  const n = result.requests.total
  if (before && after && n > 0) {
    result.cpuUsPerRequest = {
      main: ((after.main - before.main) * 1000) / n,
      others: ((after.others - before.others) * 1000) / n,
    }
  }
  return result
}

/**
 * A database of the bench's own on server Postgres (`FNBOX_BENCH_PG`: the server, default
 * 127.0.0.1:5432), dropped at the end: never rows in a database someone else uses.
 */
export async function benchDatabase() {
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
