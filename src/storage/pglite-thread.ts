/**
 * The embedded database in a thread of its own: PGlite (with pgvector) runs in a worker thread and
 * the host talks to it with messages, so a statement never runs on the host's event loop.
 *
 * PGlite is WebAssembly and synchronous inside: on the main thread every statement (~0.1-0.4 ms,
 * a bulk vector load for minutes) would stall the host app and the routing of every executor's
 * messages. In its own thread the host only pays for the messages.
 *
 * The worker's code is {@link pgliteThreadMain}, passed as source (`eval`), so the same file serves
 * the built package and the sources under test; it imports PGlite by the URL the host resolved.
 * That source must stay self-contained: no imports, no helpers a transpiler could inject.
 *
 * @internal
 * @module
 */
import { constants, existsSync, readFileSync } from 'node:fs'
import { access } from 'node:fs/promises'
import { createRequire } from 'node:module'
import { join, sep } from 'node:path'
import { pathToFileURL } from 'node:url'
import { Worker } from 'node:worker_threads'
import { FnboxError } from '../errors.js'
import { makeDir } from './make-dir.js'
import { createBatcher, type Batch } from '../sandbox/batch.js'

/** What the dialect needs of a PGlite session (an in-process `PGlite` has the same shape). */
export interface PgliteSession {
  query<R>(sql: string, params?: unknown[]): Promise<{ rows: R[]; affectedRows?: number }>
}

type ToThread =
  { t: 'query'; id: number; sql: string; params: unknown[] } | { t: 'close'; id: number } | { t: 'dump'; id: number }

type FromThread =
  | { t: 'ready'; error?: SerializedDbError; origin?: PgliteOrigin }
  | { t: 'result'; id: number; rows: unknown[]; affectedRows?: number }
  | { t: 'error'; id: number; error: SerializedDbError }
  | { t: 'closed'; id: number }
  | { t: 'dumped'; id: number; bytes: Uint8Array }
  | { t: 'notify'; channel: string; payload: string }

/**
 * Where an open database came from: its folder (`'existing'`), the template of a migrated one
 * (`'schema'`), the template of a fresh cluster (`'cluster'`), or `initdb`.
 */
export type PgliteOrigin = 'existing' | 'schema' | 'cluster' | 'initdb'

/** A database error as plain data: its message and fields (`code` is the SQLSTATE). */
type SerializedDbError = Record<string, unknown> & { message: string; name: string }

interface ThreadData {
  dataDir: string
  pglite: string
  vector: string
  /** The tarball of a fresh cluster a new database starts from (made by the first one). */
  template: string | undefined
  /** The tarball of a migrated database a new one starts from, when there is one (see sql.ts). */
  schema: string | undefined
}

interface Pending {
  resolve(value: { rows: unknown[]; affectedRows?: number; bytes?: Uint8Array }): void
  reject(err: unknown): void
}

