/**
 * The files domain's guest declarations: its part of `declare module 'fnbox:host'` in `host.d.ts`,
 * which `npm run types` generates from the registry (a test fails when the two drift apart).
 *
 * @internal
 * @module
 */
export const FILES_GUEST_TYPES = `export interface FileInfo {
  path: string
  size: number
  /** Unix ms. */
  modifiedAt: number
}
/** Files of the function's scope. Paths are relative and \`/\`-separated; \`..\`, \`\\\`, \`%2e\`... are refused. */
export interface FnboxFiles {
  /** The bytes, or \`undefined\` when there is no such file (as on the host). */
  read(path: string): Promise<ArrayBuffer | undefined>
  /** Creates or replaces a file (up to 16 MiB); a string is written as UTF-8. */
  write(path: string, data: string | ArrayBuffer | ArrayBufferView): Promise<FileInfo>
  /** Its size and date, or \`undefined\` when there is no such file. */
  stat(path: string): Promise<FileInfo | undefined>
  delete(path: string): Promise<boolean>
  list(options?: {
    prefix?: string
    limit?: number
    cursor?: string
  }): Promise<{ files: FileInfo[]; cursor?: string }>
}
`
