/**
 * The files domain: files per data scope under a root folder, or in memory (`files` of
 * `fnbox:host`, `runtime.files`). Kept outside the database whatever the storage, and outside
 * transactions. Its parts: `types.ts` (the store interface), `operations.ts`, `path.ts` (the path
 * gate), `memory.ts`, `disk.ts`, `guest.js` and `guest-types.ts`.
 *
 * @internal
 * @module
 */
import { defineDomain } from '../domain.js'
import { DiskFileStore } from './disk.js'
import { FILES_GUEST_TYPES } from './guest-types.js'
import { MemoryFileStore } from './memory.js'
import { FILES_OPERATIONS } from './operations.js'
import type { FileStore } from './types.js'

export const filesDomain = defineDomain<FileStore>({
  name: 'files',
  adapter: true,
  operations: FILES_OPERATIONS,
  standalone: ({ files, clock }) => (files === 'memory' ? new MemoryFileStore({ clock }) : new DiskFileStore(files)),
  guest: { name: 'files', client: './files/guest.js', types: FILES_GUEST_TYPES, typeName: 'FnboxFiles' },
})