/** The worker thread's program. Self-contained: it runs from its source text. */
/* c8 ignore start */
function pgliteThreadMain(): void {
  const { parentPort, workerData } = process.getBuiltinModule('node:worker_threads')
  const port = parentPort!
  const data = workerData as ThreadData
  let out: FromThread[] = []
  const send = (msg: FromThread): void => {
    if (out.length === 0) {
      queueMicrotask(() => {
        const msgs = out
        out = []
        port.postMessage({ t: 'batch', msgs })
      })
    }
    out.push(msg)
  }
  const serialize = (err: unknown): SerializedDbError => {
    const fields: SerializedDbError = { name: 'Error', message: String(err) }
    if (err instanceof Error) {
      fields.name = err.name
      fields.message = err.message
      for (const [k, v] of Object.entries(err)) {
        if (v === undefined || v === null || ['string', 'number', 'boolean'].includes(typeof v)) fields[k] = v
      }
    }
    return fields
  }
  interface Db {
    query(sql: string, params: unknown[]): Promise<{ rows: unknown[]; affectedRows?: number }>
    close(): Promise<void>
    onNotification(callback: (channel: string, payload: string) => void): () => void
  }
  // Through a Function: a transpiler (vitest's) would rewrite a literal `import()` in this source.
  type Exports = Record<string, { PGlite?: unknown; vector?: unknown } | undefined>
  const load = new Function('url', 'return import(url)') as (url: string) => Promise<Exports>
  // A fresh database (no cluster in its folder yet) starts from the template: PGlite's `initdb`
  // is most of a first start (3.6 s to a first answer; ~1.0 s from a template). Without one,
  // this start makes it as PGlite itself starts a folder: `initdb` in memory, dumped; the dump
  // is written as the template (atomically; best effort) and loaded. So a template is a pure
  // cluster, never a copy of a folder (which holds its lock file).
  const fs = process.getBuiltinModule('node:fs')
  const template = data.template
  const fresh = data.dataDir.startsWith('memory://') || !fs.existsSync(`${data.dataDir}/PG_VERSION`)
  let origin: PgliteOrigin = fresh ? 'initdb' : 'existing'
  type Lite = Db & { dumpDataDir(c: string): Promise<Blob> }
  const opened: Promise<Lite> = Promise.all([load(data.pglite), load(data.vector)]).then(async ([lite, vec]) => {
    const PGlite = (lite.PGlite ?? lite.default?.PGlite) as {
      create(dir: string, options: unknown): Promise<Lite>
    }
    const extensions = { vector: vec.vector ?? vec.default?.vector }
    // bytea (OID 17) through Node's native hex codec: PGlite's own maps every byte through a
    // JavaScript array and parseInt, ~2 MB/s (a 10 MiB file in the files table took 5.5 s to
    // write and 2 s to read; with these, well under a second).
    const bytea = {
      serializers: {
        17: (value: unknown) => {
          if (!(value instanceof Uint8Array)) throw new Error('Invalid input for bytea type')
          return '\\x' + Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString('hex')
        },
      },
      parsers: { 17: (text: string) => new Uint8Array(Buffer.from(text.slice(2), 'hex')) },
    }
    if (!fresh) return PGlite.create(data.dataDir, { extensions, ...bytea })
    // A migrated database's template first (its tables made), else a fresh cluster's.
    for (const [file, kind] of [
      [data.schema, 'schema'],
      [template, 'cluster'],
    ] as const) {
      if (!file) continue
      let stored: Blob | undefined
      try {
        stored = new Blob([fs.readFileSync(file)])
      } catch {
        continue // none yet (or unreadable)
      }
      const entries = (): string[] => {
        try {
          return data.dataDir.startsWith('memory://') ? [] : fs.readdirSync(data.dataDir)
        } catch {
          return [] // not made yet (PGlite makes it)
        }
      }
      const before = new Set(entries())
      try {
        const db = await PGlite.create(data.dataDir, { extensions, ...bytea, loadDataDir: stored })
        origin = kind
        return db
      } catch {
        // A template that does not load is dropped, with what it left in the (fresh) folder.
        fs.rmSync(file, { force: true })
        for (const entry of entries()) {
          if (!before.has(entry)) fs.rmSync(`${data.dataDir}/${entry}`, { recursive: true, force: true })
        }
      }
    }
    if (!template) return PGlite.create(data.dataDir, { extensions, ...bytea })
    const scratch = await PGlite.create('memory://', {})
    const tar = await scratch.dumpDataDir('none')
    await scratch.close()
    const temp = `${template}.${process.pid}.tmp`
    try {
      fs.mkdirSync(process.getBuiltinModule('node:path').dirname(template), { recursive: true })
      fs.writeFileSync(temp, new Uint8Array(await tar.arrayBuffer()))
      fs.renameSync(temp, template)
    } catch {
      // No template (a read-only cache folder): every fresh start runs initdb, as before.
    } finally {
      fs.rmSync(temp, { force: true })
    }
    return PGlite.create(data.dataDir, { extensions, ...bytea, loadDataDir: tar })
  })
  opened.then(
    (db) => {
      // NOTIFY (after a LISTEN on this session) goes to the host as it arrives.
      db.onNotification((channel, payload) => send({ t: 'notify', channel, payload }))
      send({ t: 'ready', origin })
    },
    (err: unknown) => send({ t: 'ready', error: serialize(err) }),
  )
  port.on('message', (batch: Batch<ToThread>) => {
    for (const msg of batch.msgs) {
      void opened.then(async (db) => {
        if (msg.t === 'close') {
          await db.close().catch(() => undefined)
          send({ t: 'closed', id: msg.id })
          return
        }
        if (msg.t === 'dump') {
          try {
            const tar = await db.dumpDataDir('none')
            send({ t: 'dumped', id: msg.id, bytes: new Uint8Array(await tar.arrayBuffer()) })
          } catch (err) {
            send({ t: 'error', id: msg.id, error: serialize(err) })
          }
          return
        }
        try {
          const res = await db.query(msg.sql, msg.params)
          send({ t: 'result', id: msg.id, rows: res.rows, affectedRows: res.affectedRows })
        } catch (err) {
          send({ t: 'error', id: msg.id, error: serialize(err) })
        }
      })
    }
  })
}
/* c8 ignore stop */

