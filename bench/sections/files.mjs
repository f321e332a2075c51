import { createRuntime } from 'fnbox'
import { benchDatabase, report } from '../shared.mjs'

// (files) a 10 MiB file written and read through runtime.files, in the database (files:
// 'database', 512 KiB chunk rows) on PGlite and on server Postgres, against the folder store on
// the same machine in the same run.
export default async function benchFiles() {
  console.log('\n(files) 10 MiB runtime.files.write / read, ms: in the database vs in a folder')
  const { mkdtemp, rm } = await import('node:fs/promises')
  const { tmpdir } = await import('node:os')
  const { join } = await import('node:path')
  const dir = await mkdtemp(join(tmpdir(), 'fnbox-bench-files-'))
  const server = await benchDatabase()
  const data = new Uint8Array(10 * 1024 * 1024).map((_, i) => (i * 31 + (i >> 12)) & 255)
  const time = async (runtime, round) => {
    let write = Infinity
    let read = Infinity
    for (let i = 0; i < round; i++) {
      let t = performance.now()
      await runtime.files.write('bench/big.bin', data)
      write = Math.min(write, performance.now() - t)
      t = performance.now()
      await runtime.files.read('bench/big.bin')
      read = Math.min(read, performance.now() - t)
    }
    return { write, read }
  }
  const folder = await createRuntime({ storage: 'memory', files: join(dir, 'folder') })
  const baseline = await time(folder, 3)
  await folder.close()
  const backends = [
    ['PGlite', { pglite: join(dir, 'pglite') }],
    ['server Postgres', server ? { postgres: server.url } : undefined],
  ]
  for (const [name, storage] of backends) {
    if (!storage) {
      console.log(`  ${name}: skipped (no server)`)
      continue
    }
    const runtime = await createRuntime({ storage, files: 'database' })
    try {
      const measured = await time(runtime, 3)
      report('files', `${name}: 10 MiB write ms (vs folder)`, measured.write, baseline.write)
      report('files', `${name}: 10 MiB read ms (vs folder)`, measured.read, baseline.read)
    } finally {
      await runtime.close()
    }
  }
  await rm(dir, { recursive: true, force: true })
  await server?.drop()
}
