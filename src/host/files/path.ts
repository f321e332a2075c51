/**
 * The one gate every file path goes through before it reaches a `FileStore`: guest paths
 * are hostile, so a path is either provably a plain relative name under the scope's folder or it
 * is refused. Nothing is "cleaned up" into a different location (no `..` collapsing, no slash
 * trimming): a path that needs fixing is an error, so two spellings never name one file by accident.
 *
 * @module
 */
import { FnboxError } from '../../errors.js'

/** Longest path, in UTF-8 bytes. */
export const MAX_FILE_PATH_BYTES = 1024
/** Longest path segment (one file or folder name), in UTF-8 bytes: what common file systems allow. */
export const MAX_FILE_SEGMENT_BYTES = 255

const CONTROL = /[\u0000-\u001f\u007f]/
const LONE_SURROGATE = /\p{Cs}/u
const DOTS_AND_SPACES = /^[. ]+$/
const DRIVE = /^[A-Za-z]:/
const ESCAPE = /%([0-9A-Fa-f]{2})/g

/**
 * Checks a file path and returns its normalized form: Unicode NFC, so one name is one file on
 * every store and file system.
 *
 * Refused (`ERR_INVALID_ARGUMENT`, `details.argument` = `argument`):
 * - non-strings, the empty string, paths over {@link MAX_FILE_PATH_BYTES} UTF-8 bytes and
 *   segments over {@link MAX_FILE_SEGMENT_BYTES};
 * - control characters (U+0000–U+001F, U+007F), unpaired surrogates and backslashes;
 * - absolute paths (leading `/`) and a Windows drive (`C:`) at the start;
 * - empty segments (`a//b`, a trailing `/`) and segments of dots and spaces only (`.`, `..`,
 *   `...`, `.. `: Windows drops trailing dots and spaces, which would turn `.. ` into `..`).
 *
 * Percent escapes: a path is never decoded here, but something downstream (a URL router, a
 * proxy, a careless `decodeURIComponent`) may decode it, even several times. So each segment is
 * decoded repeatedly (`%252e` → `%2e` → `.`) until nothing changes, and it is refused if any of
 * those forms contains `/`, `\`, a control character, is dots and spaces only, or (first segment)
 * starts with a drive. Harmless escapes stay as typed: `100%25.txt`, `a%20b`.
 */
export function normalizeFilePath(input: unknown, argument = 'path'): string {
  const path = normalizeText(input, argument)
  if (path === '') throw invalid(argument, 'must not be empty')
  checkSegments(path.split('/'), argument, true)
  return path
}

/**
 * Checks a `FileStore.list` prefix and returns its normalized form (NFC). `undefined` and
 * `''` mean every file. The same rules as {@link normalizeFilePath}, except that the prefix may
 * end with `/` and its last segment is a partial name compared as plain text: `notes/20` matches
 * `notes/2024.txt`, and `.` matches dot-files.
 */
export function normalizeFilePrefix(input: unknown, argument = 'prefix'): string {
  if (input === undefined) return ''
  const prefix = normalizeText(input, argument)
  const segments = prefix.split('/')
  const partial = segments.pop() ?? ''
  checkSegments(segments, argument, false)
  const problem = partialProblem(partial, segments.length === 0)
  if (problem) throw invalid(argument, problem)
  return prefix
}

/** The folder part of a normalized prefix: every complete segment (`a/b/c` → `a/b`, `a/` → `a`). */
export function prefixFolder(prefix: string): string {
  const slash = prefix.lastIndexOf('/')
  return slash < 0 ? '' : prefix.slice(0, slash)
}

/** `a/b/c.txt` → `['a', 'a/b']`. */
export function parentFolders(path: string): string[] {
  const folders: string[] = []
  for (let slash = path.indexOf('/'); slash >= 0; slash = path.indexOf('/', slash + 1)) {
    folders.push(path.slice(0, slash))
  }
  return folders
}

