/**
 * Guest stack traces mapped through a function's source map: `at fetch (chat.js:1:5120)` in a
 * bundle becomes `at fetch (functions/chat.ts:31:12)`. Uses Node's own source map reader
 * (`module.SourceMap`), so no dependency is needed.
 *
 * @internal
 * @module
 */
import { SourceMap, type SourceMapPayload } from 'node:module'

/** Maps the frames of a guest stack that point into `filename`; other lines stay as they are. */
export class StackMapper {
  readonly #map: SourceMap
  readonly #frame: RegExp

  /** @throws SyntaxError when `sourceMap` is not JSON; TypeError when it is not a source map. */
  constructor(sourceMap: string, filename: string) {
    const payload = JSON.parse(sourceMap) as SourceMapPayload
    if (typeof payload !== 'object' || payload === null || typeof payload.mappings !== 'string') {
      throw new TypeError('not a source map (no "mappings")')
    }
    this.#map = new SourceMap(payload)
    // QuickJS writes `at name (file:line:col)` or `at file:line:col`; the column may be absent.
    this.#frame = new RegExp(`${escape(filename)}:(\\d+)(?::(\\d+))?`, 'g')
  }

  map(stack: string): string {
    return stack.replace(this.#frame, (whole, line: string, column: string | undefined) => {
      // findEntry takes 0-based lines and columns; stacks count lines from 1 (QuickJS columns too).
      const entry = this.#map.findEntry(Number(line) - 1, column === undefined ? 0 : Number(column) - 1) as
        { originalSource?: string; originalLine?: number; originalColumn?: number } | Record<string, never>
      if (entry.originalSource === undefined || entry.originalLine === undefined) return whole
      return `${entry.originalSource}:${entry.originalLine + 1}:${(entry.originalColumn ?? 0) + 1}`
    })
  }
}

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
}
