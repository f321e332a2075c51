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
    const problem = findProblem(args, 'args', [])
    if (problem) {
      throw new FnboxError(
        'ERR_INVALID_ARGUMENT',
        `call arguments must be JSON values: ${problem.path}: ${problem.what}`,
        {
          details: { path: problem.path, value: problem.what },
        },
      )
    }
    return JSON.stringify(args)
  } catch (err) {
    if (err instanceof FnboxError) throw err
    // A getter or toJSON that threw.
    throw new FnboxError('ERR_INVALID_ARGUMENT', `call arguments must be JSON values: ${String(err)}`, { cause: err })
  }
}

function findProblem(value: unknown, path: string, parents: object[]): { path: string; what: string } | undefined {
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return undefined
    case 'number':
      return Number.isFinite(value) ? undefined : { path, what: String(value) }
    case 'bigint':
      return { path, what: 'BigInt' }
    case 'undefined':
      return { path, what: 'undefined (use null)' }
    case 'function':
      return { path, what: 'a function' }
    case 'symbol':
      return { path, what: 'a Symbol' }
  }
  if (value === null) return undefined
  const object = value as object
  if (parents.includes(object)) return { path, what: 'a cycle (the value contains itself)' }
  // Dates and other values that say how they are JSON (toJSON) are JSON's own business.
  if (typeof (object as { toJSON?: unknown }).toJSON === 'function') return undefined
  parents.push(object)
  try {
    if (Array.isArray(object)) {
      for (let i = 0; i < object.length; i++) {
        const found = findProblem(object[i], `${path}[${i}]`, parents)
        if (found) return found
      }
      return undefined
    }
    const proto = Object.getPrototypeOf(object) as object | null
    if (proto !== Object.prototype && proto !== null) {
      const name = (object.constructor as { name?: unknown } | undefined)?.name
      return {
        path,
        what: `${typeof name === 'string' && name ? `${/^[AEIOU]/.test(name) ? 'an' : 'a'} ${name}` : 'a class instance'} (not a plain object)`,
      }
    }
    for (const [key, item] of Object.entries(object)) {
      // An undefined property is an absent one, as JSON has it.
      if (item === undefined) continue
      const found = findProblem(
        item,
        /^[A-Za-z_$][\w$]*$/.test(key) ? `${path}.${key}` : `${path}[${JSON.stringify(key)}]`,
        parents,
      )
      if (found) return found
    }
    return undefined
  } finally {
    parents.pop()
  }
}
