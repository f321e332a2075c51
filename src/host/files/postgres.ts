/**
 * Files in the database (PGlite or server Postgres), so every host of one server Postgres reads
 * what any of them wrote: `createRuntime({ files: 'database' })`, the default with server
 * Postgres storage (see docs/jobs.md#files-across-hosts).
 *
 * Two tables (migration `0012_files`): `fnbox_files` holds each file's facts and names its blob,
 * `fnbox_file_chunks` the blob's bytes in rows of {@link FILE_CHUNK_BYTES}. Chunks, because a
 * 16 MiB file as one `bytea` would be one 16 MiB parameter going in and one 32 MiB hex string
 * coming out of `pg`; in chunks, every piece on the way is at most a chunk (twice that as hex),
 * and only the file handed to the caller is whole.
 *
 * - **write**: one transaction stages the new blob's chunks, then (under an advisory lock of the
 *   path's first segment, which every write that could conflict with it shares) checks that no
 *   folder on its way is a file and the path is no folder, points the file at the new blob and
 *   deletes the old one. Readers see the old file or the new one, never a mix; a failed write
 *   leaves nothing behind.
 * - **read**: one statement (one snapshot) returns the file's size and its chunks in order.
 * - **delete**: one statement removes the file and its chunks.
 *
 * @module
 */
import { randomUUID } from 'node:crypto'
import { CompiledQuery, type Kysely } from 'kysely'
import { FnboxError, isFnboxError } from '../../errors.js'
import { successor } from '../domains/code-points.js'
import { systemClock, type Clock } from '../../clock.js'
import { fileListPage, fileListQuery } from './list.js'
import { normalizeFilePath, parentFolders, writeConflict } from './path.js'
import type { FileInfo, FileListOptions, FileListResult, FileStore } from './types.js'

/** Bytes per chunk row. */
export const FILE_CHUNK_BYTES = 512 * 1024

/** The first argument of the advisory locks of file writes (the second: a hash of the path's first segment). */
const LOCK_CLASS = 0x666e6266 // 'fnbf'

const INSERT_CHUNK = `insert into fnbox_file_chunks (blob, n, data) values ($1, $2, $3)`

const LOCK = `select pg_advisory_xact_lock(${LOCK_CLASS}, hashtext($1))`

// $1 scope, $2 path, $3 size, $4 modified_at, $5 blob, $6 the path's folders, $7..$8 the range
// of paths under it as a folder. A conflict changes nothing and names the file in the way, or
// the path itself when it is a folder. Otherwise the file points at the new blob and the old
// blob's chunks go. `for update` waits for a delete of the file that is under way.
const SWAP = `with conflict as (
  select path from fnbox_files
  where scope = $1 and (path = any($6::text[]) or (path >= $7 and path < $8))
  limit 1
), old as (
  select blob from fnbox_files
  where scope = $1 and path = $2 and not exists (select 1 from conflict)
  for update
), upserted as (
  insert into fnbox_files (scope, path, size, modified_at, blob)
  select $1, $2, $3, $4, $5 where not exists (select 1 from conflict)
  on conflict (scope, path) do update
  set size = excluded.size, modified_at = excluded.modified_at, blob = excluded.blob
  returning 1
), dropped as (
  delete from fnbox_file_chunks where blob in (select blob from old)
)
select (select path from conflict) as conflict`

// A left join: an empty file has no chunk but one row (n null); a missing file no row.
const READ = `select f.size, c.n, c.data from fnbox_files f
left join fnbox_file_chunks c on c.blob = f.blob
where f.scope = $1 and f.path = $2
order by c.n`

const STAT = `select size, modified_at from fnbox_files where scope = $1 and path = $2`

const DELETE = `with gone as (
  delete from fnbox_files where scope = $1 and path = $2 returning blob
), dropped as (
  delete from fnbox_file_chunks where blob in (select blob from gone)
)
select count(*)::int as n from gone`

interface ReadRow {
  size: string | number | bigint
  n: number | null
  data: Uint8Array | null
}

interface InfoRow {
  path?: string
  size: string | number | bigint
  modified_at: string | number | bigint
}

/**
 * A {@link FileStore} in Postgres. Paths are checked again here (the store is public and may
 * be called directly); scope names may be any string (see {@link scopeKey}).
 *
 * @public
 */
export class PostgresFileStore implements FileStore {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  readonly #db: Kysely<any>
  /** Dates files' `modifiedAt` (the runtime's clock, as the other stores do). */
  readonly #clock: Clock

  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  constructor(db: Kysely<any>, options: { clock?: Clock } = {}) {
    this.#db = db
    this.#clock = options.clock ?? systemClock
  }

