/**
 * Validation shared by the data domains' arguments (each domain's `operations.ts` adds its own), before they reach an adapter: types, shapes and sizes,
 * with typed errors naming the argument, the limit and the value. Guest calls and the host API
 * (`runtime.kv`, ...) go through the same checks, so every adapter gets clean input.
 *
 * @internal
 * @module
 */
import { FnboxError } from '../../errors.js'
import type { JsonValue } from './types.js'

/**
 * Size limits of the data domains.
 *
 * @public
 */
export const DATA_LIMITS = Object.freeze({
  /** A KV key, in UTF-8 bytes. */
  maxKeyBytes: 512,
  /** A KV value, as JSON text in UTF-8 bytes. */
  maxValueBytes: 1024 * 1024,
  /** Keys or files one `list` call returns. */
  maxListLimit: 1000,
  /** A file written or read through `files`. */
  maxFileBytes: 16 * 1024 * 1024,
  /** Items in one `vector.upsert`, ids in one `get` or `delete`. */
  maxVectorBatch: 1000,
  /** A vector's dimensions (pgvector's HNSW limit). */
  maxDimensions: 2000,
  /** One item's metadata, as JSON text in UTF-8 bytes. */
  maxMetadataBytes: 10 * 1024,
  /** Results of one vector query. */
  maxTopK: 1000,
  /** A vector id, an index or namespace name, a cursor: UTF-8 bytes. */
  maxNameBytes: 256,
})

export function invalid(argument: string, message: string, extra?: Record<string, unknown>): FnboxError {
  return new FnboxError('ERR_INVALID_ARGUMENT', `${argument} ${message}`, { details: { argument, ...extra } })
}

export function tooLarge(argument: string, limit: number, value: number, unit = 'bytes'): FnboxError {
  return new FnboxError('ERR_TOO_LARGE', `${argument} is ${value} ${unit}; the limit is ${limit}`, {
    details: { argument, limit, value },
  })
}

/**
 * Text Postgres can store: no U+0000 (text and jsonb refuse it) and no lone surrogate (not
 * encodable as UTF-8). Checked on every backend so they all accept the same input.
 */
function storableText(s: string, argument: string): void {
  if (s.includes('\0')) throw invalid(argument, 'must not contain U+0000')
  if (!s.isWellFormed()) throw invalid(argument, 'must not contain lone surrogates')
}

export function text(v: unknown, argument: string, maxBytes: number, allowEmpty = false): string {
  if (typeof v !== 'string') throw invalid(argument, `must be a string (got ${kind(v)})`)
  if (!allowEmpty && v.length === 0) throw invalid(argument, 'must not be empty')
  const bytes = Buffer.byteLength(v)
  if (bytes > maxBytes) throw tooLarge(argument, maxBytes, bytes)
  storableText(v, argument)
  return v
}

export function key(v: unknown, argument = 'key'): string {
  return text(v, argument, DATA_LIMITS.maxKeyBytes)
}

/**
 * A JSON value (what `JSON.parse` gives) within `maxBytes` of JSON text, every string (and key)
 * storable. `json` is its text when the caller has it (saves serialising twice).
 */
export function jsonValue(v: unknown, argument: string, maxBytes: number): JsonValue {
  if (v === undefined) throw invalid(argument, 'must be a JSON value (got undefined)')
  let textForm: string
  try {
    textForm = JSON.stringify(v)
  } catch {
    throw invalid(argument, 'must be a JSON value')
  }
  if (textForm === undefined) throw invalid(argument, `must be a JSON value (got ${kind(v)})`)
  const bytes = Buffer.byteLength(textForm)
  if (bytes > maxBytes) throw tooLarge(argument, maxBytes, bytes)
  // JSON.stringify writes U+0000 as \u0000 and lone surrogates as \udXXX escapes.
  if (/(?<!\\)(?:\\\\)*\\u0000/.test(textForm)) throw invalid(argument, 'must not contain U+0000 in its strings')
  if (/(?<!\\)(?:\\\\)*\\ud[89a-f][0-9a-f]{2}/i.test(textForm)) {
    throw invalid(argument, 'must not contain lone surrogates in its strings')
  }
  // Non-finite numbers became null above; objects must be plain data from here on.
  return JSON.parse(textForm) as JsonValue
}

export function ttl(v: unknown, argument = 'options.ttl'): number | undefined {
  if (v === undefined || v === null) return undefined
  if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) {
    throw invalid(argument, `must be a positive number of seconds (got ${String(v)})`)
  }
  if (v > 100 * 365 * 24 * 3600)
    throw invalid(argument, 'must be at most 100 years', { limit: 100 * 365 * 24 * 3600, value: v })
  return v
}

export function finite(v: unknown, argument: string): number {
  if (typeof v !== 'number' || !Number.isFinite(v))
    throw invalid(argument, `must be a finite number (got ${String(v)})`)
  return v
}

export function limit(v: unknown, argument = 'options.limit', fallback = 100): number {
  if (v === undefined || v === null) return fallback
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1 || v > DATA_LIMITS.maxListLimit) {
    throw invalid(argument, `must be an integer from 1 to ${DATA_LIMITS.maxListLimit} (got ${String(v)})`, {
      limit: DATA_LIMITS.maxListLimit,
    })
  }
  return v
}

export function optionalText(v: unknown, argument: string, maxBytes: number): string | undefined {
  if (v === undefined || v === null) return undefined
  return text(v, argument, maxBytes, true)
}

export function object(v: unknown, argument: string): Record<string, unknown> {
  if (v === undefined || v === null) return {}
  if (typeof v !== 'object' || Array.isArray(v)) throw invalid(argument, `must be an object (got ${kind(v)})`)
  return v as Record<string, unknown>
}

export function bool(v: unknown, argument: string): boolean {
  if (v === undefined || v === null) return false
  if (typeof v !== 'boolean') throw invalid(argument, `must be a boolean (got ${kind(v)})`)
  return v
}

export function kind(v: unknown): string {
  if (v === null) return 'null'
  if (Array.isArray(v)) return 'an array'
  return typeof v
}
