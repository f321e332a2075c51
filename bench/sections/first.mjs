import { createRequire } from 'node:module'
import { createRuntime } from 'fnbox'
import { report } from '../shared.mjs'

const require = createRequire(import.meta.url)

// (e3) A fresh database's first start (createRuntime, first kv.get: open, migrate, answer) on
// PGlite in memory, from the template of a fresh cluster (node_modules/.cache/fnbox) vs running
// initdb as before (the template moved away for that start; taking turns, best of three each).
export default async function benchFirstStart() {
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
  // Both templates (a fresh cluster's, a migrated database's) go away for the initdb start.
  const paths = templates.map((f) => join(cache, f))
  let withTemplate = Infinity
  let withInitdb = Infinity
  for (let round = 0; round < 3; round++) {
    withTemplate = Math.min(withTemplate, await start())
    for (const path of paths) await rename(path, `${path}.away`)
    try {
      withInitdb = Math.min(withInitdb, await start())
    } finally {
      for (const path of paths) await rename(`${path}.away`, path) // over the ones that start wrote
    }
  }
  report('e3', 'fresh PGlite to first kv.get (ms)', withTemplate, withInitdb)
}
