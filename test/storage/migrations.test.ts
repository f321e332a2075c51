// Versioned migrations on a fresh server database, applied by two hosts at once.
import { type Kysely, sql } from 'kysely'
import { describe, expect, it } from 'vitest'
import { loadMigrations } from '../../src/host/registry.js'
import { openSql } from '../../src/storage/sql.js'
import { describeOn, testPostgres } from '../helpers/postgres.js'

const server = await testPostgres('migrations')
const MIGRATIONS = await loadMigrations()

describeOn(server, 'migrations', () => {
  it('two hosts migrating a fresh database at once apply each migration exactly once', async () => {
    const url = await server.url()
    const hosts = await Promise.all([
      openSql({ postgres: url }),
      openSql({ postgres: url }),
      openSql({ postgres: url }),
    ])
    try {
      const { rows } = await sql<{ name: string }>`select name from fnbox_migrations order by name`.execute(
        hosts[0]!.db,
      )
      expect(rows.map((r) => r.name)).toEqual(Object.keys(MIGRATIONS).sort())
      const tables = await sql<{ tablename: string }>`
        select tablename from pg_tables where tablename like 'fnbox%' order by tablename`.execute(hosts[1]!.db)
      expect(tables.rows.map((r) => r.tablename)).toEqual(
        expect.arrayContaining(['fnbox_kv', 'fnbox_secrets', 'fnbox_vector_indexes']),
      )
      // Logged, as documented: an acknowledged write survives a crash of the server.
      expect(await kvPersistence(hosts[2]!.db)).toBe('logged')
    } finally {
      await Promise.all(hosts.map((h) => h.close()))
    }
  })

  it('a later start finds nothing to do, and an unreachable server fails with ERR_STORAGE', async () => {
    const again = await openSql({ postgres: await server.url() })
    const { rows } = await sql<{ n: number }>`select count(*)::int as n from fnbox_migrations`.execute(again.db)
    expect(rows[0]!.n).toBe(Object.keys(MIGRATIONS).length)
    await again.close()
    await expect(openSql({ postgres: 'postgres://postgres@127.0.0.1:1/none' })).rejects.toMatchObject({
      code: 'ERR_STORAGE',
    })
  })

  it('makes an UNLOGGED kv table of an earlier version logged, keeping its rows', async () => {
    const url = await server.url('old')
    // The database as the releases before 0011 left it: kv UNLOGGED, with a row.
    const old = await openSql({ postgres: url, kv: { unlogged: true } })
    // (and without the migrations after it: 0012_files' tables)
    await sql`delete from fnbox_migrations where name >= '0011_kv_logged'`.execute(old.db)
    await sql`drop table fnbox_files, fnbox_file_chunks`.execute(old.db)
    await sql`insert into fnbox_kv (scope, key, value) values ('s', 'k', '1')`.execute(old.db)
    expect(await kvPersistence(old.db)).toBe('unlogged')
    await old.close()

    const upgraded = await openSql({ postgres: url })
    try {
      expect(await kvPersistence(upgraded.db)).toBe('logged')
      const { rows } = await sql<{ value: unknown }>`select value from fnbox_kv where key = 'k'`.execute(upgraded.db)
      expect(rows).toEqual([{ value: 1 }])
    } finally {
      await upgraded.close()
    }
  })

  it('keeps kv UNLOGGED only for a host that opts in, and back to logged for one that does not', async () => {
    const url = await server.url()
    const cache = await openSql({ postgres: url, kv: { unlogged: true } })
    await sql`insert into fnbox_kv (scope, key, value) values ('s', 'mode', '"cache"')`.execute(cache.db)
    expect(await kvPersistence(cache.db)).toBe('unlogged')
    const again = await openSql({ postgres: url, kv: { unlogged: true } }) // already so: nothing to do
    expect(await kvPersistence(again.db)).toBe('unlogged')
    await Promise.all([cache.close(), again.close()])
    const durable = await openSql({ postgres: url })
    try {
      expect(await kvPersistence(durable.db)).toBe('logged')
      const { rows } = await sql<{ n: number }>`select count(*)::int as n from fnbox_kv where key = 'mode'`.execute(
        durable.db,
      )
      expect(rows[0]!.n).toBe(1)
    } finally {
      await durable.close()
    }
  })
})

describe('migrations on PGlite', () => {
  it('the embedded kv table is logged: a crash of the host does not empty it', async () => {
    const db = await openSql({ pglite: 'memory://' })
    try {
      expect(await kvPersistence(db.db)).toBe('logged')
    } finally {
      await db.close()
    }
  })
})

// eslint-disable-next-line @typescript-eslint/no-explicit-any
async function kvPersistence(db: Kysely<any>): Promise<'logged' | 'unlogged'> {
  const { rows } = await sql<{ relpersistence: string }>`
    select relpersistence from pg_class where oid = 'fnbox_kv'::regclass`.execute(db)
  return rows[0]!.relpersistence === 'u' ? 'unlogged' : 'logged'
}