const WORKER_SOURCE = `(${pgliteThreadMain.toString()})()`

/**
 * Where the template of a fresh cluster is kept: `node_modules/.cache/fnbox/`, beside PGlite
 * itself (as trusted as the code that runs it), named by PGlite's and pgvector's versions. In a
 * folder that cannot be written, no template is made and every fresh start runs `initdb`.
 */
export function defaultTemplate(): string | undefined {
  try {
    const require = createRequire(import.meta.url)
    const version = (name: string) => {
      const main = require.resolve(name)
      const root = main.slice(0, main.lastIndexOf(`${sep}dist${sep}`))
      return (JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string }).version
    }
    const main = require.resolve('@electric-sql/pglite')
    const modules = main.slice(0, main.lastIndexOf(`${sep}node_modules${sep}`) + `${sep}node_modules`.length)
    const key = `pglite-${version('@electric-sql/pglite')}-pgvector-${version('@electric-sql/pglite-pgvector')}`
    return join(modules, '.cache', 'fnbox', `${key}.tar`)
  } catch {
    return undefined
  }
}

/** The `Error` a statement failed with in the thread, with its fields (`code`, `detail`, ...). */
function deserialize(fields: SerializedDbError): Error {
  const { message, name, ...rest } = fields
  const err = Object.assign(new Error(message), rest)
  err.name = name
  return err
}

/**
 * PGlite in a worker thread. Statements sent in one tick travel as one message; PGlite runs them
 * in order on its one session (the dialect keeps transactions apart).
 */
export class PgliteThread implements PgliteSession {
  readonly #worker: Worker
  readonly #pending = new Map<number, Pending>()
  #nextId = 1
  /** Why the thread can take no more statements. */
  #dead: FnboxError | undefined
  #closing = false
  /** Where the database came from (see {@link PgliteOrigin}). */
  origin: PgliteOrigin = 'existing'
  readonly #post: (msg: ToThread) => void
  readonly #notify = new Set<(channel: string, payload: string) => void>()

  private constructor(worker: Worker) {
    this.#worker = worker
    this.#post = createBatcher<ToThread>((batch) => worker.postMessage(batch))
  }

