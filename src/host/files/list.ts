/**
 * What every `FileStore.list` shares: its options checked once, the code-point order of
 * paths, and how a page and its cursor are cut. Keeping this in one place keeps the stores'
 * pages identical, which the conformance tests hold them to.
 *
 * @module
 */
import { FnboxError } from '../../errors.js'
import { compareCodePoints } from '../domains/code-points.js'
import type { FileInfo, FileListOptions, FileListResult } from './types.js'
import { normalizeFilePath, normalizeFilePrefix } from './path.js'

/** Files per page when `limit` is unset. */
export const DEFAULT_FILE_LIST_LIMIT = 100
/** Most files one page may hold. */
export const MAX_FILE_LIST_LIMIT = 1000

/** {@link FileListOptions} checked and defaulted. */
export interface FileListQuery {
  /** Normalized prefix, `''` for every file. */
  prefix: string
  limit: number
  /** Only paths after this one (the previous page's last path). */
  after: string | undefined
}

/**
 * Checks list options. The cursor is the last path of the previous page, so it must be a valid
 * path itself: a forged cursor can select where a page starts, never what a store touches.
 */
export function fileListQuery(options: FileListOptions = {}): FileListQuery {
  const { limit = DEFAULT_FILE_LIST_LIMIT } = options
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_FILE_LIST_LIMIT) {
    throw new FnboxError('ERR_INVALID_ARGUMENT', `limit must be an integer from 1 to ${MAX_FILE_LIST_LIMIT}`, {
      details: { argument: 'limit', value: limit },
    })
  }
  return {
    prefix: normalizeFilePrefix(options.prefix),
    limit,
    after: options.cursor === undefined ? undefined : normalizeFilePath(options.cursor, 'cursor'),
  }
}

/** True when `path` belongs on a page of `query` (page size aside). */
export function matchesFileQuery(path: string, query: FileListQuery): boolean {
  return path.startsWith(query.prefix) && (query.after === undefined || compareCodePoints(path, query.after) > 0)
}

/**
 * The page of `files` (matching the query, sorted, and at most `limit + 1` of them: the extra one
 * only says another page exists). The cursor is the page's last path.
 */
export function fileListPage(files: FileInfo[], limit: number): FileListResult {
  if (files.length <= limit) return { files }
  const page = files.slice(0, limit)
  return { files: page, cursor: page[page.length - 1]?.path }
}
