/**
 * The FileStore contract (src/testing/conformance/files.ts) on the files domain's stores: in
 * memory, in a folder, and in the database over the backend matrix (memory, PGlite, server
 * Postgres); and what the disk store and the path gate add to it. What the database store adds
 * is in test/host/files/postgres-files.test.ts.
 */
import { spawnSync } from 'node:child_process'
import { readlinkSync } from 'node:fs'
import { lstat, mkdir, mkdtemp, open, readFile, readdir, rm, symlink, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { isFnboxError } from '../../src/errors.js'
import { compareCodePoints } from '../../src/host/domains/code-points.js'
import { systemClock } from '../../src/clock.js'
import { filesDomain } from '../../src/host/files/descriptor.js'
import { DiskFileStore, normalizeFilePath, normalizeFilePrefix } from '../../src/host/files/index.js'
import { byUtf8, bytes, listAll, runFileStoreConformance } from '../../src/testing/conformance/files.js'
import { describeOn, testBackends } from '../helpers/backends.js'

const invalidPath = (argument = 'path') => ({ code: 'ERR_INVALID_ARGUMENT', details: { argument } })

describe('normalizeFilePath', () => {
  it.each([
    ['../x'],
    ['a/../../x'],
    ['..%2fx'],
    ['%2e%2e/x'],
    ['%252e%252e/x'],
    ['%25252e%25252e/x'],
    ['%%32%65%%32%65/x'],
    ['a\\..\\x'],
    ['/etc/passwd'],
    ['C:\\x'],
    ['C:/x'],
    ['c:x'],
    ['C%3a/x'],
    ['a\u0000b'],
    ['a%00b'],
    ['a%2500b'],
    ['a\nb'],
    ['a\u007fb'],
    ['a//b'],
    ['a/'],
    ['./a'],
    ['a/.'],
    ['.'],
    ['..'],
    ['...'],
    ['.. '],
    ['a/%2e'],
    ['a%2fb'],
    ['a%5cb'],
    ['a%255cb'],
    ['a\ud800b'],
    [''],
    [('x'.repeat(254) + '/').repeat(4) + 'abcde'],
    ['é'.repeat(513)],
    ['a/' + 'x'.repeat(256)],
  ])('refuses %j', (input) => {
    expect(() => normalizeFilePath(input)).toThrow(expect.objectContaining(invalidPath()))
  })

  it.each([[undefined], [null], [1], [{}], [['a']]])('refuses the non-string %j', (input) => {
    expect(() => normalizeFilePath(input)).toThrow(expect.objectContaining(invalidPath()))
  })

  it.each([
    ['a', 'a'],
    ['a/b/c.txt', 'a/b/c.txt'],
    ['.hidden', '.hidden'],
    ['a..b/..c', 'a..b/..c'],
    ['100%25.txt', '100%25.txt'],
    ['a%20b%', 'a%20b%'],
    ['x/C:', 'x/C:'],
    ['e\u0301', '\u00e9'],
    ['𝒳/ü', '𝒳/ü'],
    [('x'.repeat(254) + '/').repeat(4) + 'abcd', ('x'.repeat(254) + '/').repeat(4) + 'abcd'],
  ])('accepts %j as %j', (input, expected) => {
    expect(normalizeFilePath(input)).toBe(expected)
  })

  it('names the argument and never decodes', () => {
    expect(() => normalizeFilePath('../x', 'from')).toThrow(expect.objectContaining(invalidPath('from')))
    expect(normalizeFilePath('a%41')).toBe('a%41')
  })
})

describe('normalizeFilePrefix', () => {
  it.each([
    [undefined, ''],
    ['', ''],
    ['a/', 'a/'],
    ['a/b', 'a/b'],
    ['.', '.'],
    ['notes/20', 'notes/20'],
    ['e\u0301/', '\u00e9/'],
  ])('accepts %j as %j', (input, expected) => {
    expect(normalizeFilePrefix(input)).toBe(expected)
  })

  it.each([['../'], ['a/../'], ['/a'], ['a//'], ['a\\'], ['%2e%2e/'], ['a%2f'], ['C:'], ['a\u0000'], [3]])(
    'refuses %j',
    (input) => {
      expect(() => normalizeFilePrefix(input)).toThrow(expect.objectContaining(invalidPath('prefix')))
    },
  )
})

describe('compareCodePoints', () => {
  it('orders like UTF-8 bytes, astral characters after U+FFFF', () => {
    const words = ['b', 'a/b', 'a.txt', 'a', '\uffff', '𝒳', '\ue000', 'é', 'a-b', 'A', '']
    expect([...words].sort(compareCodePoints)).toEqual([...words].sort(byUtf8))
  })
})

for (const root of ['memory', 'a folder']) {
  describe(`the ${root} file store`, () => {
    runFileStoreConformance(async () => {
      if (root === 'memory') return filesDomain.standalone!({ files: 'memory', clock: systemClock })!
      const dir = await mkdtemp(join(tmpdir(), 'fnbox-files-'))
      const store = filesDomain.standalone!({ files: join(dir, 'root'), clock: systemClock })!
      return { store, close: () => rm(dir, { recursive: true, force: true }) }
    })
  })
}

// `files: 'database'`: the storage's own store (memory, PGlite, server Postgres).
for (const backend of await testBackends('files conformance')) {
  describeOn(backend, `the file store in the database, on ${backend.name}`, () => {
    runFileStoreConformance(async () => {
      const opened = await backend.open()
      return { store: await opened.store(filesDomain), close: () => opened.close() }
    })
  })
}

describe('DiskFileStore on the host file system', () => {
  let dir: string
  let root: string
  let outside: string
  let store: DiskFileStore
  const scope = 'links'
  const scopeFolder = () => join(root, 's' + Buffer.from(scope).toString('hex'))

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'fnbox-disk-'))
    root = join(dir, 'root')
    outside = join(dir, 'outside')
    await mkdir(join(outside, 'sub'), { recursive: true })
    await writeFile(join(outside, 'secret.txt'), 'top secret')
    await writeFile(join(outside, 'sub', 'deep.txt'), 'deep secret')
    store = new DiskFileStore(root)
    await store.write(scope, 'real/file.txt', bytes('mine'))
    await symlink(join(outside, 'secret.txt'), join(scopeFolder(), 'file-link'))
    await symlink(outside, join(scopeFolder(), 'dir-link'))
    await symlink(outside, join(scopeFolder(), 'real', 'nested-link'))
    await symlink(join(dir, 'missing'), join(scopeFolder(), 'dangling'))
  })
  afterAll(() => rm(dir, { recursive: true, force: true }))

  async function outsideIsUntouched() {
    expect(await readFile(join(outside, 'secret.txt'), 'utf8')).toBe('top secret')
    expect(await readFile(join(outside, 'sub', 'deep.txt'), 'utf8')).toBe('deep secret')
    expect((await readdir(outside)).sort()).toEqual(['secret.txt', 'sub'])
    for (const link of ['file-link', 'dir-link', 'real/nested-link', 'dangling']) {
      expect((await lstat(join(scopeFolder(), link))).isSymbolicLink()).toBe(true)
    }
  }

  it('keeps a scope in a hex-named folder under the root, and stages writes outside it', async () => {
    expect(await readFile(join(scopeFolder(), 'real', 'file.txt'), 'utf8')).toBe('mine')
    expect(await readdir(join(root, '.tmp'))).toEqual([])
  })

  it('never reads, stats or deletes through a symbolic link', async () => {
    for (const path of ['file-link', 'dir-link/secret.txt', 'dir-link/sub/deep.txt', 'real/nested-link/secret.txt']) {
      expect(await store.read(scope, path)).toBeUndefined()
      expect(await store.stat(scope, path)).toBeUndefined()
      expect(await store.delete(scope, path)).toBe(false)
    }
    expect(await store.read(scope, 'dangling')).toBeUndefined()
    expect(await store.delete(scope, 'dir-link')).toBe(false)
    await outsideIsUntouched()
  })

  it('never writes through or over a symbolic link', async () => {
    for (const path of ['file-link', 'dangling', 'dir-link', 'dir-link/secret.txt', 'dir-link/new.txt']) {
      await expect(store.write(scope, path, bytes('pwned'))).rejects.toMatchObject(invalidPath())
    }
    for (const path of ['dir-link/sub/new/x.txt', 'real/nested-link/new.txt']) {
      await expect(store.write(scope, path, bytes('pwned'))).rejects.toMatchObject(invalidPath())
    }
    await outsideIsUntouched()
  })

  it('never lists a symbolic link or what is behind one', async () => {
    const pages = await listAll(store, scope, undefined, 1)
    expect(pages.flat().map((file) => file.path)).toEqual(['real/file.txt'])
    for (const prefix of ['dir-link/', 'dir-link/sub/', 'real/nested-link/', 'file-link']) {
      expect((await store.list(scope, { prefix })).files).toEqual([])
    }
  })

  it('treats a scope folder that is a link as empty, and will not write into it', async () => {
    const evil = 'evil'
    await symlink(outside, join(root, 's' + Buffer.from(evil).toString('hex')))
    expect(await store.read(evil, 'secret.txt')).toBeUndefined()
    expect(await store.list(evil)).toEqual({ files: [] })
    expect(await store.delete(evil, 'secret.txt')).toBe(false)
    await expect(store.write(evil, 'secret.txt', bytes('pwned'))).rejects.toMatchObject({ code: 'ERR_STORAGE' })
    await outsideIsUntouched()
  })

  it('lists only names the store could have written', async () => {
    const other = new DiskFileStore(join(dir, 'hand-made'))
    await other.write('s', 'ok.txt', bytes('x'))
    const folder = join(dir, 'hand-made', 's' + Buffer.from('s').toString('hex'))
    await writeFile(join(folder, '..%2fup'), 'x')
    await writeFile(join(folder, 'back\\slash'), 'x')
    await writeFile(join(folder, 'e\u0301'), 'x') // not NFC: unreachable through the store
    expect((await other.list('s')).files.map((file) => file.path)).toEqual(['ok.txt'])
  })

  it.skipIf(process.platform === 'win32' || spawnSync('mkfifo', ['--version']).error !== undefined)(
    'does not hang on a FIFO planted in the root',
    async () => {
      expect(spawnSync('mkfifo', [join(scopeFolder(), 'fifo')]).status).toBe(0)
      expect(await store.read(scope, 'fifo')).toBeUndefined()
      expect(await store.stat(scope, 'fifo')).toBeUndefined()
      await expect(store.write(scope, 'fifo', bytes('x'))).rejects.toMatchObject(invalidPath())
    },
  )

  it('reports file system failures as ERR_STORAGE without host paths', async () => {
    const blocked = join(dir, 'a-file')
    await writeFile(blocked, 'not a folder')
    const broken = new DiskFileStore(join(blocked, 'root'))
    for (const call of [() => broken.write('s', 'x.txt', bytes('x')), () => broken.read('s', 'x.txt')]) {
      const err = await call().catch((error: unknown) => error)
      expect(isFnboxError(err, 'ERR_STORAGE')).toBe(true)
      expect((err as Error).message).toMatch(/^could not (write|read) file "x.txt" \(E[A-Z]+\)$/)
      expect((err as Error).message).not.toContain(dir)
      expect(String((err as Error).cause)).toContain(dir)
    }
  })

  it('refuses an empty root', () => {
    expect(() => new DiskFileStore('')).toThrow(expect.objectContaining({ code: 'ERR_INVALID_OPTION' }))
  })
})

