/**
 * The data operations behind `fnbox:host` and the host API (`runtime.kv`, ...), by method name:
 * each validates its arguments, then calls the adapter. Guest calls arrive as JSON objects; the
 * host API passes the same objects, so both get the same checks and the same typed errors.
 *
 * @internal
 * @module
 */
import { FnboxError, isFnboxError } from '../../errors.js'
import { normalizeFilePath, normalizeFilePrefix } from '../files/path.js'
import type { FileStore, KvStore, VectorStore } from './types.js'
import * as v from './validate.js'

/** The stores an operation works on: the backend's own, or those of an open transaction. */
export interface DataStores {
  kv: KvStore
  vector: VectorStore
  files: FileStore
}

type Args = Record<string, unknown>
/** A result is JSON data, or bytes (files.read). */
export type DataResult = unknown

type Operation = (stores: DataStores, scope: string, a: Args, bytes: Uint8Array | undefined) => Promise<DataResult>

const setOptions = (a: Args) => {
  const ttl = v.ttl(v.object(a.options, 'options').ttl)
  return ttl === undefined ? undefined : { ttl }
}

export const OPERATIONS: Readonly<Record<string, Operation>> = {
  'kv.get': (s, scope, a) => s.kv.get(scope, v.key(a.key)),
  'kv.set': (s, scope, a) =>
    s.kv.set(scope, v.key(a.key), v.jsonValue(a.value, 'value', v.DATA_LIMITS.maxValueBytes), setOptions(a)),
  'kv.delete': (s, scope, a) => s.kv.delete(scope, v.key(a.key)),
  'kv.list': (s, scope, a) => {
    const o = v.object(a.options, 'options')
    return s.kv.list(scope, {
      prefix: v.optionalText(o.prefix, 'options.prefix', v.DATA_LIMITS.maxKeyBytes),
      limit: v.limit(o.limit),
      cursor: v.optionalText(o.cursor, 'options.cursor', 4 * v.DATA_LIMITS.maxKeyBytes),
    })
  },
  'kv.incr': (s, scope, a) => s.kv.incr(scope, v.key(a.key), a.by === undefined ? 1 : v.finite(a.by, 'by')),
  'kv.compareAndSet': (s, scope, a) =>
    s.kv.compareAndSet(
      scope,
      v.key(a.key),
      a.expected === undefined ? undefined : v.jsonValue(a.expected, 'expected', v.DATA_LIMITS.maxValueBytes),
      v.jsonValue(a.value, 'value', v.DATA_LIMITS.maxValueBytes),
      setOptions(a),
    ),

  'vector.upsert': (s, scope, a) => s.vector.upsert(scope, v.indexName(a.index), v.vectorItems(a.items)),
  'vector.query': (s, scope, a) => {
    const q = v.object(a.query, 'query')
    return s.vector.query(scope, v.indexName(a.index), {
      vector: v.vector(q.vector, 'query.vector'),
      topK: v.topK(q.topK, 'query.topK'),
      filter: v.filter(q.filter, 'query.filter'),
      namespace: v.optionalText(q.namespace, 'query.namespace', v.DATA_LIMITS.maxNameBytes),
      includeMetadata: v.bool(q.includeMetadata, 'query.includeMetadata'),
      includeValues: v.bool(q.includeValues, 'query.includeValues'),
    })
  },
  'vector.get': (s, scope, a) => s.vector.get(scope, v.indexName(a.index), v.ids(a.ids)),
  'vector.delete': (s, scope, a) => s.vector.delete(scope, v.indexName(a.index), v.ids(a.ids)),
  'vector.createIndex': async (s, scope, a) => {
    const o = v.object(a.options, 'options')
    const name = v.indexName(a.index)
    await s.vector.createIndex(scope, { name, dimensions: v.dimensions(o.dimensions), metric: v.metric(o.metric) })
  },
  'vector.describeIndex': (s, scope, a) => s.vector.describeIndex(scope, v.indexName(a.index)),
  'vector.deleteIndex': (s, scope, a) => s.vector.deleteIndex(scope, v.indexName(a.index)),
  'vector.listIndexes': (s, scope) => s.vector.listIndexes(scope),

  'files.read': (s, scope, a) => s.files.read(scope, normalizeFilePath(a.path)),
  'files.write': (s, scope, a, bytes) => s.files.write(scope, normalizeFilePath(a.path), v.fileBytes(bytes)),
  'files.stat': (s, scope, a) => s.files.stat(scope, normalizeFilePath(a.path)),
  'files.delete': (s, scope, a) => s.files.delete(scope, normalizeFilePath(a.path)),
  'files.list': (s, scope, a) => {
    const o = v.object(a.options, 'options')
    return s.files.list(scope, {
      prefix: o.prefix === undefined || o.prefix === null ? undefined : normalizeFilePrefix(o.prefix, 'options.prefix'),
      limit: v.limit(o.limit),
      cursor: v.optionalText(o.cursor, 'options.cursor', 4096),
    })
  },
}

/** Methods allowed inside a transaction (`tx(async (t) => ...)`): kv and vector writes and reads. */
export function transactional(method: string): boolean {
  return (
    (method.startsWith('kv.') || method.startsWith('vector.')) &&
    !method.endsWith('Index') &&
    method !== 'vector.listIndexes'
  )
}

/**
 * SQLSTATEs of a transaction that lost to a concurrent one and was rolled back, which a retry
 * may win: serialization_failure and deadlock_detected.
 */
const CONFLICT_STATES = new Set(['40001', '40P01'])

/** Whether `err` (or its cause, as the stores wrap driver errors) is such a conflict. */
function isConflict(err: unknown): boolean {
  for (let e = err, depth = 0; e && typeof e === 'object' && depth < 4; e = (e as Error).cause, depth++) {
    const code = (e as { code?: unknown }).code
    if (typeof code === 'string' && CONFLICT_STATES.has(code)) return true
  }
  return false
}

/**
 * Typed errors pass, but a conflict with a concurrent transaction becomes `ERR_CONFLICT`; anything
 * else from an adapter becomes `ERR_STORAGE` (its cause stays on the host).
 */
export async function storageCall<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn()
  } catch (err) {
    if (isConflict(err)) {
      throw new FnboxError(
        'ERR_CONFLICT',
        'the write conflicted with a concurrent transaction; nothing of it was applied',
        {
          cause: err,
        },
      )
    }
    if (isFnboxError(err)) throw err
    throw new FnboxError('ERR_STORAGE', 'the storage backend failed', { cause: err })
  }
}
