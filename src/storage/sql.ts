/**
 * Opening the SQL database behind the Postgres-backed domains: one kysely instance over embedded
 * PGlite (with pgvector) or server Postgres through `pg`, migrated before first use.
 *
 * @internal
 * @module
 */
import { mkdir } from 'node:fs/promises'
import { Kysely, Migrator, PostgresDialect, type MigrationProvider } from 'kysely'
import type { Pool } from 'pg'
import { FnboxError } from '../errors.js'
import { MIGRATIONS } from './migrations.js'
import { PgliteDialect } from './pglite-dialect.js'
import { PgliteThread } from './pglite-thread.js'
import { PgListener, checkChannel, type ListenClient, type NotificationListener } from './pg-listener.js'

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
}

export type SqlConfig = PgliteConfig | PostgresConfig

const provider: MigrationProvider = { getMigrations: () => Promise.resolve(MIGRATIONS) }

/** Applies pending migrations; safe to run from several hosts at once (advisory lock). */
export async function migrate(db: Kysely<unknown>): Promise<void> {
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

/** Opens and migrates the database of `config`. */
export async function openSql(config: SqlConfig): Promise<SqlDatabase> {
  if ('pglite' in config) return openPglite(config.pglite)
  return openPostgres(config.postgres)
}

async function openPglite(dataDir: string): Promise<SqlDatabase> {
  if (!dataDir.includes('://')) await mkdir(dataDir, { recursive: true })
  // Its own thread: statements (and PGlite's start-up) never run on the host's event loop.
  const pg = await PgliteThread.open(dataDir)
  const db = new Kysely<unknown>({ dialect: new PgliteDialect(pg) })
  try {
    await migrate(db)
  } catch (err) {
    await pg.close()
    throw err
  }
  // One session: LISTEN once per channel, and route what the thread hands over.
  const channels = new Map<string, Set<NotificationListener>>()
  pg.onNotification((channel, payload) => channels.get(channel)?.forEach((fn) => fn(payload)))
  return {
    kind: 'pglite',
    db,
    async listen(channel, listener) {
      let set = channels.get(checkChannel(channel))
      if (!set) {
        set = new Set()
        channels.set(channel, set)
        await pg.query(`listen ${channel}`)
      }
      set.add(listener)
      return () => void set.delete(listener)
    },
    async close() {
      await db.destroy()
      await pg.close()
    },
  }
}

async function openPostgres(target: string | Pool): Promise<SqlDatabase> {
  const own = typeof target === 'string'
  let pool: Pool
  if (typeof target === 'string') {
    const pg = await import('pg')
    const PoolCtor = pg.default?.Pool ?? pg.Pool
    pool = new PoolCtor({ connectionString: target, max: 10 })
    // An idle connection the server ends (restart, failover, pg_terminate_backend) makes the pool
    // emit 'error'; unheard, that would crash the host. The pool drops it and opens a new one.
    pool.on('error', () => {})
  } else {
    pool = target
  }
  const db = new Kysely<unknown>({
    dialect: new PostgresDialect({
      // kysely's destroy() ends the pool it was given: hand it a wrapper when the pool is the user's.
      pool: own ? pool : { connect: () => pool.connect(), end: () => Promise.resolve() },
    }),
  })
  try {
    await migrate(db)
  } catch (err) {
    await db.destroy()
    throw err
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
