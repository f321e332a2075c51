/**
 * A runtime's storage: the store of every domain in the registry over one backend (memory,
 * PGlite or server Postgres), with the user's own adapters in place of any of them, and
 * transactions across the transactional domains.
 *
 * @internal
 * @module
 */
import { readdir } from 'node:fs/promises'
import { join } from 'node:path'
import type { PgPoolLike as Pool } from './pg-pool.js'
import { FnboxError, invalidOption } from '../errors.js'
import type { TransactionalMemoryStore } from '../host/domain.js'
import type { StorageAdapters } from '../host/domains/types.js'
import { OPENED_DOMAINS, TRANSACTIONAL_DOMAINS } from '../host/registry.js'
import { secretsDomain } from '../host/secrets/descriptor.js'
import { SecretStore } from '../host/secrets/store.js'
import type { SealedSecretStore } from '../host/secrets/types.js'
import { SecretVault } from '../host/secrets/vault.js'
import { FILES_IN_DATABASE } from '../host/files/types.js'
import { checkKeys } from '../options.js'
import { WriteGate } from './memory-gate.js'
import { systemClock, type Clock } from '../clock.js'
import type { SqlDatabase } from './sql.js'

/**
 * Where fnbox keeps its data. `'memory'`: in the process, gone at exit (tests). `{ pglite: dir }`:
 * embedded Postgres with pgvector in a folder (`'memory://'` for a throwaway one); one process
 * owns the folder. `{ postgres }`: a server, by connection string or your own `pg` pool; many
 * hosts may share it.
 *
 * Every write acknowledged on PGlite or server Postgres is durable (see the README's table), but
 * on a server the kv table can be made a cache instead: `{ postgres, kv: { unlogged: true } }`
 * skips the write-ahead log (cheaper writes) and a crash of the server empties it. Every host of
 * one database must agree: the host that starts last sets the table's mode.
 *
 * @example
 * ```ts
 * await createRuntime({ storage: { pglite: '.fnbox/pglite' } }) // the default
 * await createRuntime({ storage: { postgres: process.env.DATABASE_URL!, kv: { unlogged: true } } })
 * ```
 * @public
 */
export type StorageOption = 'memory' | { pglite: string } | { postgres: string | Pool; kv?: PostgresKvOptions }

/** How server Postgres keeps the kv table. @public */
export interface PostgresKvOptions {
  /**
   * `true`: an UNLOGGED table, a cache: no write-ahead log, so writes are cheaper, and a crash
   * (or failover) of the server empties it. Default `false`: logged, durable.
   */
  unlogged?: boolean
}

const STORAGE_SHAPE = "'memory', { pglite: dir } or { postgres: url | pool, kv?: { unlogged } }"

/** Checks `options.storage`, naming what is wrong. */
export function resolveStorageOption(value: unknown): StorageOption {
  if (value === 'memory') return value
  if (typeof value !== 'object' || value === null) throw invalidOption('options.storage', STORAGE_SHAPE, value)
  const storage = value as Record<string, unknown>
  if ('pglite' in storage) {
    checkKeys(storage, 'options.storage', ['pglite'])
    if (typeof storage.pglite !== 'string' || storage.pglite === '') {
      throw invalidOption('options.storage.pglite', "a folder or 'memory://'", storage.pglite)
    }
    return { pglite: storage.pglite }
  }
  if ('postgres' in storage) {
    checkKeys(storage, 'options.storage', ['postgres', 'kv'])
    const target = storage.postgres
    const pool = typeof target === 'object' && target !== null && 'connect' in target
    if (!pool && (typeof target !== 'string' || target === '')) {
      throw invalidOption('options.storage.postgres', 'a connection string or a pg Pool', target)
    }
    if (storage.kv === undefined) return { postgres: target as string | Pool }
    const kv = checkKeys(storage.kv, 'options.storage.kv', ['unlogged'])
    if (kv.unlogged !== undefined && typeof kv.unlogged !== 'boolean') {
      throw invalidOption('options.storage.kv.unlogged', 'a boolean', kv.unlogged)
    }
    return { postgres: target as string | Pool, kv: { unlogged: kv.unlogged === true } }
  }
  if ('kv' in storage) {
    throw invalidOption(
      'options.storage.kv',
      'set only with { postgres } (an unlogged kv is a server cache)',
      storage.kv,
    )
  }
  throw invalidOption('options.storage', STORAGE_SHAPE, value)
}

