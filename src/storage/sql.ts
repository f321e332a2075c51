/**
 * Opening the SQL database behind the Postgres-backed domains: one kysely instance over embedded
 * PGlite (with pgvector) or server Postgres through `pg`, migrated before first use.
 *
 * @internal
 * @module
 */
import { createHash } from 'node:crypto'
import { rename, rm, writeFile } from 'node:fs/promises'
import {
  Kysely,
  Migrator,
  PostgresDialect,
  sql,
  type Migration,
  type MigrationProvider,
  type PostgresPoolClient,
} from 'kysely'
import { FnboxError, isFnboxError } from '../errors.js'
import { startStorageCall } from './call-context.js'
import { FolderLock, LOCK_FILE } from './folder-lock.js'
import { dropTarEntries } from './tar.js'
import { loadMigrations } from '../host/registry.js'
import { PgliteDialect } from './pglite-dialect.js'
import { defaultTemplate, PgliteThread } from './pglite-thread.js'
import type { PgPoolClientLike, PgPoolLike as Pool } from './pg-pool.js'
import { PgListener, checkChannel, type ListenClient, type NotificationListener } from './pg-listener.js'
import { makeDir } from './make-dir.js'

/** An open, migrated database. */
export interface SqlDatabase {
  readonly kind: 'pglite' | 'pg'
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  readonly db: Kysely<any>
  /**
   * Calls `listener` with the payload of each NOTIFY on `channel`, and with `undefined` after the
   * listening connection was lost and re-established (notifications sent meanwhile are lost).
   * Resolves once listening (on a server that is down: after a first attempt; it keeps trying).
   * The result stops listening.
   */
  listen(channel: string, listener: NotificationListener): Promise<() => void>
  /** Closes what fnbox opened (a pool or PGlite instance passed in by the user stays open). */
  close(): Promise<void>
}

/** Where the embedded database lives: a folder, or `'memory://'` for a throwaway one. */
export interface PgliteConfig {
  pglite: string
}

/** Server Postgres: a connection string, or the user's own `pg` pool (fnbox never ends it). */
export interface PostgresConfig {
  postgres: string | Pool
  /** `unlogged: true` keeps the kv table UNLOGGED (a cache a server crash empties). */
  kv?: { unlogged?: boolean }
}

export type SqlConfig = PgliteConfig | PostgresConfig

/** Every domain's migrations (see the registry), loaded once. */
let migrations: Promise<Record<string, Migration>> | undefined
const allMigrations = () => (migrations ??= loadMigrations())
const provider: MigrationProvider = { getMigrations: allMigrations }

/** Applies pending migrations; safe to run from several hosts at once (advisory lock). */
export async function migrate(db: Kysely<unknown>): Promise<void> {
  if (await upToDate(db)) return
  const migrator = new Migrator({
    db,
    provider,
    migrationTableName: 'fnbox_migrations',
    migrationLockTableName: 'fnbox_migrations_lock',
  })
  const { error } = await migrator.migrateToLatest()
  if (error) {
    throw new FnboxError('ERR_STORAGE', 'could not migrate the fnbox tables', { cause: error })
  }
}

/**
 * Whether exactly the known migrations are applied: one query, where kysely's migrator (which
 * runs next otherwise) makes a dozen (creating its tables if missing, locking, reading): ~0.15 s
 * of every start on PGlite, ~1 s of a cold one. Any other state (a fresh database, a pending
 * migration, one this version does not know) goes to the migrator.
 */
async function upToDate(db: Kysely<unknown>): Promise<boolean> {
  const known = Object.keys(await allMigrations())
  try {
    const { rows } = await sql<{ name: string }>`select name from fnbox_migrations`.execute(db)
    const applied = new Set(rows.map((row) => row.name))
    return applied.size === known.length && known.every((name) => applied.has(name))
  } catch {
    return false // no history table yet
  }
}

/**
 * Where the template of a migrated database is kept: beside the cluster's template, named by a
 * hash of the migrations (names and code), so a version with other migrations never starts from
 * it. A fresh database loaded from it has every fnbox table: its start skips `initdb` and the
 * migrations (~2.4 s of a 5 s first start on a loaded 2-core machine), and only checks them.
 */
export async function schemaTemplate(): Promise<string | undefined> {
  const cluster = defaultTemplate()
  if (cluster === undefined) return undefined
  const hash = createHash('sha256')
  for (const [name, migration] of Object.entries(await allMigrations()).sort(([a], [b]) => (a < b ? -1 : 1))) {
    hash.update(`${name}\0${String(migration.up)}\0`)
  }
  // `-2-`: templates made before they dropped the folder's lock are never loaded.
  return cluster.replace(/\.tar$/, `-schema-2-${hash.digest('hex').slice(0, 16)}.tar`)
}

/**
 * Writes `pg`'s files as the migrated database's template, once, right after its migrations and
 * before any other statement (so it holds the tables and nothing of anyone's data). Best effort:
 * a cache folder that cannot be written only means the next fresh start migrates again.
 */
async function saveSchemaTemplate(pg: PgliteThread, file: string): Promise<void> {
  const temp = `${file}.${process.pid}.tmp`
  try {
    // Without this folder's lock (nor a lock being written, `fnbox.lock.<token>`): the template
    // is loaded into other folders.
    const bytes = dropTarEntries(await pg.dump(), (path) => path === LOCK_FILE || path.startsWith(`${LOCK_FILE}.`))
    await writeFile(temp, bytes)
    await rename(temp, file)
  } catch {
    await rm(temp, { force: true })
  }
}

