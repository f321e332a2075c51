/**
 * A runtime's storage: the kv, vector, files and secrets stores over one backend (memory, PGlite
 * or server Postgres), with the user's own adapters in place of any of them, and transactions
 * across kv and vector.
 *
 * @internal
 * @module
 */
import { join } from 'node:path'
import type { PgPoolLike as Pool } from './pg-pool.js'
import { FnboxError, invalidOption } from '../errors.js'
import type { FileStore, KvStore, StorageAdapters, StorageTransaction, VectorStore } from '../host/domains/types.js'

/** A transaction as the runtime holds it. */
export interface OpenTransaction extends StorageTransaction {
  /**
   * Whether a failed statement has aborted it (Postgres): its commit would only roll back. Asked
   * after a call in it fails, whatever error the store made of the failure.
   */
  aborted(): Promise<boolean>
  /** Enqueues that commit with the transaction (absent when `adapters.jobs` replaces the store). */
  jobs?: JobEnqueuer
}
import { DiskFileStore, MemoryFileStore } from '../host/files/index.js'
// Each store from its own file, not the domains' index files: those also name the Postgres
// stores, which must come only with `sql-backend.ts`, loaded when SQL storage is used.
import { MemoryKvStore } from '../host/kv/memory.js'
import { MemorySealedSecretStore } from '../host/secrets/memory.js'
import { SecretStore } from '../host/secrets/store.js'
import { SecretVault } from '../host/secrets/vault.js'
import { MemoryVectorStore } from '../host/vector/memory.js'
import { checkKeys } from '../options.js'
import { WriteGate } from './memory-gate.js'
import type { BuiltInStores } from './sql-backend.js'
import type { SqlDatabase } from './sql.js'
import type { JobEnqueuer, JobStore } from '../host/jobs/jobs.js'
import { MemoryJobStore } from '../host/jobs/memory-jobs.js'

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
  /** Root folder of `files`, or `'memory'`. */
  files: string
  secretsKey: string | Uint8Array | undefined
  adapters: StorageAdapters
}

export interface Backend {
  readonly kv: KvStore
  readonly vector: VectorStore
  readonly files: FileStore
  /** The secrets store; fails with `ERR_INVALID_OPTION` when no key is configured. */
  secrets(): SecretStore
  /**
   * Domains whose calls may wait for a database connection and start when they get one (the
   * drivers mark the current `StorageCall`); calls of the other stores start when made.
   */
  readonly startsOnConnection: ReadonlySet<string>
  /** The job queue: fnbox's (memory or Postgres) or `adapters.jobs`. */
  readonly jobs: JobStore
  /** Whether `jobs` is fnbox's own store (not `adapters.jobs`): table hooks write to it. */
  readonly ownJobs: boolean
  /** The SQL database (PGlite or server Postgres); absent in memory. */
  readonly sql: SqlDatabase | undefined
  /** Opens a (serializable) transaction over kv, vector and (fnbox's own) jobs. */
  transaction(): Promise<OpenTransaction>
  /** Removes expired KV entries; resolves with how many. */
  sweep(): Promise<number>
  close(): Promise<void>
}

export async function openBackend(options: BackendOptions): Promise<Backend> {
  const { adapters } = options
  const own =
    options.storage === 'memory'
      ? memoryStores()
      : await (await import('./sql-backend.js')).openSqlStores(options.storage)
  const { kv, vector, sealed } = own

  const ownStores = !adapters.kv && !adapters.vector
  const files =
    adapters.files ?? (options.files === 'memory' ? new MemoryFileStore() : new DiskFileStore(options.files))
  let secrets: SecretStore | undefined
  const sweeper = setInterval(() => void (adapters.kv ?? kv).sweep?.().catch(() => undefined), 60_000)
  sweeper.unref()

  const startsOnConnection = new Set<string>()
  if (options.storage !== 'memory') {
    if (!adapters.kv) startsOnConnection.add('kv')
    if (!adapters.vector) startsOnConnection.add('vector')
    if (!adapters.jobs) startsOnConnection.add('jobs')
    if (ownStores) startsOnConnection.add('tx')
  }
  return {
    kv: adapters.kv ?? kv,
    vector: adapters.vector ?? vector,
    jobs: adapters.jobs ?? own.jobs,
    ownJobs: !adapters.jobs,
    sql: own.sql,
    files,
    startsOnConnection,
    secrets() {
      secrets ??= new SecretStore(
        SecretVault.fromKey(options.secretsKey, 'options.secrets.key'),
        adapters.secrets ?? sealed,
      )
      return secrets
    },
    transaction() {
      if (!ownStores) {
        return Promise.reject(
          new FnboxError(
            'ERR_INVALID_OPTION',
            'tx needs the built-in kv and vector stores (options.adapters replaces them)',
          ),
        )
      }
      if (!adapters.jobs) return own.transaction()
      // A user's queue cannot join fnbox's transaction: `tx` enqueues are refused (as for kv).
      return own.transaction().then((t) => ({ ...t, jobs: undefined }))
    },
    async sweep() {
      return (await (adapters.kv ?? kv).sweep?.()) ?? 0
    },
    async close() {
      clearInterval(sweeper)
      await own.close()
    },
  }
}

/** The stores of `storage: 'memory'`: a transaction works on forks, adopted at commit. */
function memoryStores(): BuiltInStores {
  const gate = new WriteGate()
  const kv = new MemoryKvStore({ gate })
  const vector = new MemoryVectorStore({ gate })
  const jobs = new MemoryJobStore({ gate })
  return {
    kv,
    vector,
    jobs,
    sealed: new MemorySealedSecretStore(),
    async transaction() {
      const release = await gate.exclusive()
      const t = { kv: kv.fork(), vector: vector.fork(), jobs: jobs.fork() }
      let open = true
      const finish = (commit: boolean): Promise<void> => {
        if (!open) return Promise.resolve()
        open = false
        if (commit) {
          kv.adopt(t.kv)
          vector.adopt(t.vector)
          jobs.adopt(t.jobs)
        }
        release()
        return Promise.resolve()
      }
      // Exclusive: serializable by construction, and no failure aborts it.
      return { ...t, commit: () => finish(true), rollback: () => finish(false), aborted: () => Promise.resolve(false) }
    },
    close: () => Promise.resolve(),
  }
}

/** The default root of `files` for a storage option. */
export function defaultFilesRoot(storage: StorageOption): string {
  if (storage === 'memory') return 'memory'
  if ('pglite' in storage && storage.pglite.startsWith('memory://')) return 'memory'
  return join('.fnbox', 'files')
}
