/**
 * `tx` is serializable on every backend: concurrent read-modify-writes lose nothing, a
 * transaction that conflicts is rolled back and run again (up to 8 tries, then ERR_CONFLICT), and
 * one whose statement failed never commits half of it.
 */
import { afterAll, beforeAll, expect, it } from 'vitest'
import { createRuntime, type Runtime } from 'fnbox'
import { describeOn, testBackends, type BackendName } from '../helpers/backends.js'

const CODE = `
import { kv, tx } from 'fnbox:host'
const outcome = async (run) => { try { return { ok: await run() } } catch (e) { return { code: e.code, message: e.message, details: e.details } } }

export async function bump(key) {
  await tx(async (t) => {
    const x = (await t.kv.get(key)) ?? 0
    await t.kv.set(key, x + 1)
  })
}

// Conflicts on purpose on its first \`times\` tries: after the transaction read the key, a write
// outside it (another connection) changes it. \`swallow\`: the callback catches the conflict.
export async function conflicting(key, times, swallow, attempts) {
  let runs = 0
  const result = await outcome(() => tx(async (t) => {
    runs++
    const x = (await t.kv.get(key)) ?? 0
    if (runs <= times) await kv.set(key, 1000 + runs)
    try {
      await t.kv.set(key, x + 1)
    } catch (e) {
      if (!swallow) throw e
    }
    return x + 1
  }, attempts === undefined ? undefined : { attempts }))
  return { ...result, runs }
}

// A statement of the transaction fails (an incr past the largest number) and the callback
// catches it: the transaction must not commit the write before it.
export const overflowCaught = (key) => outcome(() => tx(async (t) => {
  await t.kv.set(key, 'half')
  await t.kv.set(key + ':n', 1.7e308)
  try { await t.kv.incr(key + ':n', 1.7e308) } catch {}
  return 'committed'
}))
`

/** What the backend can show beyond the contract. */
const CAN: Record<BackendName, { connections?: boolean; statements?: boolean }> = {
  memory: {},
  // A failed statement aborts the transaction (Postgres).
  PGlite: { statements: true },
  // Separate connections: a write outside a transaction can overtake it (not on PGlite).
  'server Postgres': { connections: true, statements: true },
}

for (const backend of await testBackends('tx')) {
  const can = CAN[backend.name]
  describeOn(backend, `tx on ${backend.name}`, () => {
    let runtime: Runtime

    beforeAll(async () => {
      runtime = await createRuntime({ threads: 2, ...(await backend.runtimeOptions()) })
      // Correctness, not latency: 100 calls queue for instances while transactions take turns.
      await runtime.deploy('tx', { code: CODE, limits: { timeoutMs: 60_000 }, pool: { acquireTimeoutMs: 120_000 } })
    }, 60_000)
    afterAll(() => runtime?.close())

    it('100 concurrent read-modify-write invocations end at exactly 100', async () => {
      const results = await Promise.allSettled(Array.from({ length: 100 }, () => runtime.call('tx', 'bump', 'counter')))
      expect(results.filter((r) => r.status === 'rejected')).toEqual([])
      expect(await runtime.kv.get('counter')).toBe(100)
    }, 120_000)

    it.skipIf(!can.connections)('runs a conflicting transaction again, and commits it', async () => {
      expect(await runtime.call('tx', 'conflicting', 'once', 1, false)).toEqual({ ok: 1002, runs: 2 })
      expect(await runtime.kv.get('once')).toBe(1002)
      // The callback caught the conflict and resolved: the commit still fails, and it runs again.
      expect(await runtime.call('tx', 'conflicting', 'caught', 1, true)).toEqual({ ok: 1002, runs: 2 })
      expect(await runtime.kv.get('caught')).toBe(1002)
    })

    it.skipIf(!can.connections)('gives up after its tries with ERR_CONFLICT naming them', async () => {
      expect(await runtime.call('tx', 'conflicting', 'always', 99, false, 4)).toMatchObject({
        code: 'ERR_CONFLICT',
        message: expect.stringMatching(/gave up after 4 attempts/),
        details: { attempts: 4 },
        runs: 4,
      })
      expect(await runtime.kv.get('always')).toBe(1004) // the last write from outside; none of the tries
      // One try only: a callback with effects outside the transaction runs once.
      expect(await runtime.call('tx', 'conflicting', 'once-only', 99, false, 1)).toMatchObject({
        code: 'ERR_CONFLICT',
        details: { attempts: 1 },
        runs: 1,
      })
    })

    it('checks the tries a guest asks for', async () => {
      expect(await runtime.call('tx', 'conflicting', 'bad', 0, false, 0)).toMatchObject({
        code: 'ERR_INVALID_ARGUMENT',
        details: { argument: 'attempts' },
        runs: 0,
      })
    })

    it.skipIf(!can.statements)(
      'never commits a transaction whose statement failed, even if the guest caught it',
      async () => {
        expect(await runtime.call('tx', 'overflowCaught', 'ovf')).toMatchObject({ code: 'ERR_INVALID_ARGUMENT' })
        expect(await runtime.kv.get('ovf')).toBeUndefined()
      },
    )
  })
}
