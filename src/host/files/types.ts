/**
 * The files domain's store interface: what an adapter implements
 * (`createRuntime({ adapters: { files } })`), and what `runtime.files` and the guest's `files` call.
 *
 * @module
 */
/** A file's facts. @public */
export interface FileInfo {
  /** The normalized relative path (`a/b.txt`). */
  path: string
  size: number
  /** Last write, Unix ms. */
  modifiedAt: number
}

/** Options of {@link FileStore.list}. @public */
export interface FileListOptions {
  /** Only paths starting with this string (plain text, not a glob). */
  prefix?: string
  /** At most this many files (default 100, at most 1000). */
  limit?: number
  cursor?: string
}

/** A page of files, in path order. @public */
export interface FileListResult {
  files: FileInfo[]
  cursor?: string
}

/**
 * Files under a root, per scope. Paths are relative, `/`-separated and normalized by the caller
 * (see `validate.ts`); an implementation still never touches anything outside its root.
 *
 * @public
 */
export interface FileStore {
  /** The bytes, or `undefined` if there is no such file. */
  read(scope: string, path: string): Promise<Uint8Array | undefined>
  /** Creates or replaces the file (and its folders); atomic for readers. */
  write(scope: string, path: string, data: Uint8Array): Promise<FileInfo>
  stat(scope: string, path: string): Promise<FileInfo | undefined>
  list(scope: string, options?: FileListOptions): Promise<FileListResult>
  /** True if the file existed. */
  delete(scope: string, path: string): Promise<boolean>
}

/** `createRuntime({ files })` naming the storage's own database as the place of files. */
export const FILES_IN_DATABASE = 'database'
