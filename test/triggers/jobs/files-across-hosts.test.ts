/**
 * Files are shared by every host of one server Postgres (issue 14): with `storage: { postgres }`
 * they live in the database by default, so a job run on host A writes a file that an HTTP
 * function on host B serves.
 */
import { createHash } from 'node:crypto'
import pg from 'pg'
import { afterEach, expect, it } from 'vitest'
import { createRuntime, type Runtime, type RuntimeOptions } from 'fnbox'
import { describeOn, testPostgres } from '../../helpers/postgres.js'

const server = await testPostgres('files-hosts')

// 1.5 MiB of a pattern that differs in every chunk (chunks are 512 KiB).
const WRITER = `
import { files } from 'fnbox:host'
export async function render({ path, size }, ctx) {
  const bytes = new Uint8Array(size)
  for (let i = 0; i < size; i++) bytes[i] = (i * 31 + (i >> 19)) & 255
  await files.write(path, bytes)
  await files.write(path + '.job', ctx.job.id)
}
`

const READER = `
import { files } from 'fnbox:host'
export default {
  async fetch(request) {
    const path = new URL(request.url).searchParams.get('path')
    const bytes = await files.read(path)
    if (bytes === null) return new Response('missing', { status: 404 })
    const info = await files.stat(path)
    return new Response(bytes, { headers: { 'x-size': String(info.size) } })
  },
}
`

function expected(size: number): Buffer {
  const bytes = Buffer.alloc(size)
  for (let i = 0; i < size; i++) bytes[i] = (i * 31 + (i >> 19)) & 255
  return bytes
}

const sha = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex')

describeOn(server, 'files across hosts on one server Postgres', () => {
  const runtimes: Runtime[] = []
  const open = async (url: string, options: RuntimeOptions = {}): Promise<Runtime> => {
    const runtime = await createRuntime({ threads: 1, storage: { postgres: url }, ...options })
    runtimes.push(runtime)
    return runtime
  }
  afterEach(async () => {
    await Promise.all(runtimes.splice(0).map((r) => r.close({ timeoutMs: 100 })))
  })

  it('a job on host A writes a file; an HTTP function on host B reads it', async () => {
    const url = await server.url()
    const a = await open(url, { jobs: { pollIntervalMs: 100 } })
    const b = await open(url, { jobs: false })
    await a.deploy('writer', { code: WRITER, jobs: { render: 'render' } })
    await b.deploy('reader', { code: READER })

    const size = 1.5 * 1024 * 1024
    const { id } = await a.jobs.enqueue('render', { path: 'reports/r1.bin', size })
    await expect.poll(() => a.jobs.get(id).then((j) => j?.state), { timeout: 20_000 }).toBe('completed')

    const res = await b.fetch(new Request('http://host/reader?path=reports/r1.bin'))
    expect(res.status).toBe(200)
    expect(res.headers.get('x-size')).toBe(String(size))
    expect(sha(new Uint8Array(await res.arrayBuffer()))).toBe(sha(expected(size)))
    expect(await (await b.fetch(new Request('http://host/reader?path=reports/r1.bin.job'))).text()).toBe(id)
    // In the database, not in a folder both hosts of this one process happen to share.
    const client = new pg.Client({ connectionString: url })
    await client.connect()
    try {
      const { rows } = await client.query(
        `select f.path, f.size::int, count(c.n)::int as chunks from fnbox_files f
         join fnbox_file_chunks c on c.blob = f.blob group by f.path, f.size order by f.path`,
      )
      expect(rows).toEqual([
        { path: 'reports/r1.bin', size, chunks: 3 },
        { path: 'reports/r1.bin.job', size: id.length, chunks: 1 },
      ])
    } finally {
      await client.end()
    }
    // The host APIs see the same files too, and a delete on one is gone on the other.
    expect((await b.files.list({ prefix: 'reports/' })).files.map((f) => f.path)).toEqual([
      'reports/r1.bin',
      'reports/r1.bin.job',
    ])
    expect(await b.files.delete('reports/r1.bin.job')).toBe(true)
    expect(await a.files.stat('reports/r1.bin.job')).toBeUndefined()
  })

  it('a host given a folder keeps its files there, out of the other hosts’ sight', async () => {
    const url = await server.url('folder')
    const { mkdtemp, readdir, rm } = await import('node:fs/promises')
    const { tmpdir } = await import('node:os')
    const { join } = await import('node:path')
    const dir = await mkdtemp(join(tmpdir(), 'fnbox-files-host-'))
    try {
      const local = await open(url, { files: dir, jobs: false })
      const shared = await open(url, { jobs: false })
      await local.files.write('mine.txt', 'on disk')
      expect(await readdir(dir)).not.toEqual([])
      expect(await shared.files.read('mine.txt')).toBeUndefined()
      await shared.files.write('ours.txt', 'in the database')
      expect(await local.files.read('ours.txt')).toBeUndefined()
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })
})
