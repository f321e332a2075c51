// Versioned migrations on a fresh server database, applied by two hosts at once.
import { sql } from 'kysely'
import { describe, expect, it } from 'vitest'
import { MIGRATIONS } from '../../src/storage/migrations.js'
import { openSql } from '../../src/storage/sql.js'
import { testPostgres } from '../helpers/postgres.js'

const server = await testPostgres('migrations')

describe.skipIf(server.skip)('migrations', () => {
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
      // UNLOGGED, as documented: fast writes, emptied by a crash.
      const kv = await sql<{ relpersistence: string }>`
        select relpersistence from pg_class where relname = 'fnbox_kv'`.execute(hosts[2]!.db)
      expect(kv.rows[0]!.relpersistence).toBe('u')
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
})
