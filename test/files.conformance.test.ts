import { spawnSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { readlinkSync } from 'node:fs'
import { lstat, mkdir, mkdtemp, open, readFile, readdir, rm, symlink, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { isFnboxError } from '../src/errors.js'
import { compareCodePoints } from '../src/host/domains/code-points.js'
import type { FileInfo, FileStore } from '../src/host/files/types.js'
import { DiskFileStore, MemoryFileStore, normalizeFilePath, normalizeFilePrefix } from '../src/host/files/index.js'

const bytes = (text: string) => new TextEncoder().encode(text)
const text = (data: Uint8Array | undefined) => (data === undefined ? undefined : new TextDecoder().decode(data))
const byUtf8 = (a: string, b: string) => Buffer.compare(Buffer.from(a), Buffer.from(b))
const invalidPath = (argument = 'path') => ({ code: 'ERR_INVALID_ARGUMENT', details: { argument } })

/** Every page of a listing, following cursors. */
async function listAll(store: FileStore, scope: string, prefix?: string, limit?: number): Promise<FileInfo[][]> {
  const pages: FileInfo[][] = []
  let cursor: string | undefined
  do {
    const page = await store.list(scope, { prefix, limit, cursor })
    pages.push(page.files)
    cursor = page.cursor
  } while (cursor !== undefined)
  return pages
}

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

interface Subject {
  store: FileStore
  cleanup(): Promise<void>
}

const subjects: [string, () => Promise<Subject>][] = [
  [
    'disk',
    async () => {
      const dir = await mkdtemp(join(tmpdir(), 'fnbox-files-'))
      return { store: new DiskFileStore(join(dir, 'root')), cleanup: () => rm(dir, { recursive: true, force: true }) }
    },
  ],
  ['memory', async () => ({ store: new MemoryFileStore(), cleanup: async () => {} })],
]

describe.each(subjects)('%s file store', (_name, make) => {
  let subject: Subject
  let store: FileStore
  let scopes = 0
  /** A scope of its own for each test. */
  const fresh = () => `test-${scopes++}`

  beforeAll(async () => {
    subject = await make()
    store = subject.store
  })
  afterAll(() => subject.cleanup())

  it('round-trips binary data, the empty file included, and copies bytes in and out', async () => {
    const scope = fresh()
    const data = new Uint8Array(randomBytes(70_000))
    data.set([0, 255, 0xc3, 0x28], 0) // NUL, and bytes that are not UTF-8
    const written = await store.write(scope, 'bin/data.bin', data)
    expect(written).toMatchObject({ path: 'bin/data.bin', size: 70_000 })
    expect(await store.write(scope, 'empty', new Uint8Array())).toMatchObject({ path: 'empty', size: 0 })

    const copy = new Uint8Array(data)
    data.fill(1)
    const read = await store.read(scope, 'bin/data.bin')
    expect(read).toBeInstanceOf(Uint8Array)
    expect(Buffer.from(read as Uint8Array).equals(copy)).toBe(true)
    ;(read as Uint8Array).fill(2)
    expect(Buffer.from((await store.read(scope, 'bin/data.bin')) as Uint8Array).equals(copy)).toBe(true)
    expect(await store.read(scope, 'empty')).toEqual(new Uint8Array())
  })

  it('overwrites a file', async () => {
    const scope = fresh()
    await store.write(scope, 'f.txt', bytes('first version'))
    const info = await store.write(scope, 'f.txt', bytes('2nd'))
    expect(info.size).toBe(3)
    expect(text(await store.read(scope, 'f.txt'))).toBe('2nd')
    expect((await store.list(scope)).files.map((file) => file.path)).toEqual(['f.txt'])
  })

  it('stats a file: size and last write time', async () => {
    const scope = fresh()
    const before = Date.now()
    const written = await store.write(scope, 'dir/s.txt', bytes('héllo'))
    const after = Date.now()
    const info = await store.stat(scope, 'dir/s.txt')
    expect(info).toEqual(written)
    expect(info?.size).toBe(6)
    expect(Number.isInteger(info?.modifiedAt)).toBe(true)
    // File systems stamp with a coarse clock, a tick behind Date.now().
    expect(info?.modifiedAt).toBeGreaterThanOrEqual(before - 1000)
    expect(info?.modifiedAt).toBeLessThanOrEqual(after)
  })

  it('answers undefined for missing files and for folders', async () => {
    const scope = fresh()
    await store.write(scope, 'a/b/c.txt', bytes('x'))
    for (const path of ['nope', 'a', 'a/b', 'a/b/c.txt/d', 'nope/c.txt']) {
      expect(await store.read(scope, path)).toBeUndefined()
      expect(await store.stat(scope, path)).toBeUndefined()
      expect(await store.delete(scope, path)).toBe(false)
    }
    expect(await store.read(fresh(), 'a/b/c.txt')).toBeUndefined()
  })

  it('refuses to make a path both a file and a folder', async () => {
    const scope = fresh()
    await store.write(scope, 'a', bytes('file'))
    await store.write(scope, 'x/y', bytes('file'))
    await expect(store.write(scope, 'a/b', bytes('no'))).rejects.toMatchObject(invalidPath())
    await expect(store.write(scope, 'x', bytes('no'))).rejects.toMatchObject(invalidPath())
    expect(text(await store.read(scope, 'a'))).toBe('file')
    expect(text(await store.read(scope, 'x/y'))).toBe('file')
  })

  it('deletes a file, and the folders it leaves empty', async () => {
    const scope = fresh()
    await store.write(scope, 'a/b/c.txt', bytes('1'))
    await store.write(scope, 'a/keep.txt', bytes('2'))
    expect(await store.delete(scope, 'a/b/c.txt')).toBe(true)
    expect(await store.delete(scope, 'a/b/c.txt')).toBe(false)
    expect(await store.read(scope, 'a/b/c.txt')).toBeUndefined()
    // `a/b` is gone, so it can be a file now; `a` still holds keep.txt.
    await store.write(scope, 'a/b', bytes('now a file'))
    await expect(store.write(scope, 'a', bytes('no'))).rejects.toMatchObject(invalidPath())
    expect((await store.list(scope)).files.map((file) => file.path)).toEqual(['a/b', 'a/keep.txt'])
  })

  it('lists in code-point order, folders interleaved by their paths', async () => {
    const scope = fresh()
    const paths = ['b', 'a/b', 'a.txt', 'a-b', 'a0', 'a/a/z', 'A', 'é', '𝒳', '\uffff', 'z/y/x/w', '.dot', 'a b']
    for (const path of paths) await store.write(scope, path, bytes(path))
    const { files, cursor } = await store.list(scope)
    expect(cursor).toBeUndefined()
    expect(files.map((file) => file.path)).toEqual([...paths].sort(byUtf8))
    expect(files.find((file) => file.path === 'é')).toMatchObject({ size: 2 })
  })

  it('lists by prefix, as plain text', async () => {
    const scope = fresh()
    for (const path of ['docs/a.md', 'docs/b/c.md', 'docs-old/x', 'doc', 'notes/2024.txt', 'notes/2025.txt', 'n.txt']) {
      await store.write(scope, path, bytes(path))
    }
    const paths = async (prefix: string) => (await store.list(scope, { prefix })).files.map((file) => file.path)
    expect(await paths('docs/')).toEqual(['docs/a.md', 'docs/b/c.md'])
    expect(await paths('docs')).toEqual(['docs-old/x', 'docs/a.md', 'docs/b/c.md'])
    expect(await paths('doc')).toEqual(['doc', 'docs-old/x', 'docs/a.md', 'docs/b/c.md'])
    expect(await paths('docs/b')).toEqual(['docs/b/c.md'])
    expect(await paths('notes/2024')).toEqual(['notes/2024.txt'])
    expect(await paths('n')).toEqual(['n.txt', 'notes/2024.txt', 'notes/2025.txt'])
    expect(await paths('missing/')).toEqual([])
    expect(await paths('doc/')).toEqual([]) // `doc` is a file
    expect(await paths('')).toHaveLength(7)
    expect(await store.list(fresh())).toEqual({ files: [] })
  })

  it('pages with limit and cursor', async () => {
    const scope = fresh()
    const paths = Array.from({ length: 25 }, (_, i) => `p/${String(i).padStart(2, '0')}/f${i % 3 ? '' : '/deep'}`)
    for (const path of [...paths, 'q/outside']) await store.write(scope, path, bytes(path))

    const pages = await listAll(store, scope, 'p/', 10)
    expect(pages.map((page) => page.length)).toEqual([10, 10, 5])
    expect(pages.flat().map((file) => file.path)).toEqual([...paths].sort(byUtf8))

    const first = await store.list(scope, { prefix: 'p/', limit: 10 })
    expect(first.cursor).toBe(first.files[9]?.path)
    const exact = await store.list(scope, { prefix: 'p/', limit: 25 })
    expect(exact.files).toHaveLength(25)
    expect(exact.cursor).toBeUndefined()
    // A cursor is a position, not a file: it works after the file is gone.
    await store.delete(scope, first.cursor as string)
    const second = await store.list(scope, { prefix: 'p/', limit: 10, cursor: first.cursor })
    expect(second.files[0]?.path).toBe(pages[1]?.[0]?.path)
  })

  it('defaults to 100 files a page, allows 1000, refuses other limits and bad cursors', async () => {
    const scope = fresh()
    await Promise.all(Array.from({ length: 105 }, (_, i) => store.write(scope, `f${i}`, bytes(''))))
    const page = await store.list(scope)
    expect(page.files).toHaveLength(100)
    expect(page.cursor).toBeDefined()
    expect((await store.list(scope, { limit: 1000 })).files).toHaveLength(105)
    for (const limit of [0, -1, 1.5, 1001, Number.NaN]) {
      await expect(store.list(scope, { limit })).rejects.toMatchObject(invalidPath('limit'))
    }
    await expect(store.list(scope, { cursor: '../x' })).rejects.toMatchObject(invalidPath('cursor'))
    await expect(store.list(scope, { prefix: '../' })).rejects.toMatchObject(invalidPath('prefix'))
  })

  it('keeps scopes apart, whatever their names', async () => {
    const names = ['', '..', '../escape', 'a/b', 'C:\\x', 'é', 'x'.repeat(300), '\ud800', '\udc00']
    for (const [i, scope] of names.entries()) await store.write(scope, 'same.txt', bytes(`scope ${i}`))
    for (const [i, scope] of names.entries()) {
      expect(text(await store.read(scope, 'same.txt'))).toBe(`scope ${i}`)
      expect((await store.list(scope)).files.map((file) => file.path)).toEqual(['same.txt'])
    }
    expect(await store.delete('..', 'same.txt')).toBe(true)
    expect(text(await store.read('../escape', 'same.txt'))).toBe('scope 2')
  })

  it('refuses unsafe paths in every method', async () => {
    const scope = fresh()
    for (const path of ['../x', '%2e%2e/x', 'a\\..\\x', '/etc/passwd', 'a//b']) {
      await expect(store.read(scope, path)).rejects.toMatchObject(invalidPath())
      await expect(store.write(scope, path, bytes('x'))).rejects.toMatchObject(invalidPath())
      await expect(store.stat(scope, path)).rejects.toMatchObject(invalidPath())
      await expect(store.delete(scope, path)).rejects.toMatchObject(invalidPath())
    }
  })

  it('names a file by its NFC form', async () => {
    const scope = fresh()
    await store.write(scope, 'e\u0301.txt', bytes('x'))
    expect(text(await store.read(scope, '\u00e9.txt'))).toBe('x')
    expect((await store.list(scope)).files.map((file) => file.path)).toEqual(['\u00e9.txt'])
  })

  it('leaves one complete version after concurrent writes of a file, and reads never see a torn one', async () => {
    const scope = fresh()
    const size = 256 * 1024
    const versions = Array.from({ length: 16 }, (_, i) => new Uint8Array(size).fill(i + 1))
    await store.write(scope, 'hot/file', versions[0] as Uint8Array)
    const reads: (Uint8Array | undefined)[] = []
    await Promise.all([
      ...versions.map((data) => store.write(scope, 'hot/file', data)),
      ...versions.map(async () => reads.push(await store.read(scope, 'hot/file'))),
    ])
    for (const data of [...reads, await store.read(scope, 'hot/file')]) {
      expect(data).toHaveLength(size)
      const first = (data as Uint8Array)[0]
      expect((data as Uint8Array).every((byte) => byte === first)).toBe(true)
    }
  })

  it('survives concurrent writes and deletes in one folder', async () => {
    const scope = fresh()
    await Promise.all(
      Array.from({ length: 40 }, async (_, i) => {
        await store.write(scope, `x/y/${i % 4}`, bytes(String(i)))
        await store.delete(scope, `x/y/${i % 4}`)
      }),
    )
    await store.write(scope, 'x/y/last', bytes('ok'))
    expect(text(await store.read(scope, 'x/y/last'))).toBe('ok')
  })
})

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