/** Resolved storage options. */
export interface BackendOptions {
  storage: StorageOption
  /** Root folder of `files`, `'memory'`, or `'database'`. */
  files: string
  /**
   * Where files lived by default before they moved into server Postgres (`.fnbox/files`), when
   * `files` was left to its default there: files found in it are warned about, once.
   */
  formerFilesRoot?: string
  secretsKey: string | Uint8Array | undefined
  adapters: StorageAdapters
  /** The time of KV expiries, file dates and the sweeper (the runtime's clock). Default: the system clock. */
  clock?: Clock
}

/** The stores of one domain, in a backend or in a transaction, by domain name. */
export type Stores = ReadonlyMap<string, unknown>

/** A transaction as the runtime holds it: the stores of the transactional domains over it. */
export interface OpenTransaction {
  readonly stores: Stores
  commit(): Promise<void>
  rollback(): Promise<void>
  /**
   * Whether a failed statement has aborted it (Postgres): its commit would only roll back. Asked
   * after a call in it fails, whatever error the store made of the failure.
   */
  aborted(): Promise<boolean>
}

export interface Backend {
  /** Every opened domain's store (the user's adapter, or the built-in one), by domain name. */
  readonly stores: Stores
  /** Domains whose store is the user's (`options.adapters`). */
  readonly adapted: ReadonlySet<string>
  /** The SQL database (PGlite or server Postgres), for what needs SQL itself; absent in memory. */
  readonly sql: SqlDatabase | undefined
  /** The secrets store; fails with `ERR_INVALID_OPTION` when no key is configured. */
  secrets(): SecretStore
  /**
   * Domains whose calls may wait for a database connection and start when they get one (the
   * drivers mark the current `StorageCall`); calls of the other stores start when made.
   */
  readonly startsOnConnection: ReadonlySet<string>
  /** Opens a (serializable) transaction over the transactional domains (kv and vector). */
  transaction(): Promise<OpenTransaction>
  /** Runs every domain's upkeep (expired KV entries); resolves with how many items it removed. */
  sweep(): Promise<number>
  close(): Promise<void>
}

/** The built-in stores of a backend, and what opens a transaction over the transactional ones. */
export interface BuiltInStores {
  /** By domain name; a domain kept outside the database (files) has none here. */
  readonly stores: Stores
  /** The SQL database (PGlite or server Postgres); absent in memory. */
  readonly sql?: SqlDatabase
  transaction(): Promise<OpenTransaction>
  close(): Promise<void>
}

const SWEEP_INTERVAL_MS = 60_000

