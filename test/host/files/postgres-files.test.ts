/**
 * What the file store in the database adds to the FileStore contract (which
 * test/conformance/files.test.ts runs on it): chunked bytes, no chunk left behind, folder rules
 * under concurrent writes, any scope name; and `createRuntime({ files })` choosing it.
 */
import { randomBytes, randomUUID } from 'node:crypto'
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { sql, type Kysely } from 'kysely'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createRuntime, DATA_LIMITS } from 'fnbox'
import { filesDomain } from '../../../src/host/files/descriptor.js'
import { FILE_CHUNK_BYTES, scopeKey } from '../../../src/host/files/postgres.js'
import type { FileStore } from '../../../src/host/files/types.js'
import { openBackend, warnOfFormerFiles } from '../../../src/storage/backend.js'
import { describeOn, testBackends, type OpenedBackend } from '../../helpers/backends.js'
import { itOn, testPostgres } from '../../helpers/postgres.js'
import { processWarnings } from '../../helpers/warnings.js'

const bytes = (text: string) => new TextEncoder().encode(text)

for (const backend of await testBackends('files in the database')) {
  if (backend.name === 'memory') continue
  describeOn(backend, `the file store in the database, on ${backend.name}`, () => {
    let opened: OpenedBackend
    let store: FileStore
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    let db: Kysely<any>
    beforeAll(async () => {
      opened = await backend.open()
      store = await opened.store(filesDomain)
      db = opened.sql!.db
    })
    afterAll(() => opened?.close())

    const chunksOf = async (scope: string, path: string) =>
      (
        await sql<{ n: number; size: number }>`select c.n, octet_length(c.data) as size from fnbox_files f
          join fnbox_file_chunks c on c.blob = f.blob
          where f.scope = ${scopeKey(scope)} and f.path = ${path} order by c.n`.execute(db)
      ).rows
    const orphans = async () =>
      (
        await sql<{ n: number }>`select count(*)::int as n from fnbox_file_chunks c
          where not exists (select 1 from fnbox_files f where f.blob = c.blob)`.execute(db)
      ).rows[0]!.n

    it('keeps a 10.5 MiB file in chunk rows of at most 512 KiB, reads it back whole, and drops them on overwrite', async () => {
      const scope = randomUUID()
      const data = new Uint8Array(randomBytes(10.5 * 1024 * 1024))
      expect(await store.write(scope, 'big.bin', data)).toMatchObject({ size: data.byteLength })
      const chunks = await chunksOf(scope, 'big.bin')
      expect(chunks.map((c) => c.n)).toEqual([...Array(21).keys()])
      expect(chunks.every((c) => Number(c.size) === FILE_CHUNK_BYTES)).toBe(true)
      expect(Buffer.from((await store.read(scope, 'big.bin'))!).equals(data)).toBe(true)

      await store.write(scope, 'big.bin', bytes('small now'))
      expect(await chunksOf(scope, 'big.bin')).toEqual([{ n: 0, size: 9 }])
      expect(await orphans()).toBe(0)
    })

    it('leaves no chunk behind from a refused write or a delete', async () => {
      const scope = randomUUID()
      await store.write(scope, 'a', bytes('file'))
      const big = new Uint8Array(FILE_CHUNK_BYTES * 2 + 1)
      await expect(store.write(scope, 'a/b', big)).rejects.toMatchObject({
        code: 'ERR_INVALID_ARGUMENT',
        message: 'cannot write "a/b": "a" is a file',
      })
      await store.write(scope, 'd/e', bytes('x'))
      await expect(store.write(scope, 'd', big)).rejects.toMatchObject({ message: 'cannot write "d": it is a folder' })
      expect(await orphans()).toBe(0)
      expect(await store.delete(scope, 'a')).toBe(true)
      expect(await chunksOf(scope, 'a')).toEqual([])
      expect(await orphans()).toBe(0)
    })

    it('of concurrent writes of "x" and "x/y", exactly one wins, every time', async () => {
      for (let round = 0; round < 20; round++) {
        const scope = randomUUID()
        const outcomes = await Promise.allSettled([
          store.write(scope, 'x', bytes('file')),
          store.write(scope, 'x/y', bytes('under a folder')),
        ])
        expect(outcomes.filter((o) => o.status === 'fulfilled')).toHaveLength(1)
        expect((await store.list(scope)).files).toHaveLength(1)
      }
      expect(await orphans()).toBe(0)
    })

    it('keeps scope names apart that differ only where Postgres cannot store them', async () => {
      const names = ['\\', '\\005c', '\u0000', '\\0000', '\ud800', '\udc00', '\udc00\ud800', '𐀀']
      expect(new Set(names.map(scopeKey)).size).toBe(names.length)
      expect(scopeKey('tenant-42/é')).toBe('tenant-42/é')
      for (const [i, scope] of names.entries()) await store.write(scope, 'f', bytes(String(i)))
      for (const [i, scope] of names.entries()) {
        expect(new TextDecoder().decode(await store.read(scope, 'f'))).toBe(String(i))
      }
    })
  })
}

