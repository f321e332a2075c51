/**
 * A runtime's storage: the kv, vector, files and secrets stores over one backend (memory, PGlite
 * or server Postgres), with the user's own adapters in place of any of them, and transactions
 * across kv and vector.
 *
 * @internal
 * @module
 */
import { join } from 'node:path'
import type { Pool } from 'pg'
import { FnboxError } from '../errors.js'
import type {
  FileStore,
  KvStore,
  SealedSecretStore,
  StorageAdapters,
  StorageTransaction,
  VectorStore,
} from '../host/domains/types.js'
import { DiskFileStore, MemoryFileStore } from '../host/files/index.js'
import { KvReadCache, MemoryKvStore, PostgresKvStore } from '../host/kv/index.js'
import { MemorySealedSecretStore, PostgresSealedSecretStore, SecretStore, SecretVault } from '../host/secrets/index.js'
import { MemoryVectorStore, PostgresVectorStore } from '../host/vector/index.js'
import { WriteGate } from './memory-gate.js'
import { openSql, type SqlDatabase } from './sql.js'

/**
 * Where fnbox keeps its data. `'memory'`: in the process, gone at exit (tests). `{ pglite: dir }`:
 * embedded Postgres with pgvector in a folder (`'memory://'` for a throwaway one). `{ postgres }`:
 * a server, by connection string or your own `pg` pool; many hosts may share it.
 *
 * @public
 */
export type StorageOption = 'memory' | { pglite: string } | { postgres: string | Pool }

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
  /** Opens a transaction over kv and vector. */
  transaction(): Promise<StorageTransaction>
  /** Removes expired KV entries; resolves with how many. */
  sweep(): Promise<number>
  close(): Promise<void>
}

export async function openBackend(options: BackendOptions): Promise<Backend> {
  const { adapters } = options
  let sql: SqlDatabase | undefined
  let kv: KvStore
  let vector: VectorStore
  let sealed: SealedSecretStore
  let transaction: () => Promise<StorageTransaction>

  if (options.storage === 'memory') {
    const gate = new WriteGate()
    const memKv = new MemoryKvStore({ gate })
    const memVector = new MemoryVectorStore({ gate })
    kv = memKv
    vector = memVector
    sealed = new MemorySealedSecretStore()
    transaction = async () => {
      const release = await gate.exclusive()
      const t = { kv: memKv.fork(), vector: memVector.fork() }
      let open = true
      const finish = (commit: boolean): Promise<void> => {
        if (!open) return Promise.resolve()
        open = false
        if (commit) {
          memKv.adopt(t.kv)
          memVector.adopt(t.vector)
        }
        release()
        return Promise.resolve()
      }
      return { ...t, commit: () => finish(true), rollback: () => finish(false) }
    }
  } else {
    sql = await openSql(options.storage)
    const db = sql.db
    // The embedded database has one user, this process: hot keys may be read from memory.
    const kvOptions = sql.kind === 'pglite' ? { cache: new KvReadCache() } : {}
    kv = new PostgresKvStore(db, kvOptions)
    vector = new PostgresVectorStore(db)
    sealed = new PostgresSealedSecretStore(db)
    transaction = async () => {
      const trx = await db.startTransaction().execute()
      let open = true
      const finish = async (commit: boolean): Promise<void> => {
        if (!open) return
        open = false
        await (commit ? trx.commit() : trx.rollback()).execute()
      }
      return {
        kv: new PostgresKvStore(trx, kvOptions),
        vector: new PostgresVectorStore(trx),
        commit: () => finish(true),
        rollback: () => finish(false),
      }
    }
  }

  const ownStores = !adapters.kv && !adapters.vector
  const files =
    adapters.files ?? (options.files === 'memory' ? new MemoryFileStore() : new DiskFileStore(options.files))
  let secrets: SecretStore | undefined
  const sweeper = setInterval(() => void (adapters.kv ?? kv).sweep?.().catch(() => undefined), 60_000)
  sweeper.unref()

  return {
    kv: adapters.kv ?? kv,
    vector: adapters.vector ?? vector,
    files,
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
      return transaction()
    },
    async sweep() {
      return (await (adapters.kv ?? kv).sweep?.()) ?? 0
    },
    async close() {
      clearInterval(sweeper)
      await sql?.close()
    },
  }
}

/** The default root of `files` for a storage option. */
export function defaultFilesRoot(storage: StorageOption): string {
  if (storage === 'memory') return 'memory'
  if ('pglite' in storage && storage.pglite.startsWith('memory://')) return 'memory'
  return join('.fnbox', 'files')
}
