/**
 * Validation of the reliability options, with messages that name the option.
 *
 * @internal
 * @module
 */
import { invalidOption } from '../errors.js'

/** The object `value`, or undefined when absent; refuses keys not in `allowed`. */
export function optionObject(
  value: unknown,
  name: string,
  allowed: readonly string[],
): Record<string, unknown> | undefined {
  if (value === undefined) return undefined
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw invalidOption(name, 'an object', value)
  for (const key of Object.keys(value)) {
    if (!allowed.includes(key)) throw invalidOption(`${name}.${key}`, `one of ${allowed.join(', ')}`, key)
  }
  return value as Record<string, unknown>
}

/** A number in `[min, max]` (an integer unless `fractional`), or `fallback` when absent. */
export function numberOption(
  value: unknown,
  name: string,
  fallback: number,
  range: { min: number; max: number; fractional?: boolean },
): number {
  if (value === undefined) return fallback
  const ok =
    typeof value === 'number' &&
    Number.isFinite(value) &&
    (range.fractional === true || Number.isInteger(value)) &&
    value >= range.min &&
    value <= range.max
  if (!ok) {
    const kind = range.fractional === true ? 'a number' : 'an integer'
    throw invalidOption(name, `${kind} from ${range.min} to ${range.max}`, value)
  }
  return value
}

/** An optional number in range: undefined stays undefined. */
export function optionalNumber(
  value: unknown,
  name: string,
  range: { min: number; max: number; fractional?: boolean },
): number | undefined {
  return value === undefined ? undefined : numberOption(value, name, 0, range)
}

export function booleanOption(value: unknown, name: string, fallback: boolean): boolean {
  if (value === undefined) return fallback
  if (typeof value !== 'boolean') throw invalidOption(name, 'a boolean', value)
  return value
}

/** The longest timer Node runs as asked (a longer one fires at once). */
export const MAX_TIMER_MS = 2 ** 31 - 1
