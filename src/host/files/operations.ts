/**
 * The files domain's operations: each normalizes its paths through the path gate (traversal
 * impossible) and checks sizes, then calls the store. Files do not join transactions.
 *
 * @internal
 * @module
 */
import type { Operation } from '../domain.js'
import * as v from '../domains/validate.js'
import { normalizeFilePath, normalizeFilePrefix } from './path.js'
import type { FileStore } from './types.js'

type Run = Operation<FileStore>['run']
const read = (run: Run): Operation<FileStore> => ({ run, guest: true })
const write = (run: Run): Operation<FileStore> => ({ run, guest: true, write: true })

function fileBytes(x: Uint8Array | undefined, argument = 'data'): Uint8Array {
  if (!x) throw v.invalid(argument, 'must be an ArrayBuffer, a typed array or a string')
  if (x.byteLength > v.DATA_LIMITS.maxFileBytes) throw v.tooLarge(argument, v.DATA_LIMITS.maxFileBytes, x.byteLength)
  return x
}

export const FILES_OPERATIONS: Readonly<Record<string, Operation<FileStore>>> = {
  read: read((s, scope, a) => s.read(scope, normalizeFilePath(a.path))),
  write: write((s, scope, a, bytes) => s.write(scope, normalizeFilePath(a.path), fileBytes(bytes))),
  stat: read((s, scope, a) => s.stat(scope, normalizeFilePath(a.path))),
  delete: write((s, scope, a) => s.delete(scope, normalizeFilePath(a.path))),
  list: read((s, scope, a) => {
    const o = v.object(a.options, 'options')
    return s.list(scope, {
      prefix: o.prefix === undefined || o.prefix === null ? undefined : normalizeFilePrefix(o.prefix, 'options.prefix'),
      limit: v.limit(o.limit),
      cursor: v.optionalText(o.cursor, 'options.cursor', 4096),
    })
  }),
}
