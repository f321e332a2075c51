/**
 * The files domain on the host: the path gate every guest path goes through, and the stores.
 *
 * @module
 */

export { DiskFileStore } from './disk.js'
export { DEFAULT_FILE_LIST_LIMIT, MAX_FILE_LIST_LIMIT } from './list.js'
export { MemoryFileStore } from './memory.js'
export { MAX_FILE_PATH_BYTES, MAX_FILE_SEGMENT_BYTES, normalizeFilePath, normalizeFilePrefix } from './path.js'
