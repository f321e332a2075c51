/**
 * The KV read cache of the embedded database: what it keeps and drops on its own, and, over a real
 * PGlite, that it never answers an older value than the database would, however reads and writes
 * (transactions included) interleave.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest'
import { KvReadCache, PostgresKvStore } from '../../../src/host/kv/index.js'
import { openSql, type SqlDatabase } from '../../../src/storage/sql.js'

const nextTurn = () => new Promise((resolve) => setImmediate(resolve))

describe('KvReadCache', () => {
  afterEach(() => vi.useRealTimers())

  it('keeps what a read found, absent keys included, as fresh copies', () => {
    const cache = new KvReadCache()
    expect(cache.get('s', 'a')).toBeUndefined()
    cache.settle(cache.issue(), 's', 'a', { value: { n: [1] }, expiresAt: null })
    cache.settle(cache.issue(), 's', 'none', { value: undefined, expiresAt: null })
    const hit = cache.get('s', 'a')!
    expect(hit).toEqual({ value: { n: [1] } })
    ;(hit.value as { n: number[] }).n.push(2)
    expect(cache.get('s', 'a')).toEqual({ value: { n: [1] } })
    expect(cache.get('s', 'none')).toEqual({ value: undefined })
    expect(cache.get('other', 'a')).toBeUndefined()
  })

  it('keeps nothing from a failed read, nor from one that a write of its key overtook', () => {
    const cache = new KvReadCache()
    cache.settle(cache.issue(), 's', 'failed')
    expect(cache.get('s', 'failed')).toBeUndefined()
    const overtaken = cache.issue()
    const other = cache.issue()
    cache.written('s', 'k')
    cache.settle(overtaken, 's', 'k', { value: 'old', expiresAt: null })
    expect(cache.get('s', 'k')).toBeUndefined()
    // A write of another key does not stop the fill.
    cache.settle(other, 's', 'j', { value: 'j', expiresAt: null })
    expect(cache.get('s', 'j')).toEqual({ value: 'j' })
    // Issued after the write: it saw it.
    cache.settle(cache.issue(), 's', 'k', { value: 'new', expiresAt: null })
    expect(cache.get('s', 'k')).toEqual({ value: 'new' })
  })

  it('drops an entry when its key is written, and when it expires', () => {
    vi.useFakeTimers({ toFake: ['Date'] })
    vi.setSystemTime(1_000_000)
    const cache = new KvReadCache()
    cache.settle(cache.issue(), 's', 'k', { value: 1, expiresAt: 1_000_500 })
    cache.settle(cache.issue(), 's', 'w', { value: 1, expiresAt: null })
    cache.written('s', 'w')
    expect(cache.get('s', 'w')).toBeUndefined()
    vi.setSystemTime(1_000_499)
    expect(cache.get('s', 'k')).toEqual({ value: 1 })
    vi.setSystemTime(1_000_500)
    expect(cache.get('s', 'k')).toBeUndefined()
    expect(cache.size.entries).toBe(0)
  })

  it('holds at most maxEntries and maxChars, dropping the least recently used first', () => {
    const cache = new KvReadCache({ maxEntries: 3, maxChars: 1000, maxValueChars: 100 })
    const fill = (key: string, value: string) => cache.settle(cache.issue(), 's', key, { value, expiresAt: null })
    fill('a', 'x')
    fill('b', 'x')
    fill('c', 'x')
    cache.get('s', 'a') // a is now the most recent
    fill('d', 'x')
    expect(['a', 'b', 'c', 'd'].map((k) => cache.get('s', k) !== undefined)).toEqual([true, false, true, true])
    fill('big', 'y'.repeat(101))
    expect(cache.get('s', 'big')).toBeUndefined()
    const roomy = new KvReadCache({ maxChars: 250, maxValueChars: 200 })
    roomy.settle(roomy.issue(), 's', 'p', { value: 'p'.repeat(150), expiresAt: null })
    roomy.settle(roomy.issue(), 's', 'q', { value: 'q'.repeat(150), expiresAt: null })
    expect(roomy.get('s', 'p')).toBeUndefined()
    expect(roomy.get('s', 'q')).toBeDefined()
    expect(roomy.size.chars).toBeLessThanOrEqual(250)
  })
})

describe('PostgresKvStore with a read cache, on PGlite', () => {
  let sql: SqlDatabase
  let cache: KvReadCache
  let kv: PostgresKvStore
  beforeAll(async () => {
    sql = await openSql({ pglite: 'memory://' })
    cache = new KvReadCache()
    kv = new PostgresKvStore(sql.db, { cache })
  })
  afterAll(() => sql.close())

  it('answers a repeated read from memory', async () => {
    await kv.set('s', 'hot', { v: 1 })
    expect(await kv.get('s', 'hot')).toEqual({ v: 1 })
    expect(cache.get('s', 'hot')).toEqual({ value: { v: 1 } })
    const sent = vi.spyOn(sql.db, 'executeQuery')
    expect(await kv.get('s', 'hot')).toEqual({ v: 1 })
    expect(sent).not.toHaveBeenCalled()
    sent.mockRestore()
  })

  it('never keeps the value a read found when a write of the key was issued while it ran', async () => {
    await kv.set('s', 'k', 1)
    const read = kv.get('s', 'k')
    await nextTurn() // the read's statement is sent: it runs before the write's
    const write = kv.set('s', 'k', 2)
    expect(await read).toBe(1)
    await write
    expect(await kv.get('s', 'k')).toBe(2)
  })

  it('after any mix of concurrent reads and writes, answers what the database holds', async () => {
    let seed = 7
    const rand = (n: number) => (seed = (seed * 1103515245 + 12345) % 2 ** 31) % n
    const keys = ['a', 'b', 'c']
    for (let round = 0; round < 30; round++) {
      const ops: Promise<unknown>[] = []
      for (let i = 0; i < 20; i++) {
        const key = keys[rand(keys.length)]!
        const op = rand(5)
        if (op === 0) ops.push(kv.set('mix', key, rand(100)))
        else if (op === 1) ops.push(kv.incr('mix', key, 1).catch(() => undefined))
        else if (op === 2) ops.push(kv.delete('mix', key))
        else ops.push(kv.get('mix', key))
        if (rand(3) === 0) await nextTurn()
      }
      await Promise.all(ops)
      for (const key of keys) {
        const rows = await sql.db
          .selectFrom('fnbox_kv')
          .select('value')
          .where('scope', '=', 'mix')
          .where('key', '=', key)
          .execute()
        expect(await kv.get('mix', key), `round ${round}, key ${key}`).toEqual(rows[0]?.value)
      }
    }
  })

  it('drops what a transaction writes: outside reads see the commit, or the old value after a rollback', async () => {
    await kv.set('s', 'tx', 'before')
    expect(await kv.get('s', 'tx')).toBe('before')
    const trx = await sql.db.startTransaction().execute()
    const inTrx = new PostgresKvStore(trx, { cache })
    await inTrx.set('s', 'tx', 'during')
    expect(await inTrx.get('s', 'tx')).toBe('during')
    expect(cache.get('s', 'tx')).toBeUndefined() // never the uncommitted value
    const outside = kv.get('s', 'tx') // waits for the session the transaction holds
    await trx.commit().execute()
    expect(await outside).toBe('during')
    expect(await kv.get('s', 'tx')).toBe('during')

    const rolledBack = await sql.db.startTransaction().execute()
    await new PostgresKvStore(rolledBack, { cache }).delete('s', 'tx')
    await rolledBack.rollback().execute()
    expect(await kv.get('s', 'tx')).toBe('during')
  })
})
