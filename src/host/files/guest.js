// The files domain's guest client: `files` of `fnbox:host` (files do not join `tx`). Runs inside
// the sandbox, bundled into the prelude's `host` chunk.
import { orNull, toBuffer } from '../guest-support.js'

export default function filesClient({ call }) {
  return Object.freeze({
    /** The file's bytes as an ArrayBuffer, or null when there is no such file. */
    read: (path) => call('files.read', { path }).then(orNull),
    /** Creates or replaces a file; a string is written as UTF-8. Resolves with its FileInfo. */
    write: (path, data) => call('files.write', { path }, toBuffer(data, 'files.write')),
    stat: (path) => call('files.stat', { path }).then(orNull),
    delete: (path) => call('files.delete', { path }),
    list: (options) => call('files.list', { options }),
  })
}
