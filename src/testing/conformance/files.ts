/**
 * The contract of a {@link FileStore}, as one suite any store runs (fnbox's memory and disk
 * stores, and an adapter of yours, S3 say): `runFileStoreConformance(() => myStore)` inside a
 * vitest test file. Paths reach a store normalized (see `src/host/files/path.ts`); each test
 * works in a fresh scope.
 *
 * @module
 */
import { randomBytes, randomUUID } from 'node:crypto'
import { beforeAll, describe, expect, it } from 'vitest'
import type { FileInfo, FileStore } from '../../host/files/types.js'
import { suiteName, useStore, type ConformanceOptions, type OpenStore } from './harness.js'

/** @internal */
export const bytes = (text: string) => new TextEncoder().encode(text)
/** @internal */
export const text = (data: Uint8Array | undefined) => (data === undefined ? undefined : new TextDecoder().decode(data))
/** @internal */
export const byUtf8 = (a: string, b: string) => Buffer.compare(Buffer.from(a), Buffer.from(b))
const invalidPath = (argument = 'path') => ({ code: 'ERR_INVALID_ARGUMENT', details: { argument } })

/** Every page of a listing, following cursors. */
export async function listAll(store: FileStore, scope: string, prefix?: string, limit?: number): Promise<FileInfo[][]> {
  const pages: FileInfo[][] = []
  let cursor: string | undefined
  do {
    const page = await store.list(scope, { prefix, limit, cursor })
    pages.push(page.files)
    cursor = page.cursor
  } while (cursor !== undefined)
  return pages
}

/**
 * Runs the FileStore contract against the store `open` gives.
 *
 * @example
 * ```ts
 * import { runFileStoreConformance } from 'fnbox/testing'
 * runFileStoreConformance(() => new MyS3FileStore(bucket), { name: 's3' })
 * ```
 * @public
 */
export function runFileStoreConformance(open: OpenStore<FileStore>, options?: ConformanceOptions): void {
  describe(suiteName('FileStore', options), () => {
    const current = useStore(open)
    let store: FileStore
    /** A scope of its own for each test. */
    const fresh = () => `test-${randomUUID()}`

    beforeAll(() => {
      store = current()
    })

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
      for (const path of [
        'docs/a.md',
        'docs/b/c.md',
        'docs-old/x',
        'doc',
        'notes/2024.txt',
        'notes/2025.txt',
        'n.txt',
      ]) {
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
}
