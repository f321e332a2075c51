/**
 * The files domain: files per data scope (`files` of `fnbox:host`, `runtime.files`), where
 * `createRuntime({ files })` says: `'database'` (the storage's own: the SQL store on PGlite or
 * server Postgres, the memory store on `storage: 'memory'`; the default with server Postgres, so
 * hosts sharing it share files), a root folder (the default with PGlite), or `'memory'`. Files
 * stay outside transactions on every store (the folder store and adapters cannot join one). Its
 * parts: `types.ts` (the store interface), `operations.ts`, `path.ts` (the path gate),
 * `memory.ts`, `disk.ts`, `postgres.ts` with `sql.ts` (migration), `guest.js` and `guest-types.ts`.
 *
 * @internal
 * @module
 */
import { defineDomain } from '../domain.js'
import { FILES_IN_DATABASE } from './types.js'
import { DiskFileStore } from './disk.js'
import { FILES_GUEST_TYPES } from './guest-types.js'
import { MemoryFileStore } from './memory.js'
import { FILES_OPERATIONS } from './operations.js'
import type { FileStore } from './types.js'

export const filesDomain = defineDomain<FileStore>({
  name: 'files',
  adapter: true,
  operations: FILES_OPERATIONS,
  memory: ({ clock }) => new MemoryFileStore({ clock }),
  sql: async () => (await import('./sql.js')).filesSql,
  // Outside the database unless `files: 'database'`.
  standalone: ({ files, clock }) => {
    if (files === FILES_IN_DATABASE) return undefined
    return files === 'memory' ? new MemoryFileStore({ clock }) : new DiskFileStore(files)
  },
  guest: { name: 'files', client: './files/guest.js', types: FILES_GUEST_TYPES, typeName: 'FnboxFiles' },
})
