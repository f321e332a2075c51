// The embedded database runs in a thread of its own: the host's event loop keeps turning while a
// statement runs, errors keep their SQLSTATE, and a closed database refuses further statements.
import { existsSync } from 'node:fs'
import { copyFile, mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { defaultTemplate, PgliteThread } from '../../src/storage/pglite-thread.js'

describe('PgliteThread', () => {
  let db: PgliteThread
  beforeAll(async () => {
    db = await PgliteThread.open('memory://')
  })
  afterAll(() => db.close())

  it('answers statements with their rows, in the order they were sent', async () => {
    const answers = await Promise.all(
      Array.from({ length: 50 }, (_, i) => db.query<{ n: number }>('select $1::int * 2 as n', [i])),
    )
    expect(answers.map((a) => a.rows[0]!.n)).toEqual(Array.from({ length: 50 }, (_, i) => i * 2))
    await db.query('create table t (id int primary key, doc jsonb, data bytea)')
    const inserted = await db.query('insert into t values ($1, $2::jsonb, $3)', [
      1,
      JSON.stringify({ a: [1, 'é'] }),
      new Uint8Array([0, 255]),
    ])
    expect(inserted.affectedRows).toBe(1)
    const { rows } = await db.query<{ doc: unknown; data: Uint8Array }>('select doc, data from t')
    expect(rows[0]!.doc).toEqual({ a: [1, 'é'] })
    expect([...rows[0]!.data]).toEqual([0, 255])
  })

  it('fails a statement with the database error and its SQLSTATE, and goes on', async () => {
    await expect(db.query('select 1 / 0')).rejects.toMatchObject({ code: '22012', message: 'division by zero' })
    await expect(db.query('select 2 as n')).resolves.toMatchObject({ rows: [{ n: 2 }] })
  })

  it('keeps the host event loop turning while a long statement runs', async () => {
    let ticks = 0
    let longestGap = 0
    let last = performance.now()
    const timer = setInterval(() => {
      const now = performance.now()
      longestGap = Math.max(longestGap, now - last)
      last = now
      ticks++
    }, 5)
    const started = performance.now()
    await db.query('select count(*) from generate_series(1, 3000000)')
    const took = performance.now() - started
    clearInterval(timer)
    // On the main thread the statement would hold the loop for all of `took`.
    expect(took).toBeGreaterThan(150)
    expect(ticks).toBeGreaterThan(5)
    expect(longestGap).toBeLessThan(took / 2)
  })

  it('refuses statements once closed, with ERR_STORAGE', async () => {
    const other = await PgliteThread.open('memory://')
    await other.close()
    await expect(other.query('select 1')).rejects.toMatchObject({ code: 'ERR_STORAGE' })
  })

  it('fails to open a folder it cannot use with ERR_STORAGE, leaving the templates it was given in place', async () => {
    // Copies of the cluster template (made by this file's first open when the machine had none).
    const dir = await mkdtemp(join(tmpdir(), 'fnbox-unusable-'))
    try {
      const template = join(dir, 'cluster.tar')
      const schema = join(dir, 'schema.tar')
      await copyFile(defaultTemplate()!, template)
      await copyFile(template, schema)
      const size = (await stat(template)).size
      await expect(PgliteThread.open('/proc/fnbox-cannot-live-here', { template, schema })).rejects.toMatchObject({
        code: 'ERR_STORAGE',
      })
      // The folder was at fault, not the templates: both are kept (dropping them would make every
      // later fresh start run initdb again).
      expect((await stat(template)).size).toBe(size)
      expect((await stat(schema)).size).toBe(size)
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })
})

// PGlite's initdb is most of a fresh start (here 3.3-5.0 s under load, vs 1.0-1.6 s from the
// template: see bench (e3)). The first fresh start of a PGlite version leaves its cluster as the
// template; later fresh databases, in memory or in a folder, start from it.
describe('PgliteThread: the template of a fresh cluster', () => {
  let dir: string
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'fnbox-template-'))
  })
  afterAll(() => rm(dir, { recursive: true, force: true }))

  const works = async (db: PgliteThread) => {
    await db.query('create table t (n int)')
    await db.query('insert into t values (1), (2)')
    expect((await db.query<{ n: number }>('select sum(n)::int as n from t')).rows).toEqual([{ n: 3 }])
  }

  it('is made by a fresh start (replacing one that does not load), and later fresh databases start from it', async () => {
    const template = join(dir, 'cache', 'template.tar')
    await mkdir(join(dir, 'cache'))
    await writeFile(template, 'not a tarball')
    // It does not load: dropped, and this start makes one. Its folder holds a lock file (as
    // fnbox's own is taken before the database opens): the template must be a pure cluster.
    const first = join(dir, 'first')
    await mkdir(first)
    await writeFile(join(first, 'fnbox.lock'), 'the first owner')
    const db = await PgliteThread.open(first, { template })
    await works(db)
    await db.close()
    expect((await stat(template)).size).toBeGreaterThan(1e6)
    expect(await readFile(join(first, 'fnbox.lock'), 'utf8')).toBe('the first owner')

    const folder = join(dir, 'db')
    for (const target of ['memory://', folder]) {
      const later = await PgliteThread.open(target, { template })
      await works(later)
      await later.close()
    }
    expect(existsSync(join(folder, 'fnbox.lock'))).toBe(false)
    // A folder from the template is a database like any other: it opens again with its data.
    const again = await PgliteThread.open(folder, { template })
    expect((await again.query<{ n: number }>('select count(*)::int as n from t')).rows).toEqual([{ n: 2 }])
    await again.close()
  }, 120_000)
})
