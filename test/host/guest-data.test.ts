// The data domains through the whole stack: guest code calling `fnbox:host` (kv, vector, files,
// secrets, tx) on each backend, and the host API seeing the same data.
import { randomBytes, randomUUID } from 'node:crypto'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createRuntime, type LogEvent, type Runtime } from 'fnbox'
import { describeOn, testBackends, type BackendName } from '../helpers/backends.js'
import { processWarnings } from '../helpers/warnings.js'

const SECRET_KEY = randomBytes(32).toString('hex')

const SDK = `
import { kv, vector, files, secrets, tx } from 'fnbox:host'
const codeOf = (fn) => async (...args) => { try { return { ok: (await fn(...args)) ?? null } } catch (e) { return { name: e.name, code: e.code, details: e.details, message: e.message } } }
export const kvSet = codeOf((k, v, o) => kv.set(k, v, o))
export const kvGet = codeOf((k) => kv.get(k))
export const kvDelete = codeOf((k) => kv.delete(k))
export const kvList = codeOf((o) => kv.list(o))
export const kvIncr = codeOf((k, by) => kv.incr(k, by))
export const kvCas = codeOf((k, e, v) => kv.compareAndSet(k, e === '__absent__' ? undefined : e, v))
export const kvSetUndefined = codeOf(() => kv.set('x', undefined))
export const kvSetRepeat = codeOf((k, n) => kv.set(k, 'x'.repeat(n)))
export const upsert = codeOf((index, items) => vector.upsert(index, items))
export const query = codeOf((index, q) => vector.query(index, q))
export const vget = codeOf((index, ids) => vector.get(index, ids))
export const vdelete = codeOf((index, ids) => vector.delete(index, ids))
export const fileWrite = codeOf((p, text) => files.write(p, text))
export const fileRead = codeOf(async (p) => { const b = await files.read(p); return b === undefined ? null : new TextDecoder().decode(b) })
export const fileStat = codeOf((p) => files.stat(p))
export const fileList = codeOf((o) => files.list(o))
export const fileDelete = codeOf((p) => files.delete(p))
export const txWrite = codeOf((key, index, fail) => tx(async (t) => {
  await t.kv.set(key, 'in-tx')
  await t.vector.upsert(index, [{ id: key, values: [1, 0, 0] }])
  if (fail) throw new Error('boom')
  return 'committed'
}))
export const txHang = codeOf((key) => tx(async (t) => { await t.kv.set(key, 'never'); await new Promise(() => {}) }))
export const txNested = codeOf(() => tx(async () => tx(async () => 1)))
export const concurrentGets = codeOf(async (n) => (await Promise.all(Array.from({ length: n }, (_, i) => kv.get('many:' + i)))).length)
export const txAfter = codeOf(async () => { let saved; await tx(async (t) => { saved = t }); return saved.kv.set('late', 1) })
export const txReadOwn = codeOf((key) => tx(async (t) => { await t.kv.set(key, 'mine'); return t.kv.get(key) }))
export const secret = (name) => secrets.get(name) ?? null
export function leak(name) { console.log('key is ' + secrets.get(name)); throw new Error('failed with ' + secrets.get(name)) }
`

type Outcome = { ok?: unknown; name?: string; code?: string; details?: Record<string, unknown>; message?: string }

// The local server has no pgvector: vector cases run on PGlite (here and in the conformance suite).
const VECTOR: Record<BackendName, boolean> = { memory: true, PGlite: true, 'server Postgres': false }

