/**
 * Files on the local disk, one folder per scope under a root. Paths arrive normalized
 * ({@link normalizeFilePath}), and the store checks them again anyway: it is the last line
 * between a hostile guest and the host's file system.
 *
 * @module
 */
import { createHash, randomBytes } from 'node:crypto'
import { constants, type Dirent, type Stats } from 'node:fs'
import { lstat, mkdir, open, readdir, realpath, rename, rmdir, unlink } from 'node:fs/promises'
import { join, resolve, sep } from 'node:path'
import { FnboxError, invalidOption, isFnboxError } from '../../errors.js'
import type { FileInfo, FileListOptions, FileListResult, FileStore } from './types.js'
import { compareCodePoints } from '../domains/code-points.js'
import { type FileListQuery, fileListPage, fileListQuery, matchesFileQuery } from './list.js'
import { normalizeFilePath, prefixFolder, writeConflict } from './path.js'
import { makeDir } from '../../storage/make-dir.js'

/** Where writes are staged, in the root: scope folders start with `s` or `h`, so never this. */
const TEMP_FOLDER = '.tmp'
/** Scope names up to this many hex digits (100 UTF-8 bytes) stay readable as folder names. */
const MAX_HEX_SCOPE = 200
/** Tries of a write whose folder vanished (a concurrent delete removed it) or was never checked. */
const WRITE_ATTEMPTS = 3

// O_NOFOLLOW: a symbolic link as last component fails to open. O_NONBLOCK: a FIFO planted in
// the root cannot hang a read (regular files ignore the flag). Both are absent on Windows.
const READ_FLAGS = constants.O_RDONLY | (constants.O_NOFOLLOW ?? 0) | (constants.O_NONBLOCK ?? 0)
const TEMP_FLAGS = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | (constants.O_NOFOLLOW ?? 0)

/** Where one path lives on disk. */
interface Location {
  /** The normalized guest path. */
  path: string
  /** The real (symlink-free) root. */
  root: string
  /** The scope's folder. */
  scope: string
  /** The folder the file is in (the scope's folder for a top-level file). */
  folder: string
  /** The file. */
  file: string
  /** The path's folder segments (`a/b/c.txt` → `['a', 'b']`). */
  parents: string[]
}

/**
 * A {@link FileStore} on the local disk. Scope `s` lives in `<root>/s<hex of s's UTF-8>` (or, for
 * names over 100 bytes or not well-formed, `<root>/h<sha-256>`): a scope name is never used as
 * a path, and hex survives case-insensitive file systems.
 *
 * Symbolic links are not part of the store: a link anywhere under the root (planted by someone
 * with access to the host; the store never makes one) is invisible. Reading, stat-ing or
 * deleting through it answers "no such file" (the link and its target are left alone), `list`
 * skips it, and a write whose path runs through or onto it fails with `ERR_INVALID_ARGUMENT`,
 * as a write onto a folder does. Each folder on the way is checked (its real path must be its
 * plain path under the real root) and the file is opened with `O_NOFOLLOW`. Node has no
 * `openat`, so a link swapped in by a local process *between* that check and the use can still
 * win the race; a guest cannot make links, so only the host's own users could try.
 *
 * A write goes to a fresh file in `<root>/.tmp`, then is renamed over the target: readers see
 * the old bytes or the new, never a mix, and of concurrent writers the last rename wins. Before
 * a write or delete resolves, the file and the folders whose entries changed are `fsync`ed, so
 * an acknowledged change survives a crash of the process and a power cut (on file systems that
 * honour fsync). Stale files in `.tmp` (from a crash) are safe to delete while no write is
 * running. `delete` removes the folders it leaves empty, up to the scope's folder.
 *
 * Unexpected file system errors become `ERR_STORAGE`, whose message names the guest's path and
 * the error code only; the host path stays in `cause`.
 *
 * @public
 */
export class DiskFileStore implements FileStore {
  readonly #root: string
  #realRoot: Promise<string> | undefined

