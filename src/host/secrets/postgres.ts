/**
 * Sealed secrets in Postgres (server or PGlite), table `fnbox_secrets`.
 *
 * @module
 */
import { type Kysely, sql } from 'kysely'
import { FnboxError } from '../../errors.js'
import type { SealedSecretStore } from './types.js'

/**
 * A {@link SealedSecretStore} over kysely: one row per secret, the blob in a `bytea`, names in
 * the `"C"` collation (code-point order). A failing database becomes `ERR_STORAGE`, the driver's
 * error kept as `cause`.
 *
 * @public
 */
export class PostgresSealedSecretStore implements SealedSecretStore {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  constructor(private readonly db: Kysely<any>) {}

  get(name: string): Promise<Uint8Array | undefined> {
    return guard('read', name, async () => {
      const row = await this.db.selectFrom('fnbox_secrets').select('sealed').where('name', '=', name).executeTakeFirst()
      return row === undefined ? undefined : bytes(row.sealed)
    })
  }

  set(name: string, sealed: Uint8Array): Promise<void> {
    return guard('write', name, async () => {
      await this.db
        .insertInto('fnbox_secrets')
        .values({ name, sealed: Buffer.from(sealed.buffer, sealed.byteOffset, sealed.byteLength) })
        .onConflict((conflict) =>
          conflict.column('name').doUpdateSet((eb) => ({ sealed: eb.ref('excluded.sealed'), updated_at: sql`now()` })),
        )
        .execute()
    })
  }

  delete(name: string): Promise<boolean> {
    return guard('delete', name, async () => {
      const result = await this.db.deleteFrom('fnbox_secrets').where('name', '=', name).executeTakeFirst()
      return result.numDeletedRows > 0n
    })
  }

  list(): Promise<string[]> {
    return guard('list', undefined, async () => {
      const rows = await this.db.selectFrom('fnbox_secrets').select('name').orderBy('name').execute()
      return rows.map((row) => row.name as string)
    })
  }
}

/** `pg` returns a `Buffer`, PGlite a `Uint8Array`: hand out a plain `Uint8Array` either way. */
function bytes(value: unknown): Uint8Array {
  if (!(value instanceof Uint8Array)) throw new TypeError('fnbox_secrets.sealed is not a bytea')
  return new Uint8Array(value.buffer, value.byteOffset, value.byteLength)
}

async function guard<T>(operation: string, name: string | undefined, run: () => Promise<T>): Promise<T> {
  try {
    return await run()
  } catch (cause) {
    const what = name === undefined ? 'secrets' : `secret "${name}"`
    throw new FnboxError('ERR_STORAGE', `could not ${operation} ${what}`, { cause })
  }
}