for (const backend of await testBackends('host data')) {
  describeOn(backend, `fnbox:host on ${backend.name}`, () => {
    let filesRoot: string | undefined
    let runtime: Runtime
    const logs: LogEvent[] = []
    /** A scope of this suite's own: the host API reaches it with `.scope(scope)`. */
    const scope = `t-${randomUUID()}`
    const call = (fn: string, ...args: unknown[]) => runtime.call<Outcome>('data', fn, ...args)

    beforeAll(async () => {
      const options = await backend.runtimeOptions()
      // PGlite's row keeps its files in a folder (the others in memory).
      if (backend.name === 'PGlite') options.files = filesRoot = await mkdtemp(join(tmpdir(), 'fnbox-files-'))
      runtime = await createRuntime({ threads: 1, secrets: { key: SECRET_KEY }, ...options })
      runtime.on('log', (e) => logs.push(e))
      await runtime.secrets.set('API_KEY', 'sk-first-value-123')
      await runtime.secrets.set('OTHER_KEY', 'not-for-this-function')
      await runtime.deploy('data', { code: SDK, scope, secrets: ['API_KEY'], limits: { timeoutMs: 2000 } })
    }, 60_000)
    afterAll(async () => {
      await runtime?.close()
      if (filesRoot) await rm(filesRoot, { recursive: true, force: true })
    })

    it('200 concurrent host calls of one invocation print no MaxListeners warning', async () => {
      const warnings = await processWarnings(async () => expect(await call('concurrentGets', 200)).toEqual({ ok: 200 }))
      expect(warnings).toEqual([])
    })

    it('kv: set, get, delete and every JSON type, seen by the host API in the same scope', async () => {
      const value = { s: 'héllo 日本 😀', n: 1.5, b: true, z: null, a: [1, { x: 'y' }] }
      expect(await call('kvSet', 'doc', value)).toEqual({ ok: null })
      expect((await call('kvGet', 'doc')).ok).toEqual(value)
      expect(await runtime.kv.scope(scope).get('doc')).toEqual(value)
      expect(await runtime.kv.get('doc')).toBeUndefined() // the default scope is another one
      await runtime.kv.scope(scope).set('from-host', [1, 2])
      expect((await call('kvGet', 'from-host')).ok).toEqual([1, 2])
      expect((await call('kvDelete', 'doc')).ok).toBe(true)
      expect((await call('kvDelete', 'doc')).ok).toBe(false)
      expect((await call('kvGet', 'doc')).ok).toBeNull()
    })

    it('kv: list by prefix with pagination, incr, compare-and-set', async () => {
      for (let i = 0; i < 5; i++) await call('kvSet', `list:${i}`, i)
      await call('kvSet', 'list_other', 0)
      const first = (await call('kvList', { prefix: 'list:', limit: 3 })).ok as {
        keys: { key: string }[]
        cursor: string
      }
      expect(first.keys.map((k) => k.key)).toEqual(['list:0', 'list:1', 'list:2'])
      const rest = (await call('kvList', { prefix: 'list:', cursor: first.cursor })).ok as { keys: { key: string }[] }
      expect(rest.keys.map((k) => k.key)).toEqual(['list:3', 'list:4'])

      const results = await Promise.all(Array.from({ length: 50 }, () => call('kvIncr', 'counter')))
      expect(results.every((r) => typeof r.ok === 'number')).toBe(true)
      expect((await call('kvGet', 'counter')).ok).toBe(50)
      expect((await call('kvIncr', 'counter', -10)).ok).toBe(40)

      expect((await call('kvCas', 'lock', '__absent__', 'owner-1')).ok).toBe(true)
      expect((await call('kvCas', 'lock', '__absent__', 'owner-2')).ok).toBe(false)
      const swaps = await Promise.all(
        Array.from({ length: 10 }, (_, i) => call('kvCas', 'lock', 'owner-1', `next-${i}`)),
      )
      expect(swaps.filter((s) => s.ok === true)).toHaveLength(1)
    })

    it('kv: bad input gets typed errors naming the limit and the value', async () => {
      const big = await call('kvSet', 'k'.repeat(513), 1)
      expect(big).toMatchObject({ name: 'RangeError', code: 'ERR_TOO_LARGE', details: { limit: 512, value: 513 } })
      const huge = await call('kvSetRepeat', 'huge', 1024 * 1024)
      expect(huge).toMatchObject({ code: 'ERR_TOO_LARGE', details: { limit: 1024 * 1024, value: 1024 * 1024 + 2 } })
      expect(await call('kvSet', 'a\u0000b', 1)).toMatchObject({ name: 'TypeError', code: 'ERR_INVALID_ARGUMENT' })
      expect(await call('kvSet', '', 1)).toMatchObject({ code: 'ERR_INVALID_ARGUMENT', details: { argument: 'key' } })
      expect(await call('kvSet', 'ttl', 1, { ttl: -1 })).toMatchObject({ code: 'ERR_INVALID_ARGUMENT' })
      expect(await call('kvSetUndefined')).toMatchObject({ name: 'TypeError' })
      await call('kvSet', 'text', 'abc')
      expect(await call('kvIncr', 'text')).toMatchObject({ code: 'ERR_INVALID_ARGUMENT' })
      await expect(runtime.kv.set('', 1)).rejects.toMatchObject({ code: 'ERR_INVALID_ARGUMENT' })
    })

    it('files: write, read, stat, list, delete; traversal refused', async () => {
      expect((await call('fileWrite', 'notes/a.txt', 'hello ✓')).ok).toMatchObject({ path: 'notes/a.txt', size: 9 })
      expect((await call('fileRead', 'notes/a.txt')).ok).toBe('hello ✓')
      expect((await call('fileStat', 'notes/a.txt')).ok).toMatchObject({ size: 9 })
      expect((await call('fileRead', 'notes/missing.txt')).ok).toBeNull()
      await runtime.files.scope(scope).write('notes/b.txt', 'from host')
      const list = (await call('fileList', { prefix: 'notes/' })).ok as { files: { path: string }[] }
      expect(list.files.map((f) => f.path)).toEqual(['notes/a.txt', 'notes/b.txt'])
      expect(new TextDecoder().decode(await runtime.files.scope(scope).read('notes/a.txt'))).toBe('hello ✓')
      for (const bad of ['../x', 'a/../../x', '..%2fx', '%252e%252e/x', 'a\\b', '/etc/passwd', 'a\u0000b']) {
        expect(await call('fileRead', bad)).toMatchObject({ code: 'ERR_INVALID_ARGUMENT' })
      }
      expect((await call('fileDelete', 'notes/a.txt')).ok).toBe(true)
      expect((await call('fileRead', 'notes/a.txt')).ok).toBeNull()
    })

    it('secrets: a function reads only what it was granted; values never reach logs or errors', async () => {
      expect(await runtime.call('data', 'secret', 'API_KEY')).toBe('sk-first-value-123')
      expect(await runtime.call('data', 'secret', 'OTHER_KEY')).toBeNull()
      expect(await runtime.secrets.list()).toEqual(expect.arrayContaining(['API_KEY', 'OTHER_KEY']))
      const err = await runtime.call('data', 'leak', 'API_KEY').catch((e: Error) => e)
      expect(String((err as Error).message)).not.toContain('sk-first-value-123')
      expect(String((err as Error).message)).toContain('[redacted]')
      const line = logs.find((l) => l.message.startsWith('key is '))
      expect(line?.message).toBe('key is [redacted]')

      await runtime.secrets.set('API_KEY', 'sk-second-value-456')
      expect(await runtime.call('data', 'secret', 'API_KEY')).toBe('sk-second-value-456')
      await runtime.secrets.delete('API_KEY')
      expect(await runtime.call('data', 'secret', 'API_KEY')).toBeNull()
      await runtime.secrets.set('API_KEY', 'sk-first-value-123')
    })

    it.skipIf(!VECTOR[backend.name])('vector: upsert, filtered query, get, delete, typed errors', async () => {
      const items = [
        { id: 'a', values: [1, 0, 0], metadata: { lang: 'en', n: 1 } },
        { id: 'b', values: [0.9, 0.1, 0], metadata: { lang: 'fr', n: 2 } },
        { id: 'c', values: [0, 1, 0], metadata: { lang: 'en', n: 3 } },
      ]
      expect((await call('upsert', 'docs', items)).ok).toBe(3)
      const all = (await call('query', 'docs', { vector: [1, 0, 0], topK: 2 })).ok as { id: string; score: number }[]
      expect(all.map((m) => m.id)).toEqual(['a', 'b'])
      expect(all[0]!.score).toBeCloseTo(1, 5)
      const en = (
        await call('query', 'docs', { vector: [1, 0, 0], topK: 5, filter: { lang: 'en' }, includeMetadata: true })
      ).ok as { id: string; metadata: unknown }[]
      expect(en.map((m) => m.id)).toEqual(['a', 'c'])
      expect(en[1]!.metadata).toEqual({ lang: 'en', n: 3 })
      const ranged = (await call('query', 'docs', { vector: [1, 0, 0], filter: { n: { $gte: 2 } } })).ok as {
        id: string
      }[]
      expect(ranged.map((m) => m.id)).toEqual(['b', 'c'])
      expect(((await call('vget', 'docs', ['c', 'zz'])).ok as { id: string }[]).map((i) => i.id)).toEqual(['c'])
      expect(await call('query', 'docs', { vector: [1, 0] })).toMatchObject({
        code: 'ERR_DIMENSION_MISMATCH',
        details: { expected: 3, value: 2 },
      })
      // NaN is not JSON: runtime.call refuses it with its path (it once reached the guest as null).
      await expect(call('upsert', 'docs', [{ id: 'n', values: [NaN, 0, 0] }])).rejects.toMatchObject({
        code: 'ERR_INVALID_ARGUMENT',
        message: 'call arguments must be JSON values: args[1][0].values[0]: NaN',
      })
      expect(await call('upsert', 'docs', [{ id: 'n', values: [null, 0, 0] }])).toMatchObject({
        code: 'ERR_INVALID_ARGUMENT',
      })
      expect(await call('query', 'nope', { vector: [1, 0, 0] })).toMatchObject({ code: 'ERR_NOT_FOUND' })
      expect((await call('vdelete', 'docs', ['a', 'zz'])).ok).toBe(1)
      const v = runtime.vector.scope(scope)
      expect(await v.describeIndex('docs')).toEqual({ name: 'docs', dimensions: 3, metric: 'cosine' })
    })

    it.skipIf(!VECTOR[backend.name])('tx: kv and vector writes commit together, or not at all', async () => {
      expect((await call('txWrite', 'tx-ok', 'txdocs', false)).ok).toBe('committed')
      expect((await call('kvGet', 'tx-ok')).ok).toBe('in-tx')
      expect(((await call('vget', 'txdocs', ['tx-ok'])).ok as unknown[]).length).toBe(1)

      expect(await call('txWrite', 'tx-fail', 'txdocs', true)).toMatchObject({ message: 'boom' })
      expect((await call('kvGet', 'tx-fail')).ok).toBeNull()
      expect((await call('vget', 'txdocs', ['tx-fail'])).ok).toEqual([])
    })

    it('tx: rolled back when the invocation times out; the store stays usable', async () => {
      const err = await runtime.call('data', 'txHang', 'tx-hang').catch((e: { code: string }) => e)
      expect(err).toMatchObject({ code: 'ERR_TIMEOUT' })
      expect((await call('kvGet', 'tx-hang')).ok).toBeNull()
      expect((await call('kvSet', 'after-hang', 1)).ok).toBeNull() // not blocked by a lingering transaction
      expect(await call('txNested')).toMatchObject({ code: 'ERR_INVALID_ARGUMENT' })
      expect(await call('txAfter')).toMatchObject({ code: 'ERR_INVALID_ARGUMENT' })
      expect((await call('txReadOwn', 'own')).ok).toBe('mine')
    })
  })
}