  /** @param root - The folder holding every scope's files; created on first use. */
  constructor(root: string) {
    if (typeof root !== 'string' || root === '') throw invalidOption('root', 'a folder path', root)
    this.#root = resolve(root)
  }

  read(scope: string, path: string): Promise<Uint8Array | undefined> {
    return guard('read', path, async () => {
      const at = await this.#locate(scope, path)
      if (!(await isLinkFree(at.folder))) return undefined
      let handle
      try {
        handle = await open(at.file, READ_FLAGS)
      } catch (err) {
        if (isAbsent(err)) return undefined
        throw err
      }
      try {
        if (!(await handle.stat()).isFile()) return undefined
        const data = await handle.readFile()
        return new Uint8Array(data.buffer, data.byteOffset, data.byteLength)
      } finally {
        await handle.close()
      }
    })
  }

  write(scope: string, path: string, data: Uint8Array): Promise<FileInfo> {
    return guard('write', path, async () => {
      const at = await this.#locate(scope, path)
      for (let attempt = 1; ; attempt++) {
        try {
          // Usually the folders exist: one realpath proves them link-free, and the folder-by-folder
          // walk (which also says which one is in the way) runs only when that fails or on a retry.
          if (attempt > 1 || !(await isLinkFree(at.folder))) await makeFolders(at)
          return await replace(at, data)
        } catch (err) {
          // ENOENT: a concurrent delete removed an emptied folder. ENOTDIR: a file is on the way.
          const retry = code(err) === 'ENOENT' || code(err) === 'ENOTDIR'
          if (!isFnboxError(err) && retry && attempt < WRITE_ATTEMPTS) continue
          await removeEmptyFolders(at)
          throw err
        }
      }
    })
  }

  stat(scope: string, path: string): Promise<FileInfo | undefined> {
    return guard('stat', path, async () => {
      const at = await this.#locate(scope, path)
      if (!(await isLinkFree(at.folder))) return undefined
      const stats = await lstatIfPresent(at.file)
      return stats?.isFile() ? info(at.path, stats) : undefined
    })
  }

  list(scope: string, options?: FileListOptions): Promise<FileListResult> {
    return guard('list', undefined, async () => {
      const query = fileListQuery(options)
      const start = prefixFolder(query.prefix)
      const folder = join(await this.#scopeFolder(scope), ...(start ? start.split('/') : []))
      const found: FileInfo[] = []
      if (await isLinkFree(folder)) await walk(folder, start, query, found)
      return fileListPage(found, query.limit)
    })
  }

  delete(scope: string, path: string): Promise<boolean> {
    return guard('delete', path, async () => {
      const at = await this.#locate(scope, path)
      if (!(await isLinkFree(at.folder))) return false
      if (!(await lstatIfPresent(at.file))?.isFile()) return false
      try {
        await unlink(at.file)
      } catch (err) {
        if (isAbsent(err)) return false
        throw err
      }
      await syncFolder(at.folder)
      await removeEmptyFolders(at)
      return true
    })
  }

  /** The root's real path, made (with its temp folder) on first use. */
  #real(): Promise<string> {
    this.#realRoot ??= (async () => {
      await makeDir(this.#root)
      const root = await realpath(this.#root)
      await ensureFolder(join(root, TEMP_FOLDER), () => new Error('the temp folder is not a folder'))
      return root
    })().catch((err: unknown) => {
      this.#realRoot = undefined
      throw err
    })
    return this.#realRoot
  }

  async #scopeFolder(scope: string): Promise<string> {
    return join(await this.#real(), scopeFolderName(scope))
  }

