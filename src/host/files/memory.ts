/**
 * Files in memory, for tests and single-process development. It behaves as `DiskFileStore`
 * does, folders included: a path cannot be both a file and a folder, and a folder exists while
 * a file lives under it.
 *
 * @module
 */
import type { FileInfo, FileListOptions, FileListResult, FileStore } from './types.js'
import { compareCodePoints } from '../domains/code-points.js'
import { fileListPage, fileListQuery, matchesFileQuery } from './list.js'
import { normalizeFilePath, parentFolders, writeConflict } from './path.js'
import { systemClock, type Clock } from '../../clock.js'

interface StoredFile {
  data: Uint8Array
  modifiedAt: number
}

interface Scope {
  files: Map<string, StoredFile>
  /** Each folder, with how many files are under it. */
  folders: Map<string, number>
}

/**
 * A {@link FileStore} holding each scope's files in a `Map`. Bytes are copied in and out, so
 * neither the writer nor a reader can change a stored file through a buffer it holds.
 *
 * @public
 */
export class MemoryFileStore implements FileStore {
  readonly #scopes = new Map<string, Scope>()
  /** Dates files' `modifiedAt` (the runtime's clock). */
  readonly #clock: Clock

  constructor(options: { clock?: Clock } = {}) {
    this.#clock = options.clock ?? systemClock
  }

  async read(scope: string, path: string): Promise<Uint8Array | undefined> {
    const normalized = normalizeFilePath(path)
    const file = this.#scopes.get(scope)?.files.get(normalized)
    return file && new Uint8Array(file.data)
  }

  async write(scope: string, path: string, data: Uint8Array): Promise<FileInfo> {
    const normalized = normalizeFilePath(path)
    const stored = this.#scope(scope)
    const folders = parentFolders(normalized)
    const file = folders.find((folder) => stored.files.has(folder))
    if (file !== undefined) throw writeConflict(normalized, `"${file}" is a file`)
    if (stored.folders.has(normalized)) throw writeConflict(normalized, 'it is a folder')
    if (!stored.files.has(normalized)) {
      for (const folder of folders) stored.folders.set(folder, (stored.folders.get(folder) ?? 0) + 1)
    }
    const entry = { data: new Uint8Array(data), modifiedAt: this.#clock.wallNow() }
    stored.files.set(normalized, entry)
    return info(normalized, entry)
  }

  async stat(scope: string, path: string): Promise<FileInfo | undefined> {
    const normalized = normalizeFilePath(path)
    const file = this.#scopes.get(scope)?.files.get(normalized)
    return file && info(normalized, file)
  }

  async list(scope: string, options?: FileListOptions): Promise<FileListResult> {
    const query = fileListQuery(options)
    const files = this.#scopes.get(scope)?.files ?? new Map<string, StoredFile>()
    const paths = [...files.keys()].filter((path) => matchesFileQuery(path, query)).sort(compareCodePoints)
    const page = paths.slice(0, query.limit + 1).map((path) => info(path, files.get(path) as StoredFile))
    return fileListPage(page, query.limit)
  }

  async delete(scope: string, path: string): Promise<boolean> {
    const normalized = normalizeFilePath(path)
    const stored = this.#scopes.get(scope)
    if (!stored?.files.delete(normalized)) return false
    for (const folder of parentFolders(normalized)) {
      const count = (stored.folders.get(folder) ?? 1) - 1
      if (count === 0) stored.folders.delete(folder)
      else stored.folders.set(folder, count)
    }
    return true
  }

  #scope(name: string): Scope {
    let scope = this.#scopes.get(name)
    if (!scope) {
      scope = { files: new Map(), folders: new Map() }
      this.#scopes.set(name, scope)
    }
    return scope
  }
}

function info(path: string, file: StoredFile): FileInfo {
  return { path, size: file.data.byteLength, modifiedAt: file.modifiedAt }
}
