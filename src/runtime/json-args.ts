/**
 * `runtime.call`'s arguments as JSON, refused rather than changed: `JSON.stringify` turns a
 * function, `NaN` or an `undefined` element into `null`, a `Map` into `{}`, and throws on a BigInt
 * or a cycle naming neither the argument nor the problem. The error here names the path of the
 * offending value and what it is (`args[1].when: BigInt`).
 *
 * @internal
 * @module
 */
import { FnboxError } from '../errors.js'

/**
 * The arguments as a JSON array; `ERR_INVALID_ARGUMENT` with the path of a value JSON cannot carry.
 *
 * One serialisation: `JSON.stringify` first (its fast path; it throws on a BigInt, a cycle or a
 * throwing getter or `toJSON`), then a check of what it would have changed silently, which
 * allocates nothing and needs no cycle tracking (the value was just serialised, so it has none
 * along the edges JSON follows). Only a failure of either walks again, to name the path.
 */
export function argsToJson(args: readonly unknown[]): string {
  let json: string
  try {
    json = JSON.stringify(args)
    if (isJsonSafe(args, 0)) return json
  } catch {
    // A BigInt, a cycle, or a getter or toJSON that threw: the walk below tells which.
  }
  let problem: Problem | undefined
  try {
    problem = findProblem(args, [])
    if (!problem) return JSON.stringify(args)
  } catch (err) {
    // A getter or toJSON that threw.
    throw new FnboxError('ERR_INVALID_ARGUMENT', `call arguments must be JSON values: ${String(err)}`, { cause: err })
  }
  const path = pathOf(problem.path)
  throw new FnboxError('ERR_INVALID_ARGUMENT', `call arguments must be JSON values: ${path}: ${problem.what}`, {
    details: { path, value: problem.what },
  })
}

/** Deeper than this, the fast check leaves the answer to {@link findProblem} (which tracks cycles). */
const SAFE_DEPTH = 256

/**
 * True when `JSON.stringify` carried `value` unchanged: every value in it is one JSON has (see
 * {@link findProblem}, which names the first one that is not). Only for a value that was just
 * serialised without error: it follows the same edges and does not look for cycles.
 */
function isJsonSafe(value: unknown, depth: number): boolean {
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return true
    case 'number':
      return Number.isFinite(value)
    case 'object':
      break
    default:
      return false
  }
  if (value === null) return true
  if (depth > SAFE_DEPTH) return false
  if (typeof (value as { toJSON?: unknown }).toJSON === 'function') return true
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) if (!isJsonSafe(value[i], depth + 1)) return false
    return true
  }
  const proto = Object.getPrototypeOf(value) as object | null
  if (proto !== Object.prototype && proto !== null) return false
  const record = value as Record<string, unknown>
  for (const key in record) {
    if (!Object.hasOwn(record, key)) continue
    const item = record[key]
    if (item !== undefined && !isJsonSafe(item, depth + 1)) return false
  }
  return true
}

/** `args[1].when`, `args[0]["a b"]`: the keys from the offending value up, innermost first. */
function pathOf(keys: (string | number)[]): string {
  let path = 'args'
  for (let i = keys.length - 1; i >= 0; i--) {
    const key = keys[i]!
    path +=
      typeof key === 'number' ? `[${key}]` : /^[A-Za-z_$][\w$]*$/.test(key) ? `.${key}` : `[${JSON.stringify(key)}]`
  }
  return path
}

interface Problem {
  /** Keys from the offending value up to the arguments, filled in as the search unwinds. */
  path: (string | number)[]
  what: string
}

/**
 * The first value JSON cannot carry, or undefined. Valid values (every call's) cost no allocation
 * but the walk: the path is built only for a problem found.
 */
function findProblem(value: unknown, parents: object[]): Problem | undefined {
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return undefined
    case 'number':
      return Number.isFinite(value) ? undefined : { path: [], what: String(value) }
    case 'bigint':
      return { path: [], what: 'BigInt' }
    case 'undefined':
      return { path: [], what: 'undefined (use null)' }
    case 'function':
      return { path: [], what: 'a function' }
    case 'symbol':
      return { path: [], what: 'a Symbol' }
  }
  if (value === null) return undefined
  const object = value as object
  if (parents.includes(object)) return { path: [], what: 'a cycle (the value contains itself)' }
  // Dates and other values that say how they are JSON (toJSON) are JSON's own business.
  if (typeof (object as { toJSON?: unknown }).toJSON === 'function') return undefined
  parents.push(object)
  try {
    if (Array.isArray(object)) {
      for (let i = 0; i < object.length; i++) {
        const found = findProblem(object[i], parents)
        if (found) return (found.path.push(i), found)
      }
      return undefined
    }
    const proto = Object.getPrototypeOf(object) as object | null
    if (proto !== Object.prototype && proto !== null) {
      const name = (object.constructor as { name?: unknown } | undefined)?.name
      return {
        path: [],
        what: `${typeof name === 'string' && name ? `${/^[AEIOU]/.test(name) ? 'an' : 'a'} ${name}` : 'a class instance'} (not a plain object)`,
      }
    }
    const record = object as Record<string, unknown>
    for (const key in record) {
      if (!Object.hasOwn(record, key)) continue
      const item = record[key]
      // An undefined property is an absent one, as JSON has it.
      if (item === undefined) continue
      const found = findProblem(item, parents)
      if (found) return (found.path.push(key), found)
    }
    return undefined
  } finally {
    parents.pop()
  }
}