describe.skipIf(process.platform !== 'linux')('DiskFileStore durability', () => {
  it('fsyncs a file before renaming it into place, and every folder whose entries changed, before it resolves', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'fnbox-sync-'))
    const probe = await open(join(dir, 'probe'), 'w')
    const proto = Object.getPrototypeOf(probe) as { sync(): Promise<void> }
    await probe.close()
    const synced: string[] = []
    const sync = vi.spyOn(proto, 'sync').mockImplementation(async function (this: { fd: number }) {
      synced.push(readlinkSync(`/proc/self/fd/${this.fd}`))
    })
    try {
      const root = join(dir, 'root')
      const store = new DiskFileStore(root)
      await store.write('s', 'seed.txt', bytes('make the root'))
      synced.length = 0
      const scopeFolder = join(root, 's' + Buffer.from('s').toString('hex'))

      await store.write('s', 'a/b.txt', bytes('durable'))
      // The new folder "a" (its entry in the scope's folder), the bytes (in the temp folder, under
      // a random name), then the rename (the entry in "a").
      expect(synced).toEqual([scopeFolder, expect.stringContaining(join(root, '.tmp') + '/'), join(scopeFolder, 'a')])

      synced.length = 0
      await store.delete('s', 'a/b.txt')
      expect(synced).toEqual([join(scopeFolder, 'a')])
    } finally {
      sync.mockRestore()
      await rm(dir, { recursive: true, force: true })
    }
  })
})
