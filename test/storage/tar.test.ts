/**
 * dropTarEntries: a PGlite dump made into a template loses the folder's lock (the regression:
 * loading a template that held a dead owner's `fnbox.lock` let a second process take the folder
 * over; test/storage/folder-lock.test.ts's two-process test caught it).
 */
import { execFileSync } from 'node:child_process'
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { expect, it } from 'vitest'
import { dropTarEntries } from '../../src/storage/tar.js'

it('drops the named entries and keeps every other one, contents intact', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'fnbox-tar-'))
  try {
    const data = join(dir, 'data')
    await mkdir(join(data, 'base', 'deep'), { recursive: true })
    await writeFile(join(data, 'fnbox.lock'), '{"pid":1}')
    await writeFile(join(data, 'PG_VERSION'), '17\n')
    await writeFile(join(data, 'base', 'deep', 'big'), Buffer.alloc(1500, 7))
    await writeFile(join(data, 'base', 'fnbox.lock'), 'not the folder lock')
    execFileSync('tar', ['cf', join(dir, 'in.tar'), '-C', data, '.'])
    const out = dropTarEntries(await readFile(join(dir, 'in.tar')), (path) => path === 'fnbox.lock')
    await writeFile(join(dir, 'out.tar'), out)
    const listed = execFileSync('tar', ['tf', join(dir, 'out.tar')], { encoding: 'utf8' })
      .split('\n')
      .filter(Boolean)
      .map((p) => p.replace(/^\.\//, '').replace(/\/$/, ''))
      .filter((p) => p !== '.' && p !== '')
      .sort()
    expect(listed).toEqual(['PG_VERSION', 'base', 'base/deep', 'base/deep/big', 'base/fnbox.lock'])
    const back = join(dir, 'back')
    await mkdir(back)
    execFileSync('tar', ['xf', join(dir, 'out.tar'), '-C', back])
    expect(await readFile(join(back, 'base', 'deep', 'big'))).toEqual(Buffer.alloc(1500, 7))
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
})
