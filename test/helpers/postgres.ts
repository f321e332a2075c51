/**
 * Server Postgres for tests: each test file gets a database of its own, created on first use and
 * dropped after the file's tests, so no run leaves rows behind in a shared database (the `test`
 * database is a user's, not ours). When the server is down, the tests that need it are skipped
 * with the reason.
 *
 * ```ts
 * const pg = await testPostgres('kv')
 * describeOn(pg, 'kv on server Postgres', () => {
 *   it('...', async () => { const url = await pg.url() })
 * })
 * ```
 */
import { connect } from 'node:net'
import { randomBytes } from 'node:crypto'
import pg from 'pg'
import { afterAll, describe, it, type TestFunction } from 'vitest'
import { processRuns } from '../../src/storage/folder-lock.js'

/** The server, without a database (`FNBOX_TEST_POSTGRES` overrides it). */
export const POSTGRES_SERVER = process.env.FNBOX_TEST_POSTGRES ?? 'postgres://postgres@127.0.0.1:5432'

/** Every database this helper makes is named `fnbox_t_<label>_<pid>_<random>`. */
const PREFIX = 'fnbox_t_'

export interface TestPostgres {
  /** Why server Postgres is unavailable (the tests needing it skip), or `undefined`. */
  readonly skip: string | undefined
  /**
   * The connection string of this file's own database, created on the first call. Another
   * `name` gives another fresh database (all of them dropped after the file's tests).
   */
  url(name?: string): Promise<string>
}

/** Why the server cannot be reached, or `undefined` when it can. */
function unreachable(): Promise<string | undefined> {
  const { hostname, port } = new URL(POSTGRES_SERVER)
  return new Promise((resolve) => {
    const socket = connect(Number(port || 5432), hostname)
    socket.setTimeout(2000)
    socket.once('connect', () => {
      socket.end()
      resolve(undefined)
    })
    socket.once('error', (err) => resolve(`${POSTGRES_SERVER}: ${err.message}`))
    socket.once('timeout', () => {
      socket.destroy()
      resolve(`${POSTGRES_SERVER}: no answer within 2 s`)
    })
  })
}

async function admin<T>(run: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: `${POSTGRES_SERVER}/postgres` })
  await client.connect()
  try {
    return await run(client)
  } finally {
    await client.end()
  }
}

/**
 * Drops a database once the connections to it are gone. `pg`'s pool.end() resolves while its
 * clients are still closing: forcing the drop then would kill them mid-close, and the client
 * would raise the server's "terminating connection" as an unhandled error. So a plain drop is
 * tried for up to 5 s, and only a database still in use after that is dropped by force.
 */
async function drop(client: pg.Client, database: string): Promise<void> {
  for (let attempt = 0; attempt < 100; attempt++) {
    try {
      await client.query(`drop database if exists "${database}"`)
      return
    } catch (err) {
      // 55006: object_in_use (another session is using the database).
      if ((err as { code?: string }).code !== '55006') throw err
      await new Promise((resolve) => setTimeout(resolve, 50))
    }
  }
  await client.query(`drop database if exists "${database}" with (force)`)
}

/** Drops the databases of runs that died before their cleanup (their pid is gone). */
async function dropOrphans(client: pg.Client): Promise<void> {
  const { rows } = await client.query<{ datname: string }>(
    `select datname from pg_database where datname like '${PREFIX}%'`,
  )
  for (const { datname } of rows) {
    const pid = Number(/_(\d+)_[0-9a-f]+$/.exec(datname)?.[1])
    if (Number.isInteger(pid) && !processRuns(pid)) {
      await client.query(`drop database if exists "${datname}" with (force)`).catch(() => undefined)
    }
  }
}

/**
 * A database of this test file's own on server Postgres, dropped (with any connection left
 * open) after the file's tests. Call at the top level of a test file.
 */
export async function testPostgres(label: string): Promise<TestPostgres> {
  const skip = await unreachable()
  if (skip) {
    console.warn(`skipping the server Postgres tests of ${label}: ${skip}`)
    return { skip, url: () => Promise.reject(new Error(`server Postgres is unavailable (${skip})`)) }
  }
  const clean = label
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '_')
    .slice(0, 20)
  const run = `${process.pid}_${randomBytes(4).toString('hex')}`
  const created = new Map<string, Promise<string>>()
  const databaseName = (name: string) => `${PREFIX}${clean}${name ? `_${name}` : ''}_${run}`
  afterAll(async () => {
    for (const [name, made] of created) {
      if (
        !(await made.then(
          () => true,
          () => false,
        ))
      )
        continue
      await admin((client) => drop(client, databaseName(name)))
    }
  })
  return {
    skip: undefined,
    url(name = '') {
      if (!/^[a-z0-9]{0,12}$/.test(name))
        throw new Error(`testPostgres: name ${JSON.stringify(name)} must be [a-z0-9]{0,12}`)
      let made = created.get(name)
      if (!made) {
        made = admin(async (client) => {
          await dropOrphans(client)
          await client.query(`create database "${databaseName(name)}"`)
          return `${POSTGRES_SERVER}/${databaseName(name)}`
        })
        created.set(name, made)
      }
      return made
    },
  }
}

/** What a skipped suite or test is named: its title and why it did not run. */
const skipped = (title: string, why: string) => `${title} (skipped: needs server Postgres, ${why})`

/**
 * `describe(title, fn)` for tests that need `backend` (server Postgres, or a row of the backend
 * matrix): when it is unavailable the suite is skipped and its name says why, so a run without
 * the server lists every test it did not run, and the reason.
 */
export function describeOn(backend: { readonly skip: string | undefined }, title: string, fn: () => void): void {
  if (backend.skip === undefined) describe(title, fn)
  else describe.skip(skipped(title, backend.skip), fn)
}

/** `it(title, fn)` for one test that needs `backend`, as {@link describeOn} for a suite. */
export function itOn(
  backend: { readonly skip: string | undefined },
  title: string,
  fn: TestFunction,
  timeoutMs?: number,
): void {
  if (backend.skip === undefined) it(title, fn, timeoutMs)
  else it.skip(skipped(title, backend.skip), fn)
}
