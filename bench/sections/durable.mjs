import { createRuntime } from 'fnbox'
import { report } from '../shared.mjs'

// (e2) What durability costs on the default storage: a kv.set through the host API on PGlite,
// its table logged (today: the write-ahead log is written at each commit, so the set survives a
// crash of the host) vs UNLOGGED (before: a crash emptied the table); and files.write, fsynced
// (file and folder) vs the same temp-file-and-rename without fsync.
export default async function benchDurability() {
  console.log('\n(e2) durability: kv.set on PGlite logged vs UNLOGGED (before), files.write fsynced vs not')
  const { mkdtemp, rm, writeFile, rename, mkdir } = await import('node:fs/promises')
  const { tmpdir } = await import('node:os')
  const { join } = await import('node:path')
  const { PGlite } = await import('@electric-sql/pglite')
  const dir = await mkdtemp(join(tmpdir(), 'fnbox-bench-durable-'))
  const SETS = 2000
  const CONCURRENCY = 16
  const open = async (folder) => {
    const runtime = await createRuntime({ threads: 1, storage: { pglite: folder }, files: join(dir, 'files') })
    const kv = runtime.kv.scope('bench')
    await kv.set('warm', 1)
    const one = async (n) => {
      const t = performance.now()
      for (let i = 0; i < n; i++) await kv.set('k' + (i % 100), { i, text: 'durable?' })
      return (performance.now() - t) / n
    }
    const many = async () => {
      const t = performance.now()
      await Promise.all(
        Array.from({ length: CONCURRENCY }, async (_, w) => {
          for (let i = 0; i < SETS / CONCURRENCY; i++) await kv.set(`w${w}:${i % 50}`, { i })
        }),
      )
      return (SETS * 1000) / (performance.now() - t)
    }
    await one(200) // warm-up
    return { runtime, one, many, latency: Infinity, throughput: 0 }
  }
  const logged = join(dir, 'logged')
  const unlogged = join(dir, 'unlogged')
  // The UNLOGGED baseline: the same schema, its kv table switched back as releases before 0011 made it.
  const schema = await createRuntime({ threads: 1, storage: { pglite: unlogged }, files: 'memory' })
  await schema.kv.get('migrate')
  await schema.close()
  const db = await PGlite.create(unlogged)
  await db.exec('alter table fnbox_kv set unlogged')
  await db.close()
  const before = await open(unlogged)
  const now = await open(logged)
  // Taking turns, best of three each: a busy machine slows both alike.
  for (let round = 0; round < 3; round++) {
    for (const side of [before, now]) {
      side.latency = Math.min(side.latency, await side.one(SETS / 4))
      side.throughput = Math.max(side.throughput, await side.many())
    }
  }
  report('e2', 'PGlite kv.set, one writer (ms per set)', now.latency, before.latency)
  report('e2', `PGlite kv.set, ${CONCURRENCY} writers (sets/s)`, now.throughput, before.throughput)
  const files = now.runtime.files.scope('bench')
  await before.runtime.close()
  // Files: the store's fsynced write vs the unsynced temp file and rename it did before.
  const plain = join(dir, 'plain')
  await mkdir(join(plain, 'f'), { recursive: true })
  const data = new Uint8Array(4096).fill(7)
  const synced = async () => {
    const t = performance.now()
    for (let i = 0; i < 100; i++) await files.write(`f/${i % 20}.bin`, data)
    return (performance.now() - t) / 100
  }
  const unsynced = async () => {
    const t = performance.now()
    for (let i = 0; i < 100; i++) {
      await writeFile(join(plain, `tmp${i}`), data)
      await rename(join(plain, `tmp${i}`), join(plain, 'f', `${i % 20}.bin`))
    }
    return (performance.now() - t) / 100
  }
  let fileNow = Infinity
  let fileBefore = Infinity
  for (let round = 0; round < 3; round++) {
    fileBefore = Math.min(fileBefore, await unsynced())
    fileNow = Math.min(fileNow, await synced())
  }
  report('e2', 'files.write 4 KiB, fsynced (ms per write)', fileNow, fileBefore)
  await now.runtime.close()
  await rm(dir, { recursive: true, force: true })
}
