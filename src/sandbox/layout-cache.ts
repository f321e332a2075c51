/**
 * The layout facts of the QuickJS build ({@link EngineLayout}) kept on disk, so that an executor
 * thread starts without probing a fresh module: probing cost each new thread 130-230 ms of its
 * start (a 2-core machine, 2026-12-08), most of it page faults on the probe's untouched 16 MiB,
 * and it sat in front of the first deploy of every new process (a vitest file, a CLI run).
 *
 * A layout is a fact of the WebAssembly binary (where its static data puts the break pointer,
 * what instantiating it writes, an offset in its context struct), so the file is named by a hash
 * of the binary's bytes: another build never reads it. It lives beside the embedded database's
 * templates, in `node_modules/.cache/fnbox`; a file that does not parse as a layout is probed
 * again and replaced, and a folder that cannot be written leaves every thread probing as before.
 * Each restore still checks the break of its fresh module against the layout.
 *
 * @internal
 * @module
 */
import { createHash } from 'node:crypto'
import { readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs'
import { dirname, join, sep } from 'node:path'
import { makeDirSync } from '../storage/make-dir.js'
import type { EngineLayout } from './snapshot.js'

/** Bumped when {@link EngineLayout} changes shape or meaning: older files are then ignored. */
const FORMAT = 1

/** The cache file for the binary `wasm`, beside the package that holds it (`<node_modules>/.cache/fnbox`). */
export function layoutCacheFile(wasmPath: string, wasm: Uint8Array): string | undefined {
  const marker = `${sep}node_modules${sep}`
  const at = wasmPath.lastIndexOf(marker)
  if (at < 0) return undefined
  const hash = createHash('sha256').update(wasm).digest('hex').slice(0, 16)
  return join(wasmPath.slice(0, at + marker.length - 1), '.cache', 'fnbox', `quickjs-layout-${FORMAT}-${hash}.json`)
}

function isLayout(value: unknown): value is EngineLayout {
  const v = value as Partial<EngineLayout> | null
  const uint = (n: unknown): boolean => Number.isSafeInteger(n) && (n as number) >= 0
  return (
    typeof v === 'object' &&
    v !== null &&
    uint(v.brkAddress) &&
    uint(v.freshBrk) &&
    uint(v.randomStateOffset) &&
    Array.isArray(v.freshDirty) &&
    v.freshDirty.length % 2 === 0 &&
    v.freshDirty.every(uint)
  )
}

/** The layout from `file`, else from `discover()` (then written to `file`, best effort). */
export async function cachedLayout(
  file: string | undefined,
  discover: () => Promise<EngineLayout>,
): Promise<EngineLayout> {
  if (file !== undefined) {
    try {
      const stored: unknown = JSON.parse(readFileSync(file, 'utf8'))
      if (isLayout(stored)) return stored
    } catch {
      // none yet, or unreadable: probe
    }
  }
  const layout = await discover()
  if (file !== undefined) {
    const temp = `${file}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`
    try {
      makeDirSync(dirname(file))
      writeFileSync(temp, JSON.stringify(layout))
      renameSync(temp, file) // atomic: a thread reading meanwhile sees no file or a whole one
    } catch {
      // a read-only cache folder: every thread probes, as without a cache
    } finally {
      rmSync(temp, { force: true })
    }
  }
  return layout
}
