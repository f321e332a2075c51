/**
 * The one backend matrix: memory, PGlite (embedded) and server Postgres, defined here once.
 * Every conformance suite (test/conformance/<domain>.test.ts) and every test that runs per
 * backend runs over it. A domain's store on a backend is made by its descriptor, as the runtime
 * makes it, so a suite tests what the runtime runs; {@link TestBackend.runtimeOptions} gives a
 * runtime on the same backend.
 *
 * The one rule for server Postgres: a test uses it when what it tests depends on the backend
 * (then it runs over the whole matrix, server Postgres being one row) or when it tests what only
 * a server has (several hosts or connections, LISTEN across processes, a connection the server
 * ends: then `testPostgres` alone). Either way it works in a database of its test file's own,
 * made by test/helpers/postgres.ts and dropped after the file, and when the server is
 * unreachable its suite is skipped with the reason in the suite's name ({@link describeOn}):
 * never failed, never passed without running. `FNBOX_TEST_POSTGRES` names another server.
 *
 * ```ts
 * for (const backend of await testBackends('kv conformance')) {
 *   describeOn(backend, backend.name, () => {
 *     runKvStoreConformance(async () => {
 *       const opened = await backend.open()
 *       return { store: await opened.store(kvDomain), close: () => opened.close() }
 *     })
 *   })
 * }
 * ```
 */
import { PGlite } from '@electric-sql/pglite'
import { vector as pgvector } from '@electric-sql/pglite-pgvector'
import { PGLiteSocketServer } from '@electric-sql/pglite-socket'
import pg from 'pg'
import type { Kysely } from 'kysely'
import type { RuntimeOptions } from 'fnbox'
import type { DomainDescriptor, SqlStoreContext } from '../../src/host/domain.js'
import { WriteGate } from '../../src/storage/memory-gate.js'
import { systemClock } from '../../src/clock.js'
import { openSql, type SqlConfig, type SqlDatabase } from '../../src/storage/sql.js'
import { testPostgres } from './postgres.js'

export { describeOn, itOn } from './postgres.js'

export type BackendName = 'memory' | 'PGlite' | 'server Postgres'

/** One backend of the matrix, opened on demand. */
export interface TestBackend {
  readonly name: BackendName
  /** Why it is skipped (server Postgres unreachable), or `undefined`. */
  readonly skip: string | undefined
  /** Opens it: a fresh database (or, in memory, fresh stores). */
  open(): Promise<OpenedBackend>
  /**
   * A runtime's storage on this backend: `createRuntime({ ...(await backend.runtimeOptions()) })`.
   * Files stay in memory (they are kept outside the database whatever the storage). On server
   * Postgres every call gives the file's one database.
   */
  runtimeOptions(): Promise<Pick<RuntimeOptions, 'storage' | 'files'>>
}

/** An open backend: the stores of any domain over it. */
export interface OpenedBackend {
  readonly name: BackendName
  /** The database, on PGlite and server Postgres. */
  readonly sql: SqlDatabase | undefined
  /** The memory backend's write gate (transactions), on memory. */
  readonly gate: WriteGate | undefined
  /** `domain`'s built-in store on this backend, made as the runtime makes it. */
  store<S>(domain: DomainDescriptor<S>): Promise<S>
  /** On SQL backends: `domain`'s store over `db` (a transaction), sharing what {@link store}'s shares. */
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  storeOver<S>(domain: DomainDescriptor<S>, db: Kysely<any>): Promise<S>
  close(): Promise<void>
}

export interface TestBackendOptions {
  /**
   * The domain needs pgvector, which the local server may lack: then "server Postgres" is
   * PGlite (with pgvector) behind a Postgres socket, reached through `pg` as a server is.
   */
  pgvector?: boolean
}

/** The matrix, for a test file (`label` names its server database). Call at the top level. */
export async function testBackends(label: string, options: TestBackendOptions = {}): Promise<TestBackend[]> {
  const server = await testPostgres(label)
  const serverVia = options.pgvector && !server.skip && !(await hasPgvector(await server.url())) ? 'socket' : 'server'
  return [
    {
      name: 'memory',
      skip: undefined,
      open: () => Promise.resolve(opened('memory', undefined, undefined)),
      runtimeOptions: () => Promise.resolve({ storage: 'memory' }),
    },
    {
      name: 'PGlite',
      skip: undefined,
      open: () => openDatabase('PGlite', { pglite: 'memory://' }),
      runtimeOptions: () => Promise.resolve({ storage: { pglite: 'memory://' }, files: 'memory' }),
    },
    {
      name: 'server Postgres',
      skip: server.skip,
      async open() {
        if (serverVia === 'socket') return openPgliteBehindSocket()
        return openDatabase('server Postgres', { postgres: await server.url() })
      },
      runtimeOptions: async () => ({ storage: { postgres: await server.url() }, files: 'memory' }),
    },
  ]
}

function opened(
  name: BackendName,
  sql: SqlDatabase | undefined,
  close: (() => Promise<void>) | undefined,
): OpenedBackend {
  const gate = sql ? undefined : new WriteGate()
  // One context per domain and database, as the runtime's backend keeps (a kv read cache).
  const contexts = new Map<string, SqlStoreContext>()
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  const sqlStore = async <S>(domain: DomainDescriptor<S>, db: Kysely<any>): Promise<S> => {
    const parts = await domain.sql?.()
    if (!sql || !parts?.store) throw new Error(`${domain.name} has no SQL store on ${name}`)
    let context = contexts.get(domain.name)
    if (!context)
      contexts.set(
        domain.name,
        (context = { kind: sql.kind, shared: parts.shared?.(sql.kind, systemClock), clock: systemClock }),
      )
    return parts.store(db, context)
  }
  return {
    name,
    sql,
    gate,
    async store<S>(domain: DomainDescriptor<S>): Promise<S> {
      if (sql) return sqlStore(domain, sql.db)
      const store = domain.memory?.({ gate: gate!, clock: systemClock })
      if (store === undefined) throw new Error(`${domain.name} has no memory store`)
      return store
    },
    storeOver: sqlStore,
    close: close ?? (() => Promise.resolve()),
  }
}

async function openDatabase(name: BackendName, config: SqlConfig): Promise<OpenedBackend> {
  const sql = await openSql(config)
  return opened(name, sql, () => sql.close())
}

async function hasPgvector(url: string): Promise<boolean> {
  const client = new pg.Client({ connectionString: url })
  await client.connect()
  try {
    const { rows } = await client.query(`select 1 from pg_available_extensions where name = 'vector'`)
    return rows.length > 0
  } finally {
    await client.end()
  }
}

/** `pg` to PGlite (with pgvector) through a Postgres socket: a server, as the driver sees it. */
async function openPgliteBehindSocket(): Promise<OpenedBackend> {
  const pglite = await PGlite.create({ extensions: { vector: pgvector } })
  const socket = new PGLiteSocketServer({ db: pglite, host: '127.0.0.1', port: 0 })
  await socket.start()
  const port = Number(socket.getServerConn().split(':').at(-1))
  const pool = new pg.Pool({ host: '127.0.0.1', port, user: 'postgres', database: 'postgres', max: 1 })
  const sql = await openSql({ postgres: pool })
  return opened('server Postgres', sql, async () => {
    await sql.close()
    await pool.end()
    await socket.stop()
    await pglite.close()
  })
}