export async function openBackend(options: BackendOptions): Promise<Backend> {
  const adapters = options.adapters as Readonly<Record<string, unknown>>
  const clock = options.clock ?? systemClock
  const own =
    options.storage === 'memory'
      ? memoryStores(clock)
      : await (await import('./sql-backend.js')).openSqlStores(options.storage, clock)

  if (options.formerFilesRoot !== undefined && adapters.files === undefined) {
    await warnOfFormerFiles(options.formerFilesRoot)
  }
  const stores = new Map<string, unknown>()
  const startsOnConnection = new Set<string>()
  for (const domain of OPENED_DOMAINS) {
    // The user's adapter, else a store the options keep outside the database (files in a
    // folder), else the backend's own.
    const adapter = adapters[domain.name]
    const outside = adapter === undefined ? domain.standalone?.({ files: options.files, clock }) : undefined
    const store = adapter ?? outside ?? own.stores.get(domain.name)
    if (store === undefined) throw new Error(`the ${domain.name} domain has no store on this backend`)
    stores.set(domain.name, store)
    if (store === own.stores.get(domain.name) && options.storage !== 'memory') startsOnConnection.add(domain.name)
  }
  // A transaction spans the built-in stores of every transactional domain.
  const replaced = TRANSACTIONAL_DOMAINS.filter((d) => adapters[d.name] !== undefined).map((d) => d.name)
  if (replaced.length === 0 && options.storage !== 'memory') startsOnConnection.add('tx')

  const sweep = async (): Promise<number> => {
    let removed = 0
    for (const domain of OPENED_DOMAINS) {
      if (domain.sweep) removed += await domain.sweep(stores.get(domain.name))
    }
    return removed
  }
  // Every minute, on the clock (a test moving it sweeps too).
  let sweeper: unknown
  const sweepLater = (): void => {
    sweeper = clock.setTimeout(() => {
      sweepLater()
      void sweep().catch(() => undefined)
    }, SWEEP_INTERVAL_MS)
  }
  sweepLater()
  let secrets: SecretStore | undefined
  return {
    stores,
    adapted: new Set(Object.keys(adapters).filter((name) => adapters[name] !== undefined)),
    sql: own.sql,
    startsOnConnection,
    secrets() {
      secrets ??= new SecretStore(
        SecretVault.fromKey(options.secretsKey, 'options.secrets.key'),
        stores.get(secretsDomain.name) as SealedSecretStore,
      )
      return secrets
    },
    transaction() {
      if (replaced.length > 0) {
        const built = TRANSACTIONAL_DOMAINS.map((d) => d.name).join(' and ')
        return Promise.reject(
          new FnboxError(
            'ERR_INVALID_OPTION',
            `tx needs the built-in ${built} stores (options.adapters replaces them)`,
          ),
        )
      }
      return own.transaction()
    },
    sweep,
    async close() {
      clock.clearTimeout(sweeper)
      await own.close()
    },
  }
}

/** The stores of `storage: 'memory'`: a transaction works on forks, adopted at commit. */
function memoryStores(clock: Clock): BuiltInStores {
  const gate = new WriteGate()
  const stores = new Map<string, unknown>()
  for (const domain of OPENED_DOMAINS) {
    const store = domain.memory?.({ gate, clock })
    if (store !== undefined) stores.set(domain.name, store)
  }
  const forkable = (name: string) => stores.get(name) as TransactionalMemoryStore<unknown>
  return {
    stores,
    async transaction() {
      const release = await gate.exclusive()
      const forks = new Map(TRANSACTIONAL_DOMAINS.map((d) => [d.name, forkable(d.name).fork()]))
      let open = true
      const finish = (commit: boolean): Promise<void> => {
        if (!open) return Promise.resolve()
        open = false
        if (commit) for (const [name, fork] of forks) forkable(name).adopt(fork)
        release()
        return Promise.resolve()
      }
      // Exclusive: serializable by construction, and no failure aborts it.
      return {
        stores: forks,
        commit: () => finish(true),
        rollback: () => finish(false),
        aborted: () => Promise.resolve(false),
      }
    },
    close: () => Promise.resolve(),
  }
}

/**
 * Where `files` live by default for a storage option: with server Postgres in the database
 * (hosts sharing it must share files, not each keep a folder by surprise); with PGlite, which one
 * process owns, in the folder `.fnbox/files` (in memory for a throwaway database); in memory.
 */
export function defaultFilesRoot(storage: StorageOption): string {
  if (storage === 'memory') return 'memory'
  if ('postgres' in storage) return FILES_IN_DATABASE
  if (storage.pglite.startsWith('memory://')) return 'memory'
  return join('.fnbox', 'files')
}

/** Folders already warned about (once per process). */
const warnedFolders = new Set<string>()

/**
 * Before files could live in the database, `.fnbox/files` was the default with server Postgres
 * too: a host upgraded without naming `files` would no longer see what is in it, silently. So a
 * non-empty former folder gets one process warning (`FNBOX_FILES_IN_DATABASE`) naming the option
 * that keeps it.
 */
export async function warnOfFormerFiles(folder: string): Promise<void> {
  if (warnedFolders.has(folder)) return
  const entries = await readdir(folder).catch(() => [])
  if (entries.length === 0) return
  warnedFolders.add(folder)
  process.emitWarning(
    `files now live in the database with server Postgres storage; ${folder} holds files from before, ` +
      `which functions no longer see. Pass createRuntime({ files: ${JSON.stringify(folder)} }) to keep using it.`,
    { code: 'FNBOX_FILES_IN_DATABASE' },
  )
}
