// (e4) The embedded database's start, as a process sees it (`fnbox dev`, an app, a test file):
// a fresh node process, createRuntime on a PGlite folder, to the first kv.get's answer. A fresh
// folder from the template of a migrated database (made by the first fresh start) against one
// from the template of a fresh cluster (the start before that template: its migrations run);
// the very first start on a machine (no template: initdb and migrations); and a warm restart of
// an existing folder. Taking turns, best of three each (other work on the machine only adds).
import { execFile } from 'node:child_process'
import { mkdtemp, readdir, rename, rm, writeFile } from 'node:fs/promises'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { promisify } from 'node:util'
import { report } from '../shared.mjs'

const require = createRequire(import.meta.url)
const run = promisify(execFile)

// A file, not --input-type=module -e: executor threads inherit the process's flags.
const START = `
const t = performance.now()
const { createRuntime } = await import(${JSON.stringify(import.meta.resolve('fnbox'))})
const runtime = await createRuntime({ threads: 1, storage: { pglite: process.env.FNBOX_BENCH_DB }, files: 'memory' })
await runtime.kv.get('first')
console.log(performance.now() - t)
await runtime.close()
`

/** ms from a new process's import of fnbox to its first answer on the folder `dir`. */
async function start(dir) {
  const { stdout } = await run(process.execPath, [join(dirname(dir), 'start.mjs')], {
    env: { ...process.env, FNBOX_BENCH_DB: dir },
    timeout: 300_000,
  })
  return Number(stdout.trim())
}

export default async function benchPgliteStart() {
  console.log('\n(e4) PGlite start in a new process, to the first kv.get: fresh folder, first ever, warm restart')
  const cache = join(dirname(require.resolve('@electric-sql/pglite')), '..', '..', '..', '.cache', 'fnbox')
  const work = await mkdtemp(join(tmpdir(), 'fnbox-bench-start-'))
  let n = 0
  const fresh = () => join(work, `db${n++}`)
  const templates = async () => (await readdir(cache).catch(() => [])).filter((f) => f.endsWith('.tar'))
  /** Runs `fn` with the templates `which` picks moved away, then puts them back. */
  const without = async (which, fn) => {
    const away = (await templates()).filter(which)
    for (const f of away) await rename(join(cache, f), join(cache, `${f}.away`))
    try {
      return await fn()
    } finally {
      for (const f of away) await rename(join(cache, `${f}.away`), join(cache, f)) // over what fn wrote
    }
  }
  await writeFile(join(work, 'start.mjs'), START)
  try {
    await start(fresh()) // makes both templates if there are none yet
    if ((await templates()).length < 2) {
      console.log('  skipped (no templates: node_modules/.cache is not writable)')
      return
    }
    const schema = (f) => f.includes('-schema-')
    const best = { schema: Infinity, cluster: Infinity, first: Infinity, warm: Infinity }
    const warmDir = fresh()
    await start(warmDir)
    for (let round = 0; round < 3; round++) {
      best.schema = Math.min(best.schema, await start(fresh()))
      best.cluster = Math.min(best.cluster, await without(schema, () => start(fresh())))
      best.first = Math.min(
        best.first,
        await without(
          () => true,
          () => start(fresh()),
        ),
      )
      best.warm = Math.min(best.warm, await start(warmDir))
    }
    report('e4', 'fresh folder: migrated template (ms)', best.schema, best.cluster)
    report('e4', 'first start on a machine: initdb (ms)', best.first, best.schema)
    report('e4', 'warm restart of a folder (ms)', best.warm, best.schema)
  } finally {
    await rm(work, { recursive: true, force: true })
  }
}
