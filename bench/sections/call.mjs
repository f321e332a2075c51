import { createRuntime } from 'fnbox'
import { report, pct, rawModule, ECHO, PAYLOAD } from '../shared.mjs'

// (a) runtime.call of a JSON echo vs a raw quickjs-emscripten warm-context loop.
export default async function benchCall() {
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
