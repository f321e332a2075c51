/**
 * A raw SQL statement for `db.executeQuery`, with kysely loaded at first use: modules the package
 * imports at once (the runtime's secrets notifications, table hooks) must not load kysely for
 * users on memory storage (test/integration/package.test.ts checks what an import loads).
 *
 * @internal
 * @module
 */
import type { CompiledQuery } from 'kysely'

/** `CompiledQuery.raw(sql, parameters)`, kysely imported when first called. */
export async function rawQuery(sql: string, parameters: unknown[] = []): Promise<CompiledQuery> {
  const { CompiledQuery } = await import('kysely')
  return CompiledQuery.raw(sql, parameters)
}
