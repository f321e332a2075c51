import { createRuntime } from 'fnbox'
import { benchDatabase, report } from '../shared.mjs'

// (e) guest kv.get / kv.set through the whole stack (guest -> executor thread -> host -> store and
// back), per backend, against the host API calling the same store at the same concurrency.
export default async function benchKv() {
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
