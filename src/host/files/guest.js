// The files domain's guest client: `files` of `fnbox:host` (files do not join `tx`). Runs inside
// the sandbox, bundled into the prelude's `host` chunk.
import { toBuffer } from '../guest-support.js'

export default function filesClient({ call }) {
  return Object.freeze({
    /** The file's bytes as an ArrayBuffer, or undefined when there is no such file (as on the host). */
    read: (path) => call('files.read', { path }),
    /** Creates or replaces a file; a string is written as UTF-8. Resolves with its FileInfo. */
    write: (path, data) => call('files.write', { path }, toBuffer(data, 'files.write')),
    stat: (path) => call('files.stat', { path }),
    delete: (path) => call('files.delete', { path }),
    list: (options) => call('files.list', { options }),
  })
}
