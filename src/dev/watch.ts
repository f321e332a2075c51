/**
 * Watching the files a function is bundled from, for `fnbox dev`.
 *
 * Each function's files come from esbuild's metafile (what its last bundle read), so exactly what
 * can change the function is watched, and a new import is watched from the next bundle on. The
 * folders holding those files are watched, one `fs.watch` each, not recursively and not the
 * files themselves: editors save by writing a new file and renaming it over the old one, which
 * ends a watch on the file (inotify follows the inode) but shows in its folder. Files under
 * `node_modules` are left out (dependencies change by `npm install`, and watching them would
 * cost a watch per package folder).
 *
 * Not `fs.watch(dir, { recursive: true })`: on Linux, Node 20 emulates it by walking the tree
 * in JavaScript (a watch per folder, `node_modules` included), it misses events in folders
 * created while it walks (nodejs/node#48437) and throws when a file goes away under it
 * (nodejs/node#52018). Not chokidar: the list of files is known, so one non-recursive watch per
 * folder is all there is to do; no dependency needed.
 *
 * @internal
 * @module
 */
import { watch, type FSWatcher } from 'node:fs'
import { dirname, join, sep } from 'node:path'

/** Events closer together than this make one change (an editor's save is several events). */
export const DEFAULT_DEBOUNCE_MS = 80

interface Watched {
  files: Set<string>
  /** Folders where any change counts (after a failed bundle, a file it missed may appear). */
  anyIn: Set<string>
}

/** Calls `onChange(key, file)` once per burst of changes to a watched key's files. */
export class SourceWatcher {
  readonly #onChange: (key: string, file: string) => void
  readonly #debounceMs: number
  readonly #keys = new Map<string, Watched>()
  readonly #folders = new Map<string, FSWatcher>()
  readonly #timers = new Map<string, NodeJS.Timeout>()
  #closed = false

  constructor(onChange: (key: string, file: string) => void, debounceMs = DEFAULT_DEBOUNCE_MS) {
    this.#onChange = onChange
    this.#debounceMs = debounceMs
  }

  /** Watches `files` (absolute) for `key`, replacing what was watched for it. */
  watch(key: string, files: Iterable<string>, options: { anyChangeIn?: Iterable<string> } = {}): void {
    if (this.#closed) return
    const own = [...files].filter((f) => !f.split(sep).includes('node_modules'))
    this.#keys.set(key, { files: new Set(own), anyIn: new Set(options.anyChangeIn ?? []) })
    this.#reconcile()
  }

  /** The files watched for `key` (none when unknown). */
  files(key: string): string[] {
    return [...(this.#keys.get(key)?.files ?? [])]
  }

  unwatch(key: string): void {
    this.#keys.delete(key)
    clearTimeout(this.#timers.get(key))
    this.#timers.delete(key)
    this.#reconcile()
  }

  close(): void {
    this.#closed = true
    for (const timer of this.#timers.values()) clearTimeout(timer)
    this.#timers.clear()
    for (const w of this.#folders.values()) w.close()
    this.#folders.clear()
    this.#keys.clear()
  }

  /** One watch per folder any key needs; folders no longer needed are let go. */
  #reconcile(): void {
    const needed = new Set<string>()
    for (const w of this.#keys.values()) {
      for (const f of w.files) needed.add(dirname(f))
      for (const d of w.anyIn) needed.add(d)
    }
    for (const [folder, w] of this.#folders) {
      if (!needed.has(folder)) {
        w.close()
        this.#folders.delete(folder)
      }
    }
    for (const folder of needed) {
      if (this.#folders.has(folder)) continue
      let w: FSWatcher
      try {
        w = watch(folder, (_event, name) => this.#changed(folder, name === null ? undefined : join(folder, name)))
      } catch {
        continue // gone, or unreadable: its files cannot change the bundle until it is back
      }
      // The folder was removed: its watch is over (the next bundle says what to watch then).
      w.on('error', () => {
        w.close()
        if (this.#folders.get(folder) === w) this.#folders.delete(folder)
      })
      this.#folders.set(folder, w)
    }
  }

  #changed(folder: string, file: string | undefined): void {
    if (this.#closed) return
    for (const [key, w] of this.#keys) {
      const hit = file === undefined ? [...w.files].some((f) => dirname(f) === folder) : w.files.has(file)
      if (!hit && !w.anyIn.has(folder)) continue
      clearTimeout(this.#timers.get(key))
      this.#timers.set(
        key,
        setTimeout(() => {
          this.#timers.delete(key)
          this.#onChange(key, file ?? folder)
        }, this.#debounceMs),
      )
    }
  }
}
