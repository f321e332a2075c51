import { readFileSync } from 'node:fs'
import { monitorEventLoopDelay } from 'node:perf_hooks'
import { createRuntime } from 'fnbox'
import { report } from '../shared.mjs'

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

export default async function benchStall() {
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
