// Folders fnbox makes from options (the embedded database's, the files folder, `fnbox bundle`'s
// output): made one level at a time, as Node's recursive mkdir never settles under /proc.
import { existsSync } from 'node:fs'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createRuntime } from 'fnbox'
import { makeDir, makeDirSync } from '../../src/storage/make-dir.js'

let dir: string
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'fnbox-make-dir-'))
})
afterAll(() => rm(dir, { recursive: true, force: true }))

describe('makeDir', () => {
  it('makes the missing levels, and is done when the folder exists', async () => {
    const deep = join(dir, 'a', 'b', 'c')
    await makeDir(deep)
    expect(existsSync(deep)).toBe(true)
    await makeDir(deep)
    await Promise.all([makeDir(join(deep, 'd')), makeDir(join(deep, 'd', 'e'))]) // racing callers
    expect(existsSync(join(deep, 'd', 'e'))).toBe(true)
  })

  it('fails with the system error under /proc and below a file, rather than never settling', async () => {
    await expect(makeDir('/proc/fnbox-cannot-live-here/db')).rejects.toMatchObject({ code: 'ENOENT' })
    await writeFile(join(dir, 'file'), 'x')
    await expect(makeDir(join(dir, 'file', 'sub'))).rejects.toMatchObject({ code: 'ENOTDIR' })
    expect(() => makeDirSync('/proc/fnbox-cannot-live-here/db')).toThrow(expect.objectContaining({ code: 'ENOENT' }))
    makeDirSync(join(dir, 'x', 'y'))
    expect(existsSync(join(dir, 'x', 'y'))).toBe(true)
  })
})

describe('folders a runtime is given', () => {
  it('an embedded database folder it cannot make fails the first data call with ERR_STORAGE', async () => {
    const runtime = await createRuntime({ storage: { pglite: '/proc/fnbox-cannot-live-here/db' } })
    try {
      const failed = runtime.kv.get('k')
      await expect(failed).rejects.toMatchObject({ code: 'ERR_STORAGE' })
      await expect(failed).rejects.toThrow(/fnbox-cannot-live-here/)
    } finally {
      await runtime.close()
    }
  })

  it('a files folder it cannot make fails a write, and the runtime goes on', async () => {
    const runtime = await createRuntime({ storage: 'memory', files: '/proc/fnbox-cannot-live-here/files' })
    try {
      await expect(runtime.files.write('a.txt', 'x')).rejects.toMatchObject({ code: 'ERR_STORAGE' })
      await runtime.kv.set('k', 1)
      expect(await runtime.kv.get('k')).toBe(1)
    } finally {
      await runtime.close()
    }
  })
})
