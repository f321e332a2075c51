/**
 * Durations as tests write them: ms as a number, or `'500ms'`, `'10s'`, `'10m'`, `'1h30m'`, `'2d'`.
 * (The `ms` package reads one unit only and has no types in its 2.x line; this is the whole need.)
 *
 * @internal
 * @module
 */
import { invalidOption } from '../errors.js'

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }
const PART = /\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)/gy

/** The duration in ms; throws `ERR_INVALID_OPTION` naming `name` and the value otherwise. */
export function parseDuration(value: number | string, name: string): number {
  if (typeof value === 'number') {
    if (Number.isFinite(value) && value >= 0) return value
  } else if (typeof value === 'string') {
    const text = value.trim()
    let ms = 0
    let end = 0
    PART.lastIndex = 0
    for (let m = PART.exec(text); m; m = PART.exec(text)) {
      ms += Number(m[1]) * UNITS[m[2]!]!
      end = PART.lastIndex
    }
    if (end > 0 && end === text.length) return ms
  }
  throw invalidOption(name, "ms (a number >= 0) or a duration like '500ms', '10s', '10m', '1h30m', '2d'", value)
}
