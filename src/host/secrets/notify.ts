/**
 * Secret changes across hosts sharing one server Postgres: the host that sets or deletes a secret
 * NOTIFYs its name on `fnbox_secrets`; every host LISTENs and reloads that secret into its
 * functions granted it (within a second: one notification round trip). The value never travels
 * in the notification, only the name. A listener that was cut off reloads every granted secret
 * when it is back (notifications sent meanwhile were lost).
 *
 * PGlite is one process, memory one host: nothing to share.
 *
 * @internal
 * @module
 */
import { rawQuery } from '../../storage/raw-query.js'
import type { Backend } from '../../storage/backend.js'

export const SECRETS_CHANNEL = 'fnbox_secrets'

/** Tells the other hosts that secret `name` changed (server Postgres only). */
export async function announceSecretChange(backend: Backend, name: string): Promise<void> {
  if (backend.sql?.kind !== 'pg') return
  await backend.sql.db.executeQuery(await rawQuery('select pg_notify($1, $2)', [SECRETS_CHANNEL, name]))
}

/**
 * Calls `changed(name)` for each secret another host changed, and for every name of `granted()`
 * after the listening connection came back. Resolves with what stops listening.
 */
export async function listenSecretChanges(
  backend: Backend,
  changed: (name: string) => Promise<void>,
  granted: () => string[],
): Promise<(() => void) | undefined> {
  if (backend.sql?.kind !== 'pg') return undefined
  return backend.sql.listen(SECRETS_CHANNEL, (name) => {
    const names = name === undefined ? granted() : [name]
    for (const n of names) void changed(n).catch(() => undefined)
  })
}