  async #locate(scope: string, path: string): Promise<Location> {
    const normalized = normalizeFilePath(path)
    const root = await this.#real()
    const scopeFolder = join(root, scopeFolderName(scope))
    const segments = normalized.split('/')
    const file = resolve(scopeFolder, ...segments)
    // Defence in depth: normalization already excludes every way out of the scope's folder.
    if (!file.startsWith(scopeFolder + sep)) {
      throw new FnboxError('ERR_INVALID_ARGUMENT', `path "${normalized}" leaves its scope`, {
        details: { argument: 'path' },
      })
    }
    const parents = segments.slice(0, -1)
    return { path: normalized, root, scope: scopeFolder, folder: join(scopeFolder, ...parents), file, parents }
  }
}

function scopeFolderName(scope: string): string {
  const utf8 = Buffer.from(scope, 'utf8')
  const hex = utf8.toString('hex')
  if (hex.length <= MAX_HEX_SCOPE && utf8.toString('utf8') === scope) return `s${hex}`
  return `h${createHash('sha256').update(Buffer.from(scope, 'utf16le')).digest('hex')}`
}

/** Makes the scope's folder and the path's folders, refusing anything on the way that is not a plain folder. */
async function makeFolders(at: Location): Promise<void> {
  if (await ensureFolder(at.scope, () => new Error('the scope folder is not a folder'))) await syncFolder(at.root)
  let folder = at.scope
  for (const [index, name] of at.parents.entries()) {
    const parent = folder
    folder = join(folder, name)
    const blocker = at.parents.slice(0, index + 1).join('/')
    // A new folder's entry lives in its parent: synced, or a power cut could lose the folder.
    if (await ensureFolder(folder, () => writeConflict(at.path, `"${blocker}" is not a folder`))) {
      await syncFolder(parent)
    }
  }
  // The walk saw plain folders; the real path says no link was swapped in meanwhile.
  if (!(await isLinkFree(at.folder))) throw writeConflict(at.path, 'a folder on its way is not a folder')
}

/** Makes the folder unless it exists (as a plain folder); true when it made it. */
async function ensureFolder(folder: string, conflict: () => Error): Promise<boolean> {
  try {
    await mkdir(folder)
    return true
  } catch (err) {
    if (code(err) !== 'EEXIST') throw err
    // lstat: a link to a folder is not a folder here.
    if (!(await lstat(folder)).isDirectory()) throw conflict()
    return false
  }
}

/**
 * Flushes a folder's entries (a rename, a new or removed name in it) to the disk. Windows cannot
 * open a folder for that; NTFS journals its metadata.
 */
async function syncFolder(folder: string): Promise<void> {
  if (process.platform === 'win32') return
  const handle = await open(folder, constants.O_RDONLY | (constants.O_DIRECTORY ?? 0))
  try {
    await handle.sync()
  } finally {
    await handle.close()
  }
}

/** Writes `data` to a temp file and renames it over the target. */
async function replace(at: Location, data: Uint8Array): Promise<FileInfo> {
  const { path } = at
  const existing = await lstatIfPresent(at.file)
  if (existing && !existing.isFile()) {
    throw writeConflict(path, existing.isDirectory() ? 'it is a folder' : 'it is not a regular file')
  }
  const temp = join(at.root, TEMP_FOLDER, randomBytes(16).toString('hex'))
  try {
    const handle = await open(temp, TEMP_FLAGS, 0o666)
    let stats: Stats
    try {
      await handle.writeFile(data)
      // The bytes reach the disk before the name does: a crash never leaves an empty file.
      await handle.sync()
      stats = await handle.stat()
    } finally {
      await handle.close()
    }
    await rename(temp, at.file)
    await syncFolder(at.folder)
    return info(path, stats)
  } catch (err) {
    await unlink(temp).catch(() => undefined)
    if (code(err) === 'EISDIR') throw writeConflict(path, 'it is a folder')
    throw err
  }
}

/** Removes the path's folders that are empty, deepest first, never the scope's folder. Best effort. */
async function removeEmptyFolders(at: Location): Promise<void> {
  for (let depth = at.parents.length; depth > 0; depth--) {
    try {
      // rmdir never follows a link and fails on a non-empty folder: both end the climb.
      await rmdir(join(at.scope, ...at.parents.slice(0, depth)))
    } catch {
      return
    }
  }
}

