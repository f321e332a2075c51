/**
 * `mkdir -p` that always settles. Node 20's `mkdir(path, { recursive: true })` never returns for
 * a path under `/proc` (it retries the kernel's ENOENT forever, spinning a libuv thread, or the
 * event loop itself for `mkdirSync`): a folder option pointing there would hang the host.
 *
 * @internal
 * @module
 */
import { existsSync, mkdirSync } from 'node:fs'
import { mkdir, stat } from 'node:fs/promises'
import { dirname, resolve } from 'node:path'

/** Makes `path` and its missing parents, one level at a time; the first failure is thrown as is. */
export async function makeDir(path: string): Promise<void> {
  const missing: string[] = []
  for (let dir = resolve(path); ; dir = dirname(dir)) {
    const exists = await stat(dir).then(
      () => true,
      (err: NodeJS.ErrnoException) => {
        if (err.code === 'ENOENT') return false
        throw err
      },
    )
    if (exists || dirname(dir) === dir) break
    missing.unshift(dir)
  }
  for (const dir of missing) {
    await mkdir(dir).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'EEXIST') throw err // made meanwhile by another caller: fine
    })
  }
}

/** {@link makeDir}, synchronous. */
export function makeDirSync(path: string): void {
  const missing: string[] = []
  for (let dir = resolve(path); !existsSync(dir) && dirname(dir) !== dir; dir = dirname(dir)) missing.unshift(dir)
  for (const dir of missing) {
    try {
      mkdirSync(dir)
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err
    }
  }
}