/**
 * A write refused because the path is taken: a folder on its way is a file (or, on disk, a
 * symbolic link or other non-folder), or the path itself is a folder. The guest's mistake, so
 * `ERR_INVALID_ARGUMENT`.
 */
export function writeConflict(path: string, problem: string): FnboxError {
  return new FnboxError('ERR_INVALID_ARGUMENT', `cannot write "${path}": ${problem}`, { details: { argument: 'path' } })
}

function normalizeText(input: unknown, argument: string): string {
  if (typeof input !== 'string') throw invalid(argument, `must be a string (got ${typeOf(input)})`)
  if (LONE_SURROGATE.test(input)) throw invalid(argument, 'must be well-formed Unicode')
  const text = input.normalize('NFC')
  const bytes = Buffer.byteLength(text, 'utf8')
  if (bytes > MAX_FILE_PATH_BYTES) {
    throw invalid(argument, `must be at most ${MAX_FILE_PATH_BYTES} UTF-8 bytes (got ${bytes})`)
  }
  if (CONTROL.test(text)) throw invalid(argument, 'must not contain control characters')
  if (text.includes('\\')) throw invalid(argument, 'must use "/" as separator, not "\\"')
  if (text.startsWith('/')) throw invalid(argument, 'must be relative (no leading "/")')
  return text
}

/** Checks complete segments; `whole` when they are the whole input (a path, not a prefix). */
function checkSegments(segments: string[], argument: string, whole: boolean): void {
  segments.forEach((segment, index) => {
    if (segment === '') {
      const last = whole && index === segments.length - 1
      throw invalid(argument, last ? 'must not end with "/"' : 'must not contain empty segments ("//")')
    }
    if (Buffer.byteLength(segment, 'utf8') > MAX_FILE_SEGMENT_BYTES) {
      throw invalid(argument, `must have segments of at most ${MAX_FILE_SEGMENT_BYTES} UTF-8 bytes`)
    }
    const problem = segmentProblem(segment, index === 0, false)
    if (problem) throw invalid(argument, problem)
  })
}

function partialProblem(partial: string, first: boolean): string | undefined {
  if (Buffer.byteLength(partial, 'utf8') > MAX_FILE_SEGMENT_BYTES) {
    return `must have segments of at most ${MAX_FILE_SEGMENT_BYTES} UTF-8 bytes`
  }
  return segmentProblem(partial, first, true)
}

/**
 * What is wrong with one segment, in its raw form or any of its iterated percent decodings.
 * A `partial` (a prefix's last segment) may be dots only: it is matched as text, never resolved.
 */
function segmentProblem(segment: string, first: boolean, partial: boolean): string | undefined {
  let form = segment
  for (let depth = 0; ; depth++) {
    const how = depth === 0 ? '' : ' (once percent-decoded)'
    if (form.includes('/') || form.includes('\\')) return `must not contain an escaped separator${how}`
    if (CONTROL.test(form)) return `must not contain control characters${how}`
    if (!partial && DOTS_AND_SPACES.test(form))
      return `must not contain segments of only dots or spaces ("." or "..")${how}`
    if (first && DRIVE.test(form)) return `must not start with a drive letter${how}`
    const decoded = decodeOnce(form)
    if (decoded === form) return undefined
    form = decoded
  }
}

/**
 * One round of percent decoding, byte by byte (as Latin-1): every character checked for is ASCII,
 * and UTF-8 never encodes ASCII inside a multi-byte sequence, so Latin-1 finds exactly what a
 * UTF-8 decoder would. Each round shortens the text, so the loop above ends.
 */
function decodeOnce(text: string): string {
  return text.includes('%') ? text.replace(ESCAPE, (_, hex: string) => String.fromCharCode(parseInt(hex, 16))) : text
}

function invalid(argument: string, problem: string): FnboxError {
  return new FnboxError('ERR_INVALID_ARGUMENT', `${argument} ${problem}`, { details: { argument } })
}

function typeOf(value: unknown): string {
  if (value === null) return 'null'
  if (Array.isArray(value)) return 'an array'
  return typeof value
}