describe("createRuntime({ files: 'database' })", () => {
  it('keeps files in the PGlite database, across a restart, with no folder of files', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'fnbox-files-db-'))
    try {
      const options = { threads: 1, storage: { pglite: join(dir, 'pglite') }, files: 'database' } as const
      const first = await createRuntime(options)
      await first.files.write('notes/a.txt', 'kept')
      await first.close()
      const second = await createRuntime(options)
      try {
        expect(new TextDecoder().decode(await second.files.read('notes/a.txt'))).toBe('kept')
      } finally {
        await second.close()
      }
      expect(await readdir(dir)).toEqual(['pglite'])
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })

  it('holds the files limit: 16 MiB is written and read back, one byte more is ERR_TOO_LARGE', async () => {
    const runtime = await createRuntime({ threads: 1, storage: { pglite: 'memory://' }, files: 'database' })
    try {
      const max = DATA_LIMITS.maxFileBytes
      const data = new Uint8Array(max).fill(7)
      expect(await runtime.files.write('max.bin', data)).toMatchObject({ size: max })
      expect((await runtime.files.read('max.bin'))?.byteLength).toBe(max)
      await expect(runtime.files.write('over.bin', new Uint8Array(max + 1))).rejects.toMatchObject({
        code: 'ERR_TOO_LARGE',
        details: { argument: 'data', limit: max, value: max + 1 },
      })
      expect(await runtime.files.stat('over.bin')).toBeUndefined()
    } finally {
      await runtime.close()
    }
  })

  it("is the memory store on storage: 'memory', and the option is checked", async () => {
    const runtime = await createRuntime({ threads: 1, storage: 'memory', files: 'database' })
    try {
      await runtime.files.write('a.txt', 'in memory')
      expect((await runtime.files.list()).files.map((f) => f.path)).toEqual(['a.txt'])
    } finally {
      await runtime.close()
    }
    await expect(createRuntime({ storage: 'memory', files: '' })).rejects.toMatchObject({
      code: 'ERR_INVALID_OPTION',
      message: expect.stringContaining("'database', a folder or 'memory'"),
    })
  })
})

const server = await testPostgres('files former folder')

describe('files left in the former default folder', () => {
  it('are warned about once, naming the option that keeps them; an empty or missing folder is not', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'fnbox-former-'))
    try {
      const folder = join(dir, 'files')
      expect(await processWarnings(() => warnOfFormerFiles(folder))).toEqual([])
      await mkdir(folder)
      expect(await processWarnings(() => warnOfFormerFiles(folder))).toEqual([])
      await writeFile(join(folder, 'old'), 'x')
      const warnings = await processWarnings(() => warnOfFormerFiles(folder))
      expect(warnings).toEqual([expect.stringContaining(`createRuntime({ files: ${JSON.stringify(folder)} })`)])
      expect(await processWarnings(() => warnOfFormerFiles(folder))).toEqual([])
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })

  itOn(server, 'are looked for when server Postgres storage opens with files left to their default', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'fnbox-former-'))
    try {
      const folder = join(dir, 'files')
      await mkdir(folder)
      await writeFile(join(folder, 'old'), 'x')
      const options = { storage: { postgres: await server.url() }, files: 'database', secretsKey: undefined }
      const warnings = await processWarnings(async () => {
        const backend = await openBackend({ ...options, adapters: {}, formerFilesRoot: folder })
        await backend.close()
      })
      expect(warnings).toEqual([expect.stringContaining('files now live in the database')])
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })
})
