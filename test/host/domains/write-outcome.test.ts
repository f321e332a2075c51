/**
 * A failed invocation says what its data writes did (`details.writes`), so its caller can trust
 * "failed": `'none'` (nothing changed), `'applied'` or `'unknown'` (a write was running).
 */
import { existsSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createRuntime, isFnboxError, type KvStore, type Runtime } from 'fnbox'

const CODE = `
import { kv, files, tx } from 'fnbox:host'
export async function writeThenSpin(key) { await kv.set(key, 1); for (;;) {} }
export function spin() { for (;;) {} }
export default { async fetch() { await kv.set('http', 1); for (;;) {} } }
export const set = (key) => kv.set(key, 'late')
// Holds PGlite's one session in a transaction until the file "release" appears, then rolls back.
export const hold = () => tx(async (t) => {
  await t.kv.set('held', 1)
  await files.write('holding', 'yes')
  while (!(await files.stat('release'))) await new Promise((resolve) => setTimeout(resolve, 10))
  throw new Error('rolled back')
})
`

const outcome = (promise: Promise<unknown>) =>
  promise.then(
    () => 'resolved',
    (err: unknown) => (isFnboxError(err) ? { code: err.code, writes: err.details.writes } : err),
  )

describe('details.writes of a failed invocation', () => {
  let runtime: Runtime
  let dir: string
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'fnbox-writes-'))
    runtime = await createRuntime({ threads: 2, storage: { pglite: join(dir, 'db') }, files: join(dir, 'files') })
  })
  afterAll(async () => {
    await runtime?.close()
    await rm(dir, { recursive: true, force: true })
  })

  // The database starts in seconds: a function that uses it starts it at deploy, so that its
  // first calls do not wait for it (or time out while their writes queue behind it).
  it('the database starts opening when a function importing fnbox:host is deployed, not before', async () => {
    await runtime.deploy('plain', { code: 'export const hi = () => "hi"' })
    expect(await runtime.call('plain', 'hi')).toBe('hi')
    expect(existsSync(join(dir, 'db', 'fnbox.lock'))).toBe(false)
    await runtime.deploy('quick', { code: CODE, limits: { timeoutMs: 300 } })
    await runtime.deploy('slow', { code: CODE, limits: { timeoutMs: 60_000 } })
    // Writes then spins: its limit must leave the write time to land first, also on a loaded
    // machine (with 300 ms, a PGlite write queued behind other tests' work sometimes did not,
    // and the outcome was rightly 'unknown').
    await runtime.deploy('lands', { code: CODE, limits: { timeoutMs: 2000 } })
    // The folder is taken (and the database starting) without any call.
    await expect.poll(() => existsSync(join(dir, 'db', 'fnbox.lock')), { timeout: 30_000 }).toBe(true)
    await runtime.kv.get('wait until it is open')
  }, 60_000)

  it('is absent without writes, and "applied" after one that landed', async () => {
    expect(await outcome(runtime.call('quick', 'spin'))).toEqual({ code: 'ERR_TIMEOUT', writes: undefined })
    expect(await outcome(runtime.call('lands', 'writeThenSpin', 'landed'))).toEqual({
      code: 'ERR_TIMEOUT',
      writes: 'applied',
    })
    expect(await runtime.kv.get('landed')).toBe(1)
    // Over HTTP too: the client is told its write happened.
    const res = await runtime.fetch(new Request('http://localhost/lands/'))
    expect(res.status).toBe(504)
    expect(await res.json()).toMatchObject({ error: { code: 'ERR_TIMEOUT', writes: 'applied' } })
  })

  it('is "none" for a write still queued when the invocation timed out, which then never lands', async () => {
    const holding = runtime.call('slow', 'hold').catch(() => undefined)
    await expect.poll(() => runtime.files.stat('holding'), { timeout: 30_000 }).toBeDefined()
    // The session is held: this write waits for it, past its 300 ms.
    expect(await outcome(runtime.call('quick', 'set', 'queued'))).toEqual({ code: 'ERR_TIMEOUT', writes: 'none' })
    await runtime.files.write('release', 'now')
    await holding // its transaction rolled back: the session is free, the queued write would run now
    expect(await runtime.kv.get('held')).toBeUndefined()
    expect(await runtime.kv.get('queued')).toBeUndefined()
  }, 60_000)
})

describe('details.writes with a store that hangs', () => {
  it('is "unknown" for a write that was running when the invocation timed out', async () => {
    const hanging: KvStore = {
      get: async () => undefined,
      set: () => new Promise(() => {}),
      delete: async () => false,
      list: async () => ({ keys: [] }),
      incr: async () => 0,
      compareAndSet: async () => false,
    }
    const runtime = await createRuntime({ threads: 1, storage: 'memory', adapters: { kv: hanging } })
    try {
      await runtime.deploy('quick', { code: CODE, limits: { timeoutMs: 300 } })
      expect(await outcome(runtime.call('quick', 'set', 'k'))).toEqual({ code: 'ERR_TIMEOUT', writes: 'unknown' })
    } finally {
      await runtime.close()
    }
  })
})
