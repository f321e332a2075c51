/**
 * The rules both vector stores share, so they refuse, score and order exactly alike: the checks
 * of vectors, index shapes and `topK`, the score of a distance, and the code-point order of ids.
 *
 * Vectors are stored as 32-bit floats (pgvector's `vector` type), so a value is valid when it is
 * finite *as a float32*: `1e39` is a finite double but would overflow the column.
 *
 * @internal
 * @module
 */
import { FnboxError } from '../../errors.js'
import type { VectorIndexInfo, VectorMetric } from './types.js'

/** Dimensions of an index: pgvector's HNSW index takes at most 2,000. */
export const MAX_DIMENSIONS = 2000

/** Results of one query. */
export const MAX_TOP_K = 1000

const METRICS: readonly VectorMetric[] = ['cosine', 'l2', 'inner-product']

/** An `ERR_INVALID_ARGUMENT` naming the argument (`details.argument`). */
export function invalidArgument(argument: string, message: string, extra?: Record<string, unknown>): FnboxError {
  return new FnboxError('ERR_INVALID_ARGUMENT', `${argument} ${message}`, { details: { argument, ...extra } })
}

/**
 * Checks that `values` is a vector a store can keep: a non-empty array of at most
 * {@link MAX_DIMENSIONS} numbers, each finite as a float32. NaN and Infinity are refused because
 * they poison every distance (and pgvector rejects them). Returns `values`, typed.
 */
export function checkVector(values: unknown, argument: string): number[] {
  if (!Array.isArray(values)) throw invalidArgument(argument, 'must be an array of numbers')
  if (values.length === 0) throw invalidArgument(argument, 'must not be empty')
  if (values.length > MAX_DIMENSIONS) {
    throw new FnboxError(
      'ERR_TOO_LARGE',
      `${argument} has ${values.length} dimensions; the limit is ${MAX_DIMENSIONS}`,
      {
        details: { argument, limit: MAX_DIMENSIONS, value: values.length },
      },
    )
  }
  for (let i = 0; i < values.length; i++) {
    const x: unknown = values[i]
    if (typeof x !== 'number' || !Number.isFinite(Math.fround(x))) {
      throw invalidArgument(argument, `must hold finite 32-bit float numbers only (index ${i} is ${String(x)})`, {
        index: i,
      })
    }
  }
  return values as number[]
}

/** Checks an index's shape (the name is the caller's concern: it never reaches SQL as text). */
export function checkIndexInfo(info: VectorIndexInfo, argument = 'index'): VectorIndexInfo {
  const { name, dimensions, metric } = info
  if (typeof name !== 'string' || name.length === 0)
    throw invalidArgument(`${argument}.name`, 'must be a non-empty string')
  if (!Number.isInteger(dimensions) || dimensions < 1 || dimensions > MAX_DIMENSIONS) {
    throw invalidArgument(
      `${argument}.dimensions`,
      `must be an integer from 1 to ${MAX_DIMENSIONS} (got ${dimensions})`,
      {
        limit: MAX_DIMENSIONS,
      },
    )
  }
  if (!METRICS.includes(metric)) {
    throw invalidArgument(`${argument}.metric`, `must be 'cosine', 'l2' or 'inner-product' (got ${String(metric)})`)
  }
  return { name, dimensions, metric }
}

/** Refuses to (re)create an index that exists with another shape (`ERR_INVALID_ARGUMENT`). */
export function checkSameShape(existing: VectorIndexInfo, wanted: VectorIndexInfo): void {
  if (existing.dimensions === wanted.dimensions && existing.metric === wanted.metric) return
  throw invalidArgument(
    'index',
    `"${existing.name}" exists with ${existing.dimensions} dimensions and metric ${existing.metric} ` +
      `(asked: ${wanted.dimensions}, ${wanted.metric})`,
    { expected: { dimensions: existing.dimensions, metric: existing.metric } },
  )
}

/**
 * Checks a (valid) vector against its index: the dimensions must match, and a cosine index refuses
 * the zero vector, whose cosine is undefined (pgvector answers NaN and leaves it out of HNSW).
 */
export function checkForIndex(values: number[], index: VectorIndexInfo, argument: string): void {
  if (values.length !== index.dimensions) {
    throw new FnboxError(
      'ERR_DIMENSION_MISMATCH',
      `${argument} has ${values.length} dimensions; index "${index.name}" has ${index.dimensions}`,
      { details: { argument, expected: index.dimensions, value: values.length } },
    )
  }
  if (index.metric === 'cosine' && values.every((x) => Math.fround(x) === 0)) {
    throw invalidArgument(argument, 'must not be the zero vector in a cosine index')
  }
}

/**
 * A match's score from pgvector's distance (lower is closer): cosine similarity (`1 - <=>`), dot
 * product (`<#>` is its negation) or the L2 distance itself.
 */
export function scoreOf(metric: VectorMetric, distance: number): number {
  if (metric === 'cosine') return 1 - distance
  return metric === 'inner-product' ? -distance : distance
}

/** `topK` of a query: 10 when unset, else an integer from 1 to {@link MAX_TOP_K}. */
export function checkTopK(topK: unknown, argument = 'topK'): number {
  if (topK === undefined) return 10
  if (typeof topK !== 'number' || !Number.isInteger(topK) || topK < 1 || topK > MAX_TOP_K) {
    throw invalidArgument(argument, `must be an integer from 1 to ${MAX_TOP_K} (got ${String(topK)})`, {
      limit: MAX_TOP_K,
    })
  }
  return topK
}
