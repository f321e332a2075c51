/**
 * What a data domain is made of, as one descriptor (`src/host/<domain>/descriptor.ts`): its
 * name, its operations (each with its validation and whether guests, transactions and the write
 * accounting see it), how its stores are made on each backend, its migrations and its guest
 * client. The registry (`registry.ts`) lists the descriptors; storage, the data session, the
 * host API, `options.adapters`, the `fnbox:host` module source and `host.d.ts` are derived from
 * it, so a domain is one folder plus one registry entry (see docs/domains.md).
 *
 * Like a kysely dialect, a descriptor only wires parts that live in files of their own, the same
 * file set in every domain folder: `descriptor.ts`, `operations.ts`, `types.ts` (the store
 * interface), `memory.ts`, `postgres.ts`, `sql.ts` (migrations and the SQL store, loaded only
 * with SQL storage), `guest.js` (the guest client) and `guest-types.ts` (its declarations).
 *
 * @internal
 * @module
 */
import type { Kysely, Migration } from 'kysely'
import type { WriteGate } from '../storage/memory-gate.js'
import type { Clock } from '../clock.js'

/** The arguments of a data call, as the guest or the host API sent them (a JSON object). */
export type OperationArgs = Record<string, unknown>

/**
 * One operation of a domain: `run` validates its arguments (typed errors naming the argument,
 * the limit and the value) and calls the store.
 */
export interface Operation<S> {
  run(store: S, scope: string, args: OperationArgs, bytes: Uint8Array | undefined): Promise<unknown>
  /** Guests may call it through `fnbox:host` (default false: host API only, e.g. index management). */
  readonly guest?: boolean
  /** It may run inside `tx` (default false). Only domains whose stores join transactions. */
  readonly transaction?: boolean
  /** It changes data: counted in an invocation's write outcome (default false). */
  readonly write?: boolean
}

/** What the SQL store factory of a domain is given. */
export interface SqlStoreContext {
  /** The database behind it: the embedded one has one user (this process), a server many. */
  readonly kind: 'pglite' | 'pg'
  /** What the domain's `shared` factory made for this database (one per database, e.g. a cache). */
  readonly shared: unknown
  /** The runtime's clock (expiries are dates on its `wallNow()`). */
  readonly clock: Clock
  /** LISTEN on the database (a connection of its own on a server), for stores woken by NOTIFY. */
  readonly listen?: (channel: string, listener: (payload: string | undefined) => void) => Promise<() => void>
}

/** The SQL part of a domain, loaded (with kysely) only when SQL storage is used. */
export interface SqlParts<S> {
  /** Migrations by name; names sort in the order they apply, across every domain (`0002_vector`). */
  readonly migrations: Readonly<Record<string, Migration>>
  /** State shared by every store over one database (its own and its transactions'). */
  shared?(kind: 'pglite' | 'pg', clock: Clock): unknown
  /** The store over the database, or over an open transaction of it. */
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  store?(db: Kysely<any>, context: SqlStoreContext): S
}

/** What the memory store factory of a domain is given. */
export interface MemoryStoreContext {
  /** The memory backend's gate: writes wait while a transaction is open. */
  readonly gate: WriteGate
  /** The runtime's clock. */
  readonly clock: Clock
}

/** What a store kept outside the database (files) is given. */
export interface StandaloneStoreContext {
  /** `options.files`: a root folder, `'memory'`, or `'database'` (the storage's own store). */
  readonly files: string
  /** The runtime's clock. */
  readonly clock: Clock
}

/** A memory store that takes part in transactions (see `memory-gate.ts`). */
export interface TransactionalMemoryStore<S> {
  fork(): S
  adopt(fork: S): void
}

/** The guest side of a domain: an export of `fnbox:host`. */
export interface GuestExport {
  /** The export's name (`import { vector } from 'fnbox:host'`). */
  readonly name: string
  /**
   * The domain's guest client module, relative to `src/host/` (`'./vector/guest.js'`): its default
   * export is `(call, tx) => client`, bundled into the guest prelude's `host` chunk.
   */
  readonly client: string
  /** Its declarations inside `declare module 'fnbox:host'`, ending with the client's interface. */
  readonly types: string
  /** The name of the client's interface in `types` (`FnboxVector`). */
  readonly typeName: string
  /** A line of TSDoc for the export. */
  readonly doc?: string
}

/** A data domain. `S` is its store interface. */
export interface DomainDescriptor<S = unknown> {
  /** The domain's name: the prefix of its methods (`vector.query`) and its key in the registry. */
  readonly name: string
  /** A user's own store may replace the built-in one: `createRuntime({ adapters: { [name]: store } })`. */
  readonly adapter?: boolean
  /** Its operations by name (`query` is the method `vector.query`). */
  readonly operations?: Readonly<Record<string, Operation<S>>>
  /**
   * Its stores join `tx`: the memory store forks and adopts, the SQL store opens over the
   * transaction. A transaction needs every such domain's built-in store.
   */
  readonly transactional?: boolean
  /**
   * The store on `storage: 'memory'`. A transactional domain's also forks and adopts (see
   * {@link TransactionalMemoryStore}).
   */
  memory?(context: MemoryStoreContext): S
  /** The SQL part (PGlite or server Postgres), loaded on first use of SQL storage. */
  sql?(): Promise<SqlParts<S>>
  /**
   * A store kept outside the database (files: a folder, or memory), or `undefined` when the
   * options want the storage's own store (`files: 'database'`): then `memory` or `sql` make it.
   */
  standalone?(context: StandaloneStoreContext): S | undefined
  /** Periodic upkeep of its store (the kv sweeper); resolves with how many items it removed. */
  sweep?(store: S): Promise<number>
  /** Its `fnbox:host` export, if guests use it. */
  readonly guest?: GuestExport
  /**
   * Whether storage opens its store (default true). A domain described but not wired yet still
   * gets its migrations.
   */
  readonly opened?: boolean
}

/** Declares a domain (an identity function that keeps `S` attached for the registry's types). */
export function defineDomain<S>(descriptor: DomainDescriptor<S>): DomainDescriptor<S> {
  return descriptor
}
