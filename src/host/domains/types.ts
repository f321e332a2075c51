import type { JobStore } from '../jobs/jobs.js'

/**
 * The host data domains as interfaces: what an adapter implements, what `runtime.kv` & co. and the
 * guest's `fnbox:host` module call. fnbox ships memory and Postgres (PGlite or `pg`, through
 * kysely) implementations; `createRuntime({ adapters })` takes a user's own.
 *
 * Every method takes the data **scope** first: the namespace a function's data lives in
 * (`deploy(name, { scope })`, `'default'` unless set). Adapters keep scopes apart; they never
 * see which function called. Arguments reach an adapter validated (types, sizes; see
 * `validate.ts`), so an adapter checks only what depends on its stored state (a vector's
 * dimension against its index, say).
 *
 * @module
 */
import type { FileStore } from '../files/types.js'
import type { KvStore } from '../kv/types.js'
import type { SealedSecretStore } from '../secrets/types.js'
import type { VectorStore } from '../vector/types.js'

/** A JSON value: what KV values and vector metadata are made of. @public */
export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue }

// ---- Transactions -----------------------------------------------------------------------------

/** The stores of one open transaction: their writes become visible together on commit. @public */
export interface StorageTransaction {
  kv: KvStore
  vector: VectorStore
  commit(): Promise<void>
  rollback(): Promise<void>
}

/**
 * The adapters a runtime uses; see `createRuntime({ adapters })`. Its keys are the registry's
 * domains with `adapter: true` (`registry.ts` checks that they agree).
 *
 * @public
 */
export interface StorageAdapters {
  kv?: KvStore
  vector?: VectorStore
  files?: FileStore
  secrets?: SealedSecretStore
  /** Your own job queue (see {@link JobStore}); `tx` enqueues are then refused. */
  jobs?: JobStore
}
