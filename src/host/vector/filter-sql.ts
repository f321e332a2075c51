/**
 * A checked vector filter as a SQL condition over a `metadata jsonb` column, for the Postgres
 * store. The semantics it must match, those of the memory store, are spelled out in `filter.ts`.
 *
 * @internal
 * @module
 */
import { sql, type RawBuilder } from 'kysely'
import type { JsonValue } from '../domains/types.js'
import type { VectorFilterValue } from './types.js'
import type { RangeOperator, VectorCondition } from './filter.js'

const RANGE_SQL: Record<RangeOperator, string> = { $lt: '<', $lte: '<=', $gt: '>', $gte: '>=' }

/**
 * The conditions as one SQL boolean over the jsonb column `column` (`true` for none). Every key and
 * value is a bound parameter. Paths use `->` with text keys, which yields NULL on arrays, so a path
 * never indexes into an array (as in memory). An absent field is SQL NULL: `=` and `IN` are then
 * not true, while `IS DISTINCT FROM` and the explicit NULL test of `$nin` are.
 */
export function filterSql(conditions: readonly VectorCondition[], column = 'metadata'): RawBuilder<boolean> {
  if (conditions.length === 0) return sql<boolean>`true`
  return sql<boolean>`(${sql.join(
    conditions.map((condition) => conditionSql(condition, column)),
    sql` and `,
  )})`
}

function conditionSql(condition: VectorCondition, column: string): RawBuilder<boolean> {
  const field = condition.path.reduce<RawBuilder<unknown>>(
    (expr, key) => sql`(${expr} -> ${key}::text)`,
    sql.ref(column),
  )
  // `$eq` and `$in` also get a containment test (`@>`), implied by the exact one, which the GIN
  // index on the column can answer: the scan then visits the matching rows, not the whole table.
  const contains = (value: VectorFilterValue) =>
    sql`${sql.ref(column)} @> ${JSON.stringify(condition.path.reduceRight<JsonValue>((inner, key) => ({ [key]: inner }), value))}::jsonb`
  switch (condition.op) {
    case '$eq':
      return sql`(${contains(condition.value)} and ${field} = ${json(condition.value)})`
    case '$ne':
      return sql`${field} is distinct from ${json(condition.value)}`
    case '$in':
      return sql`((${sql.join(condition.values.map(contains), sql` or `)}) and ${field} in (${sql.join(condition.values.map(json))}))`
    case '$nin':
      if (condition.values.length === 0) return sql`true`
      return sql`(${field} is null or ${field} not in (${sql.join(condition.values.map(json))}))`
    default: {
      const op = sql.raw(RANGE_SQL[condition.op])
      if (typeof condition.value === 'number') {
        return sql`(jsonb_typeof(${field}) = 'number' and ${field} ${op} ${json(condition.value)})`
      }
      return sql`(jsonb_typeof(${field}) = 'string' and (${field} #>> '{}') collate "C" ${op} ${condition.value}::text collate "C")`
    }
  }
}

/** A filter value as a jsonb parameter: jsonb `=` is type-strict and numeric for numbers. */
function json(value: VectorFilterValue): RawBuilder<unknown> {
  return sql`${JSON.stringify(value)}::jsonb`
}
