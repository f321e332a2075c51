/**
 * The stores of a SQL backend (PGlite or server Postgres) over one migrated database: each
 * domain's SQL part, loaded here from the registry. Loaded by `backend.ts` at the first use of
 * such storage: this module and kysely, which it and the Postgres stores import, cost a host that
 * keeps its data in memory (or never touches it) nothing.
 *
 * @internal
 * @module
 */
import { sql, type Kysely } from 'kysely'
import type { SqlParts, SqlStoreContext } from '../host/domain.js'
import { OPENED_DOMAINS, TRANSACTIONAL_DOMAINS } from '../host/registry.js'
import type { BuiltInStores, OpenTransaction } from './backend.js'
import { openSql, type SqlConfig } from './sql.js'
import { systemClock, type Clock } from '../clock.js'

/** Opens and migrates the database of `config`, and the stores over it. */
export async function openSqlStores(config: SqlConfig, clock: Clock = systemClock): Promise<BuiltInStores> {
  const database = await openSql(config)
  const db = database.db
  // Each domain's SQL store, and how to make it over a transaction (sharing what it shares).
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  const makers = new Map<string, (over: Kysely<any>) => unknown>()
  for (const domain of OPENED_DOMAINS) {
    const parts: SqlParts<unknown> | undefined = await domain.sql?.()
    if (!parts?.store) continue
    const context: SqlStoreContext = {
      kind: database.kind,
      shared: parts.shared?.(database.kind, clock),
      clock,
      listen: (channel, listener) => database.listen(channel, listener),
    }
    const store = parts.store
    makers.set(domain.name, (over) => store(over, context))
  }
  const stores = new Map([...makers].map(([name, make]) => [name, make(db)]))
  return {
    stores,
    sql: database,
    async transaction(): Promise<OpenTransaction> {
      // SERIALIZABLE: a read-modify-write in `tx` never loses an update to a concurrent one (on
      // server Postgres, READ COMMITTED let 100 concurrent increments end at 8 to 18). A
      // conflict fails with SQLSTATE 40001, which the guest's `tx` retries. PGlite runs one
      // transaction at a time anyway.
      const trx = await db.startTransaction().setIsolationLevel('serializable').execute()
      let open = true
      const finish = async (commit: boolean): Promise<void> => {
        if (!open) return
        open = false
        await (commit ? trx.commit() : trx.rollback()).execute()
      }
      return {
        stores: new Map(TRANSACTIONAL_DOMAINS.map((d) => [d.name, makers.get(d.name)!(trx)])),
        commit: () => finish(true),
        rollback: () => finish(false),
        // In an aborted transaction every statement fails (SQLSTATE 25P02) until it ends.
        aborted: () =>
          sql`select 1`.execute(trx).then(
            () => false,
            () => true,
          ),
      }
    },
    close: () => database.close(),
  }
}
