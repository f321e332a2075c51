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

/** The arguments as a JSON array; `ERR_INVALID_ARGUMENT` with the path of a value JSON cannot carry. */
export function argsToJson(args: readonly unknown[]): string {
  try {
    const problem = findProblem(args, [])
    if (problem) {
      const path = pathOf(problem.path)
      throw new FnboxError('ERR_INVALID_ARGUMENT', `call arguments must be JSON values: ${path}: ${problem.what}`, {
        details: { path, value: problem.what },
      })
    }
    return JSON.stringify(args)
  } catch (err) {
    if (err instanceof FnboxError) throw err
    // A getter or toJSON that threw.
    throw new FnboxError('ERR_INVALID_ARGUMENT', `call arguments must be JSON values: ${String(err)}`, { cause: err })
  }
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