/**
 * Adds to `found`, in path order, the files under `folder` (guest path `base`) that match the
 * query, until it holds `limit + 1`. Folders that cannot hold a match are not entered.
 */
async function walk(folder: string, base: string, query: FileListQuery, found: FileInfo[]): Promise<void> {
  let entries: Dirent[]
  try {
    entries = await readdir(folder, { withFileTypes: true })
  } catch (err) {
    if (isAbsent(err)) return
    throw err
  }
  // A folder sorts as `name/`: its files' paths continue with "/", which orders them among siblings.
  const sorted = entries
    .filter((entry) => entry.isFile() || entry.isDirectory()) // links, FIFOs, sockets: never
    .map((entry) => ({ entry, path: base ? `${base}/${entry.name}` : entry.name }))
    .map((item) => ({ ...item, key: item.entry.isDirectory() ? `${item.path}/` : item.path }))
    .sort((a, b) => compareCodePoints(a.key, b.key))
  for (const { entry, path, key } of sorted) {
    if (found.length > query.limit) return
    // Names the store could not have written (made by hand on the host) are not files of the store.
    if (!isStorePath(path)) continue
    if (entry.isDirectory()) {
      if (mayHoldMatches(key, query)) await walk(join(folder, entry.name), path, query, found)
    } else if (matchesFileQuery(path, query)) {
      const stats = await lstatIfPresent(join(folder, entry.name))
      if (stats?.isFile()) found.push(info(path, stats))
    }
  }
}

/** Whether a folder (`a/b/`) can hold paths that match the prefix and come after the cursor. */
function mayHoldMatches(folder: string, query: FileListQuery): boolean {
  const { prefix, after } = query
  if (!folder.startsWith(prefix) && !prefix.startsWith(folder)) return false
  return after === undefined || after.startsWith(folder) || compareCodePoints(folder, after) > 0
}

function isStorePath(path: string): boolean {
  try {
    return normalizeFilePath(path) === path
  } catch {
    return false
  }
}

/** True when `path` exists and its real path is itself: no link on the way from the real root. */
async function isLinkFree(path: string): Promise<boolean> {
  try {
    return (await realpath(path)) === path
  } catch (err) {
    if (isAbsent(err)) return false
    throw err
  }
}

async function lstatIfPresent(file: string): Promise<Stats | undefined> {
  try {
    return await lstat(file)
  } catch (err) {
    if (isAbsent(err)) return undefined
    throw err
  }
}

/** Errors meaning "nothing the store may use is there": missing, a file on the way, a link. */
function isAbsent(err: unknown): boolean {
  const c = code(err)
  return c === 'ENOENT' || c === 'ENOTDIR' || c === 'ELOOP' || c === 'EMLINK' || c === 'EISDIR'
}

function code(err: unknown): string | undefined {
  const value = (err as { code?: unknown } | null)?.code
  return typeof value === 'string' ? value : undefined
}

function info(path: string, stats: Stats): FileInfo {
  return { path, size: stats.size, modifiedAt: Math.floor(stats.mtimeMs) }
}

/**
 * Runs a store operation; a file system error becomes `ERR_STORAGE` naming the guest's path (or,
 * for a list, no path) and the error code, never a host path.
 */
async function guard<T>(operation: string, path: string | undefined, run: () => Promise<T>): Promise<T> {
  try {
    return await run()
  } catch (err) {
    if (isFnboxError(err)) throw err
    // Reached only once the path passed normalizeFilePath: printable, at most 1024 bytes.
    const what = path === undefined ? 'files' : `file "${path}"`
    const reason = code(err)
    throw new FnboxError('ERR_STORAGE', `could not ${operation} ${what}${reason ? ` (${reason})` : ''}`, {
      cause: err,
    })
  }
}