/** Opens and migrates the database of `config`. */
export async function openSql(config: SqlConfig): Promise<SqlDatabase> {
  if ('pglite' in config) return openPglite(config.pglite)
  return openPostgres(config.postgres, config.kv?.unlogged === true)
}

/**
 * Makes the kv table logged or UNLOGGED, as this host's options ask. Each switch rewrites the
 * table (under an exclusive lock), so it runs only when the mode differs.
 */
async function setKvPersistence(db: Kysely<unknown>, unlogged: boolean): Promise<void> {
  const { rows } = await sql<{ relpersistence: string }>`
    select relpersistence from pg_class where oid = 'fnbox_kv'::regclass`.execute(db)
  if ((rows[0]?.relpersistence === 'u') === unlogged) return
  await sql.raw(`alter table fnbox_kv set ${unlogged ? 'unlogged' : 'logged'}`).execute(db)
}

async function openPglite(dataDir: string): Promise<SqlDatabase> {
  let lock: FolderLock | undefined
  if (!dataDir.includes('://')) {
    await makeDir(dataDir).catch((cause: unknown) => {
      throw new FnboxError('ERR_STORAGE', `could not make the embedded database's folder ${dataDir}`, { cause })
    })
    // One process per folder: a second one would run a database of its own over the same files.
    lock = await FolderLock.acquire(dataDir)
  }
  let pg: PgliteThread | undefined
  try {
    // Its own thread: statements (and PGlite's start-up) never run on the host's event loop.
    const schema = await schemaTemplate()
    pg = await PgliteThread.open(dataDir, { ...(schema !== undefined ? { schema } : {}) })
    const db = new Kysely<unknown>({ dialect: new PgliteDialect(pg) })
    await migrate(db)
    // A fresh database, migrated here (not loaded from the schema's template): its files are
    // that template, for the next fresh start.
    if (schema !== undefined && pg.origin !== 'existing' && pg.origin !== 'schema') {
      await saveSchemaTemplate(pg, schema)
    }
    const opened = pg
    // One session: LISTEN once per channel, and route what the thread hands over.
    const channels = new Map<string, Set<NotificationListener>>()
    opened.onNotification((channel, payload) => channels.get(channel)?.forEach((fn) => fn(payload)))
    return {
      kind: 'pglite',
      db,
      async listen(channel, listener) {
        let set = channels.get(checkChannel(channel))
        if (!set) {
          set = new Set()
          channels.set(channel, set)
          await opened.query(`listen ${channel}`)
        }
        set.add(listener)
        return () => void set.delete(listener)
      },
      async close() {
        await db.destroy()
        await opened.close()
        await lock?.release()
      },
    }
  } catch (err) {
    await pg?.close()
    await lock?.release()
    throw err
  }
}

async function openPostgres(target: string | Pool, unloggedKv: boolean): Promise<SqlDatabase> {
  let pool: Pool
  let end = (): Promise<void> => Promise.resolve()
  if (typeof target === 'string') {
    const pg = await import('pg')
    const PoolCtor = pg.default?.Pool ?? pg.Pool
    const ownPool = new PoolCtor({ connectionString: target, max: 10 })
    // An idle connection the server ends (restart, failover, pg_terminate_backend) makes the pool
    // emit 'error'; unheard, that would crash the host. The pool drops it and opens a new one.
    ownPool.on('error', () => {})
    pool = ownPool
    end = () => ownPool.end()
  } else {
    pool = target
  }
  const db = new Kysely<unknown>({
    dialect: new PostgresDialect({
      pool: {
        async connect() {
          const client = await pool.connect()
          try {
            // A guest's write cancelled while it waited for a connection never starts.
            startStorageCall()
          } catch (err) {
            client.release()
            throw err
          }
          // kysely's type also has a cursor overload of query, which fnbox never uses.
          return client as PgPoolClientLike & PostgresPoolClient
        },
        // kysely's destroy() ends the pool it was given: never the user's own.
        end,
      },
    }),
  })
  try {
    await migrate(db)
    await setKvPersistence(db, unloggedKv)
  } catch (err) {
    await db.destroy()
    if (isFnboxError(err)) throw err
    throw new FnboxError('ERR_STORAGE', 'could not set up the fnbox tables', { cause: err })
  }
  // A connection of its own, opened at the first `listen`.
  let listener: PgListener | undefined
  const connect = async (): Promise<ListenClient> => {
    if (typeof target !== 'string') return target.connect()
    const pg = await import('pg')
    const ClientCtor = pg.default?.Client ?? pg.Client
    const client = new ClientCtor({ connectionString: target, keepAlive: true, application_name: 'fnbox_listener' })
    // Until the listener takes it over: an 'error' event with no listener would crash the host.
    client.on('error', () => {})
    await client.connect()
    return client
  }
  return {
    kind: 'pg',
    db,
    listen(channel, fn) {
      listener ??= new PgListener({ connect })
      return listener.listen(channel, fn)
    },
    async close() {
      await listener?.close()
      await db.destroy()
    },
  }
}
