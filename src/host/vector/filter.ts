/**
 * Metadata filters of vector queries, for both stores: the check of a `VectorFilter` and a
 * predicate for the memory store here, a SQL condition over a `metadata jsonb` column for the
 * Postgres store in `filter-sql.ts` (apart, so kysely loads with the SQL stores only). Both must
 * select exactly the same items, so the semantics are spelled out once here:
 *
 * - every field must match (AND); a bare value means `$eq`;
 * - `a.b` is the field `b` of the object `a` (paths go through objects only, never into arrays);
 * - `$eq` and `$in` compare type-strictly: `1` is not `'1'`, `null` matches a stored JSON `null`;
 * - `$ne` and `$nin` also match items without the field;
 * - `$lt`, `$lte`, `$gt` and `$gte` compare numbers with numbers and strings with strings (by code
 *   points, `COLLATE "C"` in SQL), never across types.
 *
 * @internal
 * @module
 */
import type { JsonValue } from '../domains/types.js'
import type { VectorFilterValue } from './types.js'
import { compareCodePoints } from '../domains/code-points.js'
import { invalidArgument } from './rules.js'

/** Size caps of one filter: they bound the SQL a guest can make the database plan and run. */
export const FILTER_LIMITS = Object.freeze({
  /** Fields of one filter. */
  maxFields: 32,
  /** Values of one `$in` or `$nin`. */
  maxValues: 256,
})

export type RangeOperator = '$lt' | '$lte' | '$gt' | '$gte'

/** One checked comparison of a filter: the field's path and what its value must satisfy. */
export type VectorCondition =
  | { path: string[]; op: '$eq' | '$ne'; value: VectorFilterValue }
  | { path: string[]; op: '$in' | '$nin'; values: VectorFilterValue[] }
  | { path: string[]; op: RangeOperator; value: string | number }

const OPERATORS = '$eq, $ne, $in, $nin, $lt, $lte, $gt or $gte'

/**
 * Checks a filter and flattens it into its conditions (an absent or empty filter has none).
 * Throws `ERR_INVALID_ARGUMENT` naming the offending part, e.g. `filter.price.$lt`.
 */
export function checkFilter(filter: unknown, argument = 'filter'): VectorCondition[] {
  if (filter === undefined || filter === null) return []
  if (!isObject(filter)) throw invalidArgument(argument, 'must be an object of field conditions')
  const fields = Object.keys(filter)
  if (fields.length > FILTER_LIMITS.maxFields) {
    throw invalidArgument(argument, `has ${fields.length} fields; the limit is ${FILTER_LIMITS.maxFields}`, {
      limit: FILTER_LIMITS.maxFields,
      value: fields.length,
    })
  }
  const conditions: VectorCondition[] = []
  for (const field of fields) {
    const at = `${argument}.${field}`
    const path = checkPath(field, at)
    const spec = (filter as Record<string, unknown>)[field]
    if (!isObject(spec)) {
      conditions.push({ path, op: '$eq', value: checkScalar(spec, at) })
      continue
    }
    const operators = Object.keys(spec)
    if (operators.length === 0) throw invalidArgument(at, `must hold an operator (${OPERATORS})`)
    for (const op of operators) conditions.push(checkCondition(path, op, spec[op], `${at}.${op}`))
  }
  return conditions
}

function checkPath(field: string, argument: string): string[] {
  const path = field.split('.')
  if (path.some((key) => key.length === 0)) {
    throw invalidArgument(argument, 'must be a field name or a dotted path without empty parts')
  }
  checkStorable(field, argument)
  return path
}

function checkCondition(path: string[], op: string, operand: unknown, argument: string): VectorCondition {
  switch (op) {
    case '$eq':
    case '$ne':
      return { path, op, value: checkScalar(operand, argument) }
    case '$in':
    case '$nin': {
      if (!Array.isArray(operand)) throw invalidArgument(argument, 'must be an array of values')
      if (op === '$in' && operand.length === 0) throw invalidArgument(argument, 'must not be empty')
      if (operand.length > FILTER_LIMITS.maxValues) {
        throw invalidArgument(argument, `has ${operand.length} values; the limit is ${FILTER_LIMITS.maxValues}`, {
          limit: FILTER_LIMITS.maxValues,
          value: operand.length,
        })
      }
      return { path, op, values: operand.map((v, i) => checkScalar(v, `${argument}[${i}]`)) }
    }
    case '$lt':
    case '$lte':
    case '$gt':
    case '$gte':
      if (typeof operand === 'string') return { path, op, value: checkStorable(operand, argument) }
      if (typeof operand === 'number' && Number.isFinite(operand)) return { path, op, value: operand }
      throw invalidArgument(argument, 'must be a finite number or a string')
    default:
      throw invalidArgument(argument, `is not an operator (use ${OPERATORS}; dotted paths reach nested fields)`)
  }
}

function checkScalar(value: unknown, argument: string): VectorFilterValue {
  if (value === null || typeof value === 'boolean') return value
  if (typeof value === 'number') {
    if (Number.isFinite(value)) return value
    throw invalidArgument(argument, `must be a finite number (got ${value})`)
  }
  if (typeof value === 'string') return checkStorable(value, argument)
  throw invalidArgument(argument, 'must be a string, a finite number, a boolean or null')
}

/** Text Postgres can hold (no U+0000, no lone surrogate): the memory store refuses the same. */
function checkStorable(text: string, argument: string): string {
  if (text.includes('\0') || !text.isWellFormed()) {
    throw invalidArgument(argument, 'must not contain U+0000 or lone surrogates')
  }
  return text
}

// ---- memory -----------------------------------------------------------------------------------

/** True when `metadata` (absent: an item without metadata) satisfies every condition. */
export function matches(
  metadata: Record<string, JsonValue> | undefined,
  conditions: readonly VectorCondition[],
): boolean {
  return conditions.every((condition) => satisfies(lookup(metadata, condition.path), condition))
}

function lookup(metadata: JsonValue | undefined, path: readonly string[]): JsonValue | undefined {
  let value = metadata
  for (const key of path) {
    if (!isObject(value) || !Object.hasOwn(value, key)) return undefined
    value = value[key]
  }
  return value
}

function satisfies(value: JsonValue | undefined, condition: VectorCondition): boolean {
  switch (condition.op) {
    case '$eq':
      return value === condition.value
    case '$ne':
      return value !== condition.value
    case '$in':
      return condition.values.includes(value as VectorFilterValue)
    case '$nin':
      return !condition.values.includes(value as VectorFilterValue)
    default: {
      const bound = condition.value
      let order: number
      if (typeof value === 'number' && typeof bound === 'number') order = value - bound
      else if (typeof value === 'string' && typeof bound === 'string') order = compareCodePoints(value, bound)
      else return false
      if (condition.op === '$lt') return order < 0
      if (condition.op === '$lte') return order <= 0
      if (condition.op === '$gt') return order > 0
      return order >= 0
    }
  }
}

function isObject(value: unknown): value is Record<string, JsonValue> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}
