/**
 * The template of a migrated database: a fresh database migrated by fnbox is dumped once (right
 * after its migrations, before any other statement), and later fresh databases start from that
 * dump with every table made, so they skip initdb and the migrations. Named by a hash of the
 * migrations, so a version with others never starts from it.
 */
import { existsSync } from 'node:fs'
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { defaultTemplate, PgliteThread } from '../../src/storage/pglite-thread.js'
import { openSql, schemaTemplate } from '../../src/storage/sql.js'
import { dropTarEntries } from '../../src/storage/tar.js'

let dir: string
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'fnbox-schema-template-'))
})
afterAll(() => rm(dir, { recursive: true, force: true }))

describe('the template of a migrated database', () => {
  it('is loaded first by a fresh database, which then has its tables; an existing folder ignores it', async () => {
    const schema = join(dir, 'schema.tar')
    const source = await PgliteThread.open('memory://', { schema })
    expect(source.origin).not.toBe('schema') // no such file yet
    await source.query('create table fnbox_marker (n int)')
    await source.query('insert into fnbox_marker values (7)')
    await writeFile(schema, await source.dump())
    await source.close()

    const folder = join(dir, 'fresh')
    const fresh = await PgliteThread.open(folder, { schema })
    expect(fresh.origin).toBe('schema')
    expect((await fresh.query<{ n: number }>('select n from fnbox_marker')).rows).toEqual([{ n: 7 }])
    await fresh.query('insert into fnbox_marker values (8)')
    await fresh.close()

    const again = await PgliteThread.open(folder, { schema })
    expect(again.origin).toBe('existing')
    expect((await again.query<{ n: number }>('select count(*)::int as n from fnbox_marker')).rows).toEqual([{ n: 2 }])
    await again.close()
  }, 120_000)

  it('that does not load is dropped, and the start goes on from the cluster template', async () => {
    const schema = join(dir, 'broken.tar')
    await writeFile(schema, 'not a tarball')
    const db = await PgliteThread.open(join(dir, 'from-cluster'), { schema })
    expect(db.origin === 'cluster' || db.origin === 'initdb').toBe(true)
    expect((await db.query<{ n: number }>('select 1 as n')).rows).toEqual([{ n: 1 }])
    await db.close()
    expect(existsSync(schema)).toBe(false)
  }, 120_000)

  it("is written by fnbox's first fresh start, named by its migrations, beside the cluster's template", async () => {
    const file = await schemaTemplate()
    expect(file).toBeDefined()
    expect(file!.startsWith(defaultTemplate()!.replace(/\.tar$/, '-schema-'))).toBe(true)
    const db = await openSql({ pglite: 'memory://' })
    await db.close()
    expect(existsSync(file!)).toBe(true)
    // Started from it, the fnbox tables are there and migrated: a new database answers at once.
    const later = await PgliteThread.open(join(dir, 'later'), { schema: file! })
    expect(later.origin).toBe('schema')
    const { rows } = await later.query<{ n: number }>('select count(*)::int as n from fnbox_migrations')
    expect(rows[0]!.n).toBeGreaterThan(0)
    await later.close()
  }, 120_000)

  it("made from a folder, leaves out the folder's lock file: a database made from it keeps its own", async () => {
    const source = join(dir, 'locked-source')
    await mkdir(source)
    await writeFile(join(source, 'fnbox.lock'), 'the source owner')
    const db = await PgliteThread.open(source) // from the cluster template: the lock file stays in the folder
    const dump = await db.dump()
    await db.close()
    const names = (tar: Uint8Array) => Buffer.from(tar).toString('latin1')
    expect(names(dump)).toContain('fnbox.lock')
    const clean = dropTarEntries(dump, (path) => path.startsWith('fnbox.lock'))
    expect(names(clean)).not.toContain('fnbox.lock')
    const schema = join(dir, 'clean.tar')
    await writeFile(schema, clean)

    const target = join(dir, 'locked-target')
    await mkdir(target)
    await writeFile(join(target, 'fnbox.lock'), 'the target owner')
    const made = await PgliteThread.open(target, { schema })
    expect(made.origin).toBe('schema')
    expect((await made.query<{ n: number }>('select 1 as n')).rows).toEqual([{ n: 1 }])
    await made.close()
    expect(await readFile(join(target, 'fnbox.lock'), 'utf8')).toBe('the target owner')
  }, 120_000)
})
