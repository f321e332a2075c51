// The host's own access to the files domain (`runtime.files`): the same operations, validation and
// typed errors as the guest's `files` of `fnbox:host`.
import { checkScope, ScopedClient } from '../domains/clients.js'
import type { FileInfo, FileListOptions, FileListResult } from './types.js'

/**
 * Files, as functions see them through `files` of `fnbox:host`. Paths are relative and
 * `/`-separated; anything that could leave the scope's folder is refused.
 *
 * @example
 * ```ts
 * await runtime.files.write('inbox/a.txt', 'hello')
 * const bytes = await runtime.files.read('inbox/a.txt') // Uint8Array
 * ```
 * @public
 */
export interface FilesClient {
  /** The data scope this client reads and writes. */
  readonly scopeName: string
  scope(name: string): FilesClient
  /** The bytes, or `undefined` when there is no such file. */
  read(path: string): Promise<Uint8Array | undefined>
  /** Creates or replaces a file; a string is written as UTF-8. */
  write(path: string, data: Uint8Array | string): Promise<FileInfo>
  stat(path: string): Promise<FileInfo | undefined>
  delete(path: string): Promise<boolean>
  list(options?: FileListOptions): Promise<FileListResult>
}

export class FilesClientImpl extends ScopedClient implements FilesClient {
  scope(name: string): FilesClient {
    return new FilesClientImpl(this.backend, checkScope(name))
  }
  /** The bytes, or `undefined` when there is no such file. */
  read(path: string): Promise<Uint8Array | undefined> {
    return this.run('files.read', { path })
  }
  /** Creates or replaces a file; a string is written as UTF-8. */
  write(path: string, data: Uint8Array | string): Promise<FileInfo> {
    return this.run('files.write', { path }, typeof data === 'string' ? new TextEncoder().encode(data) : data)
  }
  stat(path: string): Promise<FileInfo | undefined> {
    return this.run('files.stat', { path })
  }
  delete(path: string): Promise<boolean> {
    return this.run('files.delete', { path })
  }
  list(options?: FileListOptions): Promise<FileListResult> {
    return this.run('files.list', { options })
  }
}
