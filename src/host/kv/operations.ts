/**
 * The kv domain's operations: each validates its arguments, then calls the store. Guest calls
 * (`kv.get` of `fnbox:host`) and the host API (`runtime.kv`) pass the same JSON objects through
 * them, so both get the same checks and the same typed errors.
 *
 * @internal
 * @module
 */
import type { Operation, OperationArgs } from '../domain.js'
import * as v from '../domains/validate.js'
import type { KvStore } from './types.js'

const setOptions = (a: OperationArgs) => {
  const ttl = v.ttl(v.object(a.options, 'options').ttl)
  return ttl === undefined ? undefined : { ttl }
}

/** A guest read, allowed inside `tx`. */
const read = (run: Operation<KvStore>['run']): Operation<KvStore> => ({ run, guest: true, transaction: true })
/** A guest write, allowed inside `tx`. */
const write = (run: Operation<KvStore>['run']): Operation<KvStore> => ({ ...read(run), write: true })

export const KV_OPERATIONS: Readonly<Record<string, Operation<KvStore>>> = {
  get: read((s, scope, a) => s.get(scope, v.key(a.key))),
  set: write((s, scope, a) =>
    s.set(scope, v.key(a.key), v.jsonValue(a.value, 'value', v.DATA_LIMITS.maxValueBytes), setOptions(a)),
  ),
  delete: write((s, scope, a) => s.delete(scope, v.key(a.key))),
  list: read((s, scope, a) => {
    const o = v.object(a.options, 'options')
    return s.list(scope, {
      prefix: v.optionalText(o.prefix, 'options.prefix', v.DATA_LIMITS.maxKeyBytes),
      limit: v.limit(o.limit),
      cursor: v.optionalText(o.cursor, 'options.cursor', 4 * v.DATA_LIMITS.maxKeyBytes),
    })
  }),
  incr: write((s, scope, a) => s.incr(scope, v.key(a.key), a.by === undefined ? 1 : v.finite(a.by, 'by'))),
  compareAndSet: write((s, scope, a) =>
    s.compareAndSet(
      scope,
      v.key(a.key),
      a.expected === undefined ? undefined : v.jsonValue(a.expected, 'expected', v.DATA_LIMITS.maxValueBytes),
      v.jsonValue(a.value, 'value', v.DATA_LIMITS.maxValueBytes),
      setOptions(a),
    ),
  ),
}
