/**
 * Structured logs: a guest's console line as `message` plus `fields` (its plain-object arguments)
 * and `err` (its first Error argument, the stack mapped through the deploy's source map), handed
 * to `log` listeners and to a pino-compatible logger with the function, version, request id and
 * trace ids. With neither, guest errors and warnings and failed invocations go to stderr, one line
 * each, so a newcomer's failing function is not silent.
 *
 * The guest's console (prelude `console.js`) sends one string per line: the text, and when the
 * line had fields, U+001E and their JSON. It crosses the thread boundary as any guest text does,
 * redacted of the function's secrets on the way (`GUEST_TEXT` in `pool/executor.ts`).
 *
 * @internal
 * @module
 */
import { invalidOption } from '../errors.js'

/**
 * The slice of a pino logger fnbox calls (`logger.info(obj, msg)`): pino, or anything with these
 * four methods.
 *
 * @public
 */
export interface LoggerLike {
  /** Guest `console.debug`. */
  debug(obj: object, msg?: string): void
  /** Guest `console.log` and `console.info`. */
  info(obj: object, msg?: string): void
  /** Guest `console.warn`. */
  warn(obj: object, msg?: string): void
  /** Guest `console.error`, and failed invocations (`msg` 'invocation failed', with `code` and `err`). */
  error(obj: object, msg?: string): void
}

/** An Error a guest logged, as pino's standard serializer shapes one. @public */
export interface LoggedError {
  /** The error's name (`TypeError`), or the fnbox error code of a failed invocation. */
  type: string
  /** Its message, redacted of the function's secrets. */
  message: string
  /** Mapped through the deploy's source map when it has one. */
  stack?: string
}

/** A guest console line taken apart. */
export interface ParsedLine {
  message: string
  fields: Record<string, unknown> | undefined
  err: LoggedError | undefined
}

/** Separates a line's text from its fields' JSON (see the guest's console.js). */
const FIELDS_MARK = '\u001e'

export function parseGuestLine(raw: string): ParsedLine {
  const mark = raw.lastIndexOf(FIELDS_MARK)
  if (mark < 0) return { message: raw, fields: undefined, err: undefined }
  let parsed: unknown
  try {
    parsed = JSON.parse(raw.slice(mark + 1))
  } catch {
    return { message: raw, fields: undefined, err: undefined }
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    return { message: raw, fields: undefined, err: undefined }
  }
  const { f, e } = parsed as { f?: unknown; e?: unknown }
  const fields = typeof f === 'object' && f !== null && !Array.isArray(f) ? (f as Record<string, unknown>) : undefined
  let err: LoggedError | undefined
  if (typeof e === 'object' && e !== null) {
    const { type, message, stack } = e as Record<string, unknown>
    err = {
      type: typeof type === 'string' ? type : 'Error',
      message: typeof message === 'string' ? message : '',
      ...(typeof stack === 'string' ? { stack } : {}),
    }
  }
  return { message: raw.slice(0, mark), fields, err }
}

/** `undefined`: print warnings and errors to stderr when nobody listens; `false`: nothing. */
export type ResolvedLogger = LoggerLike | 'stderr' | false

export function resolveLogger(value: unknown): ResolvedLogger {
  if (value === undefined) return 'stderr'
  if (value === false) return false
  const logger = value as Partial<LoggerLike> | null
  if (
    typeof logger !== 'object' ||
    logger === null ||
    typeof logger.debug !== 'function' ||
    typeof logger.info !== 'function' ||
    typeof logger.warn !== 'function' ||
    typeof logger.error !== 'function'
  ) {
    throw invalidOption('options.logger', 'a pino-compatible logger (debug, info, warn, error) or false', value)
  }
  return logger as LoggerLike
}

/** Guest console levels → logger methods. */
export const LOGGER_LEVEL = { debug: 'debug', info: 'info', log: 'info', warn: 'warn', error: 'error' } as const

/** One line for stderr: no newline inside, so one entry stays one line. */
export function oneLine(text: string): string {
  return text.replace(/\r?\n\s*/g, ' ⏎ ')
}

/** The first frame of a stack (`at f (file.ts:3:7)`), for a one-line report. */
export function topFrame(stack: string | undefined): string | undefined {
  if (!stack) return undefined
  for (const line of stack.split('\n')) {
    const trimmed = line.trim()
    if (trimmed.startsWith('at ')) return trimmed
  }
  return undefined
}