  /**
   * Starts the thread and opens the database in `dataDir` (`'memory://'` for a throwaway one).
   * A fresh one starts from `options.schema` (a migrated database's dump, when that file exists),
   * else from `options.template` (default {@link defaultTemplate}; `null`: none).
   */
  static async open(
    dataDir: string,
    options: { template?: string | null; schema?: string } = {},
  ): Promise<PgliteThread> {
    const template = options.template === undefined ? defaultTemplate() : options.template
    // A fresh folder that cannot be made or written fails here, before the thread tries a
    // template: failing to load into it would look like the template's fault, and a template
    // that does not load is dropped (every later fresh start would then pay initdb again).
    if (!dataDir.startsWith('memory://') && !existsSync(join(dataDir, 'PG_VERSION'))) {
      try {
        await makeDir(dataDir)
        await access(dataDir, constants.W_OK)
      } catch (cause) {
        throw new FnboxError('ERR_STORAGE', `could not open the embedded database in ${dataDir}`, { cause })
      }
    }
    const require = createRequire(import.meta.url)
    const workerData: ThreadData = {
      dataDir,
      pglite: pathToFileURL(require.resolve('@electric-sql/pglite')).href,
      vector: pathToFileURL(require.resolve('@electric-sql/pglite-pgvector')).href,
      template: template ?? undefined,
      schema: options.schema,
    }
    const worker = new Worker(WORKER_SOURCE, { eval: true, workerData, name: 'fnbox-pglite' })
    const thread = new PgliteThread(worker)
    // Until the database is open, a failure fails the open; after, the statements in flight.
    let onGone = (_cause: unknown): void => {}
    worker.on('error', (err) => onGone(err))
    worker.on('exit', (code) => onGone(new Error(`the database thread exited with code ${code}`)))
    try {
      await new Promise<void>((resolve, reject) => {
        onGone = reject
        worker.once('message', (batch: Batch<FromThread>) => {
          const ready = batch.msgs[0]
          if (ready?.t === 'ready' && !ready.error) {
            thread.origin = ready.origin ?? 'existing'
            resolve()
          } else
            reject(ready?.t === 'ready' && ready.error ? deserialize(ready.error) : new Error('unexpected message'))
        })
      })
    } catch (cause) {
      onGone = () => {}
      await worker.terminate()
      throw new FnboxError('ERR_STORAGE', `could not open the embedded database in ${dataDir}`, { cause })
    }
    onGone = (cause) => thread.#fail(cause)
    worker.on('message', (batch: Batch<FromThread>) => {
      for (const msg of batch.msgs) thread.#onMessage(msg)
    })
    return thread
  }

  #onMessage(msg: FromThread): void {
    if (msg.t === 'ready') return
    if (msg.t === 'notify') {
      for (const fn of this.#notify) fn(msg.channel, msg.payload)
      return
    }
    const pending = this.#pending.get(msg.id)
    if (!pending) return
    this.#pending.delete(msg.id)
    if (msg.t === 'result') pending.resolve({ rows: msg.rows, affectedRows: msg.affectedRows })
    else if (msg.t === 'dumped') pending.resolve({ rows: [], bytes: msg.bytes })
    else if (msg.t === 'error') pending.reject(deserialize(msg.error))
    else pending.resolve({ rows: [] })
  }

  /** The thread is gone: every statement waiting on it fails, and so will later ones. */
  #fail(cause: unknown): void {
    if (this.#closing) return
    this.#dead ??= new FnboxError('ERR_STORAGE', 'the embedded database thread stopped', { cause })
    for (const pending of this.#pending.values()) pending.reject(this.#dead)
    this.#pending.clear()
  }

  #send(msg: (id: number) => ToThread): Promise<{ rows: unknown[]; affectedRows?: number; bytes?: Uint8Array }> {
    if (this.#dead) return Promise.reject(this.#dead)
    const id = this.#nextId++
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve, reject })
      this.#post(msg(id))
    })
  }

  query<R>(sql: string, params: unknown[] = []): Promise<{ rows: R[]; affectedRows?: number }> {
    return this.#send((id) => ({ t: 'query', id, sql, params })) as Promise<{ rows: R[]; affectedRows?: number }>
  }

  /** The database's files as an uncompressed tarball (PGlite's `dumpDataDir`), after the statements sent before. */
  async dump(): Promise<Uint8Array> {
    const { bytes } = await this.#send((id) => ({ t: 'dump', id }))
    return bytes!
  }

  /** Calls `fn` with each notification of a channel this session listens to; the result stops it. */
  onNotification(fn: (channel: string, payload: string) => void): () => void {
    this.#notify.add(fn)
    return () => this.#notify.delete(fn)
  }

  /** Closes the database (after the statements sent before) and stops the thread. */
  async close(): Promise<void> {
    if (!this.#dead) {
      await this.#send((id) => ({ t: 'close', id })).catch(() => undefined)
      this.#dead = new FnboxError('ERR_STORAGE', 'the embedded database is closed')
    }
    this.#closing = true
    await this.#worker.terminate()
  }
}
