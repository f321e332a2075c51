import { createRuntime } from 'fnbox'
import { report } from '../shared.mjs'

// (d) RSS per warm idle instance: 1,000 warm instances of one function.
export default async function benchRss() {
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