describe('storage options', () => {
  it('refuses bad options with messages naming them', async () => {
    await expect(createRuntime({ storage: 'disk' as never })).rejects.toMatchObject({ code: 'ERR_INVALID_OPTION' })
    await expect(createRuntime({ adapters: { cache: {} } as never })).rejects.toThrow(/options\.adapters\.cache/)
    const runtime = await createRuntime({ threads: 1, storage: 'memory' })
    try {
      await expect(runtime.deploy('f', { code: 'export const x = 1', secrets: ['bad-name'] })).rejects.toThrow(
        /options\.secrets\[0\]/,
      )
      await expect(runtime.deploy('f', { code: 'export const x = 1', scope: '' })).rejects.toMatchObject({
        code: 'ERR_INVALID_ARGUMENT',
      })
      // No key configured anywhere: secrets are refused, with the way to fix it.
      const previous = process.env.FNBOX_SECRET_KEY
      delete process.env.FNBOX_SECRET_KEY
      await expect(runtime.secrets.set('A', 'b')).rejects.toMatchObject({ code: 'ERR_INVALID_OPTION' })
      if (previous !== undefined) process.env.FNBOX_SECRET_KEY = previous
    } finally {
      await runtime.close()
    }
  })

  it('takes user adapters in place of the built-in stores', async () => {
    const seen: string[] = []
    const runtime = await createRuntime({
      threads: 1,
      storage: 'memory',
      adapters: {
        kv: {
          get: async (scope, key) => (seen.push(`${scope}:${key}`), 'from-adapter'),
          set: async () => undefined,
          delete: async () => false,
          list: async () => ({ keys: [] }),
          incr: async () => 0,
          compareAndSet: async () => false,
        },
      },
    })
    try {
      await runtime.deploy('f', {
        code: `import { kv, tx } from 'fnbox:host'\nexport const get = (k) => kv.get(k)\nexport const t = () => tx(async () => 1).catch((e) => e.message)`,
      })
      expect(await runtime.call('f', 'get', 'k1')).toBe('from-adapter')
      expect(seen).toEqual(['default:k1'])
      expect(await runtime.call('f', 't')).toMatch(/built-in kv and vector/)
    } finally {
      await runtime.close()
    }
  })
})