  async read(scope: string, path: string): Promise<Uint8Array | undefined> {
    const normalized = normalizeFilePath(path)
    const rows = await guard('read', normalized, () =>
      this.#rows<ReadRow>(this.#db, READ, [scopeKey(scope), normalized]),
    )
    if (rows.length === 0) return undefined
    const size = Number(rows[0]!.size)
    const out = new Uint8Array(size)
    let at = 0
    for (const row of rows) {
      if (row.data === null) continue
      if (at + row.data.byteLength > size) break
      out.set(row.data, at)
      at += row.data.byteLength
    }
    if (at !== size) {
      throw new FnboxError(
        'ERR_STORAGE',
        `could not read file "${normalized}" (its chunks hold ${at} of ${size} bytes)`,
      )
    }
    return out
  }

  async write(scope: string, path: string, data: Uint8Array): Promise<FileInfo> {
    const normalized = normalizeFilePath(path)
    const key = scopeKey(scope)
    const modifiedAt = this.#clock.wallNow()
    const blob = randomUUID()
    const folders = parentFolders(normalized)
    await guard('write', normalized, () =>
      this.#transaction(async (trx) => {
        for (let n = 0, at = 0; at < data.byteLength; n++, at += FILE_CHUNK_BYTES) {
          const chunk = data.subarray(at, Math.min(at + FILE_CHUNK_BYTES, data.byteLength))
          await this.#rows(trx, INSERT_CHUNK, [blob, n, Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength)])
        }
        await this.#rows(trx, LOCK, [`${key}/${normalized.split('/', 1)[0]}`])
        const [row] = await this.#rows<{ conflict: string | null }>(trx, SWAP, [
          key,
          normalized,
          data.byteLength,
          modifiedAt,
          blob,
          folders,
          `${normalized}/`,
          `${normalized}0`, // '0' follows '/': every path under the folder sorts before it
        ])
        const taken = row?.conflict ?? null
        // Throwing rolls the staged chunks back.
        if (taken !== null) {
          const folder = taken.startsWith(`${normalized}/`)
          throw writeConflict(normalized, folder ? 'it is a folder' : `"${taken}" is a file`)
        }
      }),
    )
    return { path: normalized, size: data.byteLength, modifiedAt }
  }

  async stat(scope: string, path: string): Promise<FileInfo | undefined> {
    const normalized = normalizeFilePath(path)
    const [row] = await guard('stat', normalized, () =>
      this.#rows<InfoRow>(this.#db, STAT, [scopeKey(scope), normalized]),
    )
    return row && info(normalized, row)
  }

  async list(scope: string, options?: FileListOptions): Promise<FileListResult> {
    const query = fileListQuery(options)
    let select = this.#db
      .selectFrom('fnbox_files')
      .select(['path', 'size', 'modified_at'])
      .where('scope', '=', scopeKey(scope))
    const upper = successor(query.prefix)
    if (query.prefix !== '') select = select.where('path', '>=', query.prefix)
    if (upper !== undefined) select = select.where('path', '<', upper)
    if (query.after !== undefined) select = select.where('path', '>', query.after)
    const rows = (await guard('list', undefined, () =>
      select
        .orderBy('path')
        .limit(query.limit + 1)
        .execute(),
    )) as InfoRow[]
    return fileListPage(
      rows.map((row) => info(row.path!, row)),
      query.limit,
    )
  }

  async delete(scope: string, path: string): Promise<boolean> {
    const normalized = normalizeFilePath(path)
    const [row] = await guard('delete', normalized, () =>
      this.#rows<{ n: number }>(this.#db, DELETE, [scopeKey(scope), normalized]),
    )
    return (row?.n ?? 0) > 0
  }

  /** `work` in a transaction of its own (or in the one the store is over). */
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  #transaction<T>(work: (trx: Kysely<any>) => Promise<T>): Promise<T> {
    return this.#db.isTransaction ? work(this.#db) : this.#db.transaction().execute(work)
  }

  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  async #rows<R>(db: Kysely<any>, text: string, parameters: unknown[]): Promise<R[]> {
    return (await db.executeQuery<R>(CompiledQuery.raw(text, parameters))).rows
  }
}

/**
 * The scope as stored: any string, injectively as text Postgres can hold. `\`, U+0000 and lone
 * surrogates become `\` and four hex digits of the UTF-16 unit; every other character is itself,
 * so the scopes the runtime passes (well-formed, no U+0000) read as typed unless they hold `\`.
 */
export function scopeKey(scope: string): string {
  return scope.replace(/[\\\0]|\p{Cs}/gu, (c) => '\\' + c.charCodeAt(0).toString(16).padStart(4, '0'))
}

function info(path: string, row: InfoRow): FileInfo {
  return { path, size: Number(row.size), modifiedAt: Number(row.modified_at) }
}

/** A database failure becomes `ERR_STORAGE` naming the file, the driver's error kept as `cause`. */
async function guard<T>(operation: string, path: string | undefined, run: () => Promise<T>): Promise<T> {
  try {
    return await run()
  } catch (cause) {
    if (isFnboxError(cause)) throw cause
    const what = path === undefined ? 'files' : `file "${path}"`
    throw new FnboxError('ERR_STORAGE', `could not ${operation} ${what}`, { cause })
  }
}
