/**
 * The vector domain's operations: each validates its arguments (shapes, sizes, the stores' own
 * rules for vectors and filters), then calls the store. Guest calls and the host API
 * (`runtime.vector`) pass the same JSON objects through them.
 *
 * @internal
 * @module
 */
import type { Operation } from '../domain.js'
import * as v from '../domains/validate.js'
import { checkFilter } from './filter.js'
import { checkVector } from './rules.js'
import type { JsonValue } from '../domains/types.js'
import type { VectorFilter, VectorItem, VectorMetric, VectorStore } from './types.js'

type Run = Operation<VectorStore>['run']
/** A guest read, allowed inside `tx`. */
const read = (run: Run): Operation<VectorStore> => ({ run, guest: true, transaction: true })
/** A guest write, allowed inside `tx`. */
const write = (run: Run): Operation<VectorStore> => ({ ...read(run), write: true })
/** Index management: the host API only, outside transactions. */
const manage = (run: Run): Operation<VectorStore> => ({ run })

export const VECTOR_OPERATIONS: Readonly<Record<string, Operation<VectorStore>>> = {
  upsert: write((s, scope, a) => s.upsert(scope, indexName(a.index), vectorItems(a.items))),
  query: read((s, scope, a) => {
    const q = v.object(a.query, 'query')
    return s.query(scope, indexName(a.index), {
      vector: vector(q.vector, 'query.vector'),
      topK: topK(q.topK, 'query.topK'),
      filter: filter(q.filter, 'query.filter'),
      namespace: v.optionalText(q.namespace, 'query.namespace', v.DATA_LIMITS.maxNameBytes),
      includeMetadata: v.bool(q.includeMetadata, 'query.includeMetadata'),
      includeValues: v.bool(q.includeValues, 'query.includeValues'),
    })
  }),
  get: read((s, scope, a) => s.get(scope, indexName(a.index), ids(a.ids))),
  delete: write((s, scope, a) => s.delete(scope, indexName(a.index), ids(a.ids))),
  createIndex: manage(async (s, scope, a) => {
    const o = v.object(a.options, 'options')
    const name = indexName(a.index)
    await s.createIndex(scope, { name, dimensions: dimensions(o.dimensions), metric: metric(o.metric) })
  }),
  describeIndex: manage((s, scope, a) => s.describeIndex(scope, indexName(a.index))),
  deleteIndex: manage((s, scope, a) => s.deleteIndex(scope, indexName(a.index))),
  listIndexes: manage((s, scope) => s.listIndexes(scope)),
}

const INDEX_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/

function indexName(x: unknown, argument = 'index'): string {
  if (typeof x !== 'string' || !INDEX_NAME.test(x)) {
    throw v.invalid(argument, 'must be 1-64 letters, digits, _ . or - (starting with a letter or digit)')
  }
  return x
}

function metric(x: unknown, argument = 'options.metric'): VectorMetric {
  if (x === undefined) return 'cosine'
  if (x !== 'cosine' && x !== 'l2' && x !== 'inner-product') {
    throw v.invalid(argument, `must be 'cosine', 'l2' or 'inner-product' (got ${String(x)})`)
  }
  return x
}

function dimensions(x: unknown, argument = 'options.dimensions'): number {
  if (typeof x !== 'number' || !Number.isInteger(x) || x < 1 || x > v.DATA_LIMITS.maxDimensions) {
    throw v.invalid(argument, `must be an integer from 1 to ${v.DATA_LIMITS.maxDimensions} (got ${String(x)})`, {
      limit: v.DATA_LIMITS.maxDimensions,
    })
  }
  return x
}

/** A vector of finite float32 numbers (the vector stores' own rule: NaN, Infinity, 1e39 refused). */
function vector(x: unknown, argument: string): number[] {
  return checkVector(x, argument)
}

function ids(x: unknown, argument = 'ids'): string[] {
  if (!Array.isArray(x)) throw v.invalid(argument, `must be an array of strings (got ${v.kind(x)})`)
  if (x.length > v.DATA_LIMITS.maxVectorBatch) throw v.tooLarge(argument, v.DATA_LIMITS.maxVectorBatch, x.length, 'ids')
  return x.map((id, i) => v.text(id, `${argument}[${i}]`, v.DATA_LIMITS.maxNameBytes))
}

function vectorItems(x: unknown, argument = 'items'): VectorItem[] {
  if (!Array.isArray(x)) throw v.invalid(argument, `must be an array (got ${v.kind(x)})`)
  if (x.length > v.DATA_LIMITS.maxVectorBatch)
    throw v.tooLarge(argument, v.DATA_LIMITS.maxVectorBatch, x.length, 'items')
  return x.map((raw, i) => {
    const at = `${argument}[${i}]`
    const item = v.object(raw, at)
    const out: VectorItem = {
      id: v.text(item.id, `${at}.id`, v.DATA_LIMITS.maxNameBytes),
      values: vector(item.values, `${at}.values`),
    }
    if (item.metadata !== undefined && item.metadata !== null) {
      const meta = v.object(item.metadata, `${at}.metadata`)
      out.metadata = v.jsonValue(meta, `${at}.metadata`, v.DATA_LIMITS.maxMetadataBytes) as Record<string, JsonValue>
    }
    const ns = v.optionalText(item.namespace, `${at}.namespace`, v.DATA_LIMITS.maxNameBytes)
    if (ns !== undefined) out.namespace = ns
    return out
  })
}

function topK(x: unknown, argument = 'topK'): number {
  if (x === undefined || x === null) return 10
  if (typeof x !== 'number' || !Number.isInteger(x) || x < 1 || x > v.DATA_LIMITS.maxTopK) {
    throw v.invalid(argument, `must be an integer from 1 to ${v.DATA_LIMITS.maxTopK} (got ${String(x)})`, {
      limit: v.DATA_LIMITS.maxTopK,
    })
  }
  return x
}

/** A metadata filter, checked by the vector stores' own rules (operators, types, caps). */
function filter(x: unknown, argument = 'filter'): VectorFilter | undefined {
  if (x === undefined || x === null) return undefined
  const f = v.object(x, argument)
  checkFilter(f, argument)
  return f as VectorFilter
}
