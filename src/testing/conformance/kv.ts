/**
 * The contract of a {@link KvStore}, as one suite any store runs (fnbox's memory and Postgres
 * stores, and an adapter of yours): `runKvStoreConformance(() => myStore)` inside a vitest test
 * file. Tests work in fresh scopes; expiry is tested by freezing `Date` (only `Date`: timers keep
 * running, so database drivers do too) at past dates of each test's own, so a store must read
 * the time from `Date.now()`.
 *
 * @module
 */
import { randomUUID } from 'node:crypto'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import type { JsonValue } from '../../host/domains/types.js'
import type { KvStore } from '../../host/kv/types.js'
import { suiteName, useStore, type ConformanceOptions, type OpenStore } from './harness.js'

/** UTF-8 byte order, which is code-point order: the oracle for key order. */
const byCodePoints = (a: string, b: string) => Buffer.compare(Buffer.from(a), Buffer.from(b))

/**
 * A past instant of this test's own. Our sweeps then reach only rows that expired decades ago,
 * never the live rows of another test.
 */
const pastInstant = () => Date.UTC(2001, 0, 1) + Math.floor(Math.random() * 1e11)

const invalidArgument = (argument: string) => ({ code: 'ERR_INVALID_ARGUMENT', details: { argument } })

/**
 * Runs the KvStore contract against the store `open` gives.
 *
 * @example
 * ```ts
 * // my-kv.test.ts
 * import { runKvStoreConformance } from 'fnbox/testing'
 * runKvStoreConformance(() => new MyRedisKvStore(redis), { name: 'redis' })
 * ```
 * @public
 */
export function runKvStoreConformance(open: OpenStore<KvStore>, options?: ConformanceOptions): void {
  describe(suiteName('KvStore', options), () => {
    const current = useStore(open)
    let kv: KvStore
    let scope: string

    beforeEach(() => {
      kv = current()
      scope = randomUUID()
    })
    afterEach(() => {
      vi.useRealTimers()
    })

    /** Freezes `Date` (only) at `t`; timers keep running, so the database drivers do too. */
    const clockAt = (t: number) => {
      vi.useFakeTimers({ toFake: ['Date'] })
      vi.setSystemTime(t)
    }

    const allKeys = async (options: { prefix?: string; limit?: number } = {}) => {
      const keys: string[] = []
      let cursor: string | undefined
      do {
        const page = await kv.list(scope, { ...options, cursor })
        keys.push(...page.keys.map((k) => k.key))
        cursor = page.cursor
      } while (cursor !== undefined)
      return keys
    }

    describe('get, set, delete', () => {
      const values: [string, JsonValue][] = [
        ['null', null],
        ['true', true],
        ['false', false],
        ['zero', 0],
        ['a negative fraction', -1.5],
        ['a large number', 1e300],
        ['the largest safe integer', Number.MAX_SAFE_INTEGER],
        ['an empty string', ''],
        ['a unicode string', 'ünïcödé 日本 😀 \u{10FFFF} "quoted" \\ \n'],
        ['an empty array', []],
        ['a mixed array', [1, 'a', null, true, [{}], { b: [2] }]],
        ['an empty object', {}],
        ['a nested object', { a: { b: { c: [1, 2, { d: 'e' }] } }, 'key with spaces': 'x', 日本: '😀', '': 0 }],
      ]

      it.each(values)('round-trips %s', async (_, value) => {
        await kv.set(scope, 'k', value)
        expect(await kv.get(scope, 'k')).toEqual(value)
      })

      it('answers undefined for an absent key, null for a stored null', async () => {
        expect(await kv.get(scope, 'absent')).toBeUndefined()
        await kv.set(scope, 'n', null)
        expect(await kv.get(scope, 'n')).toBeNull()
      })

      it('takes keys with any characters', async () => {
        const keys = ['%', '_', '\\', "'; drop table fnbox_kv; --", '日本😀', '\u{10FFFF}', ' ']
        for (const [i, key] of keys.entries()) await kv.set(scope, key, i)
        for (const [i, key] of keys.entries()) expect(await kv.get(scope, key)).toBe(i)
      })

      it('overwrites a value', async () => {
        await kv.set(scope, 'k', { v: 1 })
        await kv.set(scope, 'k', [2])
        expect(await kv.get(scope, 'k')).toEqual([2])
      })

      it('keeps stored values apart from the objects passed in and handed out', async () => {
        const value = { list: [1, 2], nested: { a: 'b' } }
        await kv.set(scope, 'k', value)
        value.list.push(3)
        const read = (await kv.get(scope, 'k')) as typeof value
        read.nested.a = 'changed'
        expect(await kv.get(scope, 'k')).toEqual({ list: [1, 2], nested: { a: 'b' } })
      })

      it('deletes: true for a live entry, false when there is none', async () => {
        await kv.set(scope, 'k', 1)
        expect(await kv.delete(scope, 'k')).toBe(true)
        expect(await kv.get(scope, 'k')).toBeUndefined()
        expect(await kv.delete(scope, 'k')).toBe(false)
        expect(await kv.delete(scope, 'never')).toBe(false)
      })

      it('keeps scopes apart', async () => {
        const other = randomUUID()
        await kv.set(scope, 'k', 'mine')
        await kv.set(other, 'k', 'theirs')
        expect(await kv.get(scope, 'k')).toBe('mine')
        expect(await kv.get(other, 'k')).toBe('theirs')
        expect(await kv.delete(other, 'k')).toBe(true)
        expect(await kv.get(scope, 'k')).toBe('mine')
        await kv.set(other, 'only-there', 1)
        expect(await allKeys()).toEqual(['k'])
        expect(await kv.incr(other, 'k', 5)).toBe(5)
        expect(await kv.compareAndSet(other, 'k', 'mine', 'x')).toBe(false)
      })
    })

    it('answers many concurrent gets each with its own value (SQL stores batch them into one statement)', async () => {
      const other = randomUUID()
      for (let i = 0; i < 40; i++) await kv.set(scope, `k${i}`, { i })
      await kv.set(other, 'k1', 'other scope')
      clockAt(Date.now())
      await kv.set(scope, 'short', 1, { ttl: 1 })
      vi.setSystemTime(Date.now() + 2000)
      const asks: [string, string, JsonValue | undefined][] = [
        ...Array.from({ length: 40 }, (_, i): [string, string, JsonValue | undefined] => [scope, `k${i}`, { i }]),
        [scope, 'missing', undefined],
        [other, 'k1', 'other scope'],
        [other, 'k2', undefined],
        [scope, 'short', undefined], // expired
        [scope, 'k3', { i: 3 }], // asked twice in one batch
      ]
      const got = await Promise.all(asks.map(([s, k]) => kv.get(s, k)))
      expect(got).toEqual(asks.map(([, , v]) => v))
    })

    describe('expiry', () => {
      it('shows an entry until its expiry and hides it from then on', async () => {
        const t0 = pastInstant()
        clockAt(t0)
        await kv.set(scope, 'k', 'v', { ttl: 1.5 })
        vi.setSystemTime(t0 + 1499)
        expect(await kv.get(scope, 'k')).toBe('v')
        expect((await kv.list(scope)).keys).toEqual([{ key: 'k', expiresAt: t0 + 1500 }])
        vi.setSystemTime(t0 + 1500)
        expect(await kv.get(scope, 'k')).toBeUndefined()
        expect((await kv.list(scope)).keys).toEqual([])
      })

      it('deletes an expired entry but answers false', async () => {
        const t0 = pastInstant()
        clockAt(t0)
        await kv.set(scope, 'k', 'v', { ttl: 1 })
        vi.setSystemTime(t0 + 1000)
        expect(await kv.delete(scope, 'k')).toBe(false)
        vi.setSystemTime(t0)
        expect(await kv.get(scope, 'k')).toBeUndefined()
      })

      it('lists no expiry for entries without one, and set without ttl clears one', async () => {
        const t0 = pastInstant()
        clockAt(t0)
        await kv.set(scope, 'a', 1, { ttl: 10 })
        await kv.set(scope, 'b', 2)
        expect((await kv.list(scope)).keys).toEqual([{ key: 'a', expiresAt: t0 + 10_000 }, { key: 'b' }])
        await kv.set(scope, 'a', 3)
        vi.setSystemTime(t0 + 20_000)
        expect(await kv.get(scope, 'a')).toBe(3)
        expect((await kv.list(scope)).keys).toEqual([{ key: 'a' }, { key: 'b' }])
      })

      it('treats an expired entry as absent in compareAndSet', async () => {
        const t0 = pastInstant()
        clockAt(t0)
        await kv.set(scope, 'k', 'old', { ttl: 1 })
        vi.setSystemTime(t0 + 1000)
        expect(await kv.compareAndSet(scope, 'k', 'old', 'new')).toBe(false)
        expect(await kv.compareAndSet(scope, 'k', undefined, 'new')).toBe(true)
        expect(await kv.get(scope, 'k')).toBe('new')
        expect((await kv.list(scope)).keys).toEqual([{ key: 'k' }])
      })

      it('sets an expiry with compareAndSet', async () => {
        const t0 = pastInstant()
        clockAt(t0)
        expect(await kv.compareAndSet(scope, 'k', undefined, 1, { ttl: 2 })).toBe(true)
        expect(await kv.compareAndSet(scope, 'k', 1, 2, { ttl: 3 })).toBe(true)
        expect((await kv.list(scope)).keys).toEqual([{ key: 'k', expiresAt: t0 + 3000 }])
        vi.setSystemTime(t0 + 3000)
        expect(await kv.get(scope, 'k')).toBeUndefined()
      })

      it('restarts an expired counter at 0 without expiry, and keeps a live counter’s expiry', async () => {
        const t0 = pastInstant()
        clockAt(t0)
        await kv.set(scope, 'live', 10, { ttl: 5 })
        await kv.set(scope, 'gone', 10, { ttl: 1 })
        await kv.set(scope, 'text', 'not a number', { ttl: 1 })
        vi.setSystemTime(t0 + 1000)
        expect(await kv.incr(scope, 'live', 1)).toBe(11)
        expect(await kv.incr(scope, 'gone', 1)).toBe(1)
        expect(await kv.incr(scope, 'text', 2)).toBe(2)
        expect((await kv.list(scope)).keys).toEqual([
          { key: 'gone' },
          { key: 'live', expiresAt: t0 + 5000 },
          { key: 'text' },
        ])
      })

      it('sweeps expired entries and answers how many', async () => {
        const t0 = pastInstant()
        // Entries left expiring in this window by an interrupted run are cleared first.
        clockAt(t0 + 60_000)
        await kv.sweep!()
        vi.setSystemTime(t0)
        await kv.set(scope, 'a', 1, { ttl: 1 })
        await kv.set(scope, 'b', 2, { ttl: 2 })
        await kv.set(randomUUID(), 'c', 3, { ttl: 1 })
        await kv.set(scope, 'later', 4, { ttl: 100 })
        await kv.set(scope, 'forever', 5)
        vi.setSystemTime(t0 + 5000)
        expect(await kv.sweep!()).toBe(3)
        expect(await kv.sweep!()).toBe(0)
        expect(await allKeys()).toEqual(['forever', 'later'])
      })
    })

    describe('incr', () => {
      it('starts an absent key at 0 and adds to it', async () => {
        expect(await kv.incr(scope, 'n', 1)).toBe(1)
        expect(await kv.incr(scope, 'n', 41)).toBe(42)
        expect(await kv.get(scope, 'n')).toBe(42)
      })

      it('adds fractions and negative numbers as JavaScript does', async () => {
        expect(await kv.incr(scope, 'n', 0.5)).toBe(0.5)
        expect(await kv.incr(scope, 'n', -2.25)).toBe(-1.75)
        await kv.set(scope, 'f', 0.1)
        expect(await kv.incr(scope, 'f', 0.2)).toBe(0.1 + 0.2)
        await kv.set(scope, 'big', 2 ** 60)
        expect(await kv.incr(scope, 'big', 1e-3)).toBe(2 ** 60 + 1e-3)
      })

      it('adds 100 concurrent increments exactly', async () => {
        await Promise.all(Array.from({ length: 100 }, () => kv.incr(scope, 'n', 1)))
        expect(await kv.get(scope, 'n')).toBe(100)
      })

      it('refuses a value that is not a number, and leaves it as it was', async () => {
        for (const value of ['5', { n: 1 }, [1], null, true]) {
          await kv.set(scope, 'k', value)
          await expect(kv.incr(scope, 'k', 1)).rejects.toMatchObject(invalidArgument('key'))
          expect(await kv.get(scope, 'k')).toEqual(value)
        }
      })

      it('refuses a result past the largest number', async () => {
        await kv.set(scope, 'k', 1.7e308)
        await expect(kv.incr(scope, 'k', 1e308)).rejects.toMatchObject(invalidArgument('by'))
        expect(await kv.get(scope, 'k')).toBe(1.7e308)
      })
    })

    describe('compareAndSet', () => {
      it('inserts when the key is absent and expected is undefined', async () => {
        expect(await kv.compareAndSet(scope, 'k', undefined, 1)).toBe(true)
        expect(await kv.compareAndSet(scope, 'k', undefined, 2)).toBe(false)
        expect(await kv.get(scope, 'k')).toBe(1)
      })

      it('swaps only from the expected value', async () => {
        expect(await kv.compareAndSet(scope, 'k', 1, 2)).toBe(false)
        expect(await kv.get(scope, 'k')).toBeUndefined()
        await kv.set(scope, 'k', 1)
        expect(await kv.compareAndSet(scope, 'k', 1, 2)).toBe(true)
        expect(await kv.compareAndSet(scope, 'k', 1, 3)).toBe(false)
        expect(await kv.get(scope, 'k')).toBe(2)
      })

      it('compares deeply: object keys in any order, arrays in order, types exactly', async () => {
        await kv.set(scope, 'k', { a: 1, b: [1, { c: null }], d: 'x' })
        expect(await kv.compareAndSet(scope, 'k', { d: 'x', b: [1, { c: null }], a: 1 }, 'swapped')).toBe(true)
        await kv.set(scope, 'k', [1, 2])
        expect(await kv.compareAndSet(scope, 'k', [2, 1], 'swapped')).toBe(false)
        expect(await kv.compareAndSet(scope, 'k', [1, 2, 3], 'swapped')).toBe(false)
        await kv.set(scope, 'k', { a: 1 })
        expect(await kv.compareAndSet(scope, 'k', { a: 1, b: null }, 'swapped')).toBe(false)
        expect(await kv.compareAndSet(scope, 'k', { a: '1' }, 'swapped')).toBe(false)
        await kv.set(scope, 'k', 1)
        expect(await kv.compareAndSet(scope, 'k', '1', 'swapped')).toBe(false)
        expect(await kv.compareAndSet(scope, 'k', 1.0, 'swapped')).toBe(true)
      })

      it('treats a stored null as present', async () => {
        await kv.set(scope, 'k', null)
        expect(await kv.compareAndSet(scope, 'k', undefined, 1)).toBe(false)
        expect(await kv.compareAndSet(scope, 'k', null, 1)).toBe(true)
        expect(await kv.get(scope, 'k')).toBe(1)
      })

      it('lets exactly one of 10 concurrent swaps from the same value win', async () => {
        await kv.set(scope, 'k', { version: 0 })
        const results = await Promise.all(
          Array.from({ length: 10 }, (_, i) => kv.compareAndSet(scope, 'k', { version: 0 }, { version: 1, by: i })),
        )
        expect(results.filter(Boolean)).toHaveLength(1)
        expect(await kv.get(scope, 'k')).toEqual({ version: 1, by: results.indexOf(true) })
      })

      it('lets exactly one of 10 concurrent inserts of an absent key win', async () => {
        const results = await Promise.all(
          Array.from({ length: 10 }, (_, i) => kv.compareAndSet(scope, 'k', undefined, i)),
        )
        expect(results.filter(Boolean)).toHaveLength(1)
        expect(await kv.get(scope, 'k')).toBe(results.indexOf(true))
      })

      it('lets exactly one of 10 concurrent inserts over an expired entry win', async () => {
        const t0 = pastInstant()
        clockAt(t0)
        await kv.set(scope, 'k', 'old', { ttl: 1 })
        vi.setSystemTime(t0 + 1000)
        const results = await Promise.all(
          Array.from({ length: 10 }, (_, i) => kv.compareAndSet(scope, 'k', undefined, i)),
        )
        expect(results.filter(Boolean)).toHaveLength(1)
        expect(await kv.get(scope, 'k')).toBe(results.indexOf(true))
      })
    })

    describe('list', () => {
      const keys = [
        'a',
        'a%b',
        'a%c',
        'axb',
        'a_b',
        'aab',
        'a\\b',
        'a\\\\b',
        'b',
        'e1',
        'é1',
        'é2',
        'f',
        '日',
        '日本1',
        '日本語',
        '😀1',
        '😀2',
        '😁',
        '\uD7FF1',
        '\uE000',
        '\uFFFD',
        'a\u{10FFFE}',
        'a\u{10FFFF}',
        'a\u{10FFFF}x',
        'a\u{10FFFF}\u{10FFFF}',
        '\u{10FFFF}',
        '\u{10FFFF}z',
      ]
      const prefixes = [
        '',
        'a',
        'a%',
        'a_',
        'a\\',
        'a\\\\',
        'é',
        '日本',
        '😀',
        '\uD7FF',
        'a\u{10FFFF}',
        '\u{10FFFF}',
        'z',
      ]

      it.each(prefixes.map((p) => [JSON.stringify(p), p]))('matches prefix %s by code points', async (_, prefix) => {
        await Promise.all(keys.map((key) => kv.set(scope, key, key)))
        const expected = keys.filter((key) => key.startsWith(prefix)).sort(byCodePoints)
        expect((await kv.list(scope, { prefix, limit: 1000 })).keys.map((k) => k.key)).toEqual(expected)
        expect(await allKeys({ prefix, limit: 2 })).toEqual(expected)
      })

      it('pages through 250 keys in code-point order', async () => {
        const chars = ['A', 'é', '\uFF5E', '😀', '\u{10FFFF}']
        const written = Array.from({ length: 250 }, (_, i) => `k${chars[i % chars.length]}${i}`)
        await Promise.all(written.map((key) => kv.set(scope, key, 0)))
        const expected = [...written].sort(byCodePoints)
        // UTF-16 order differs: the test would not notice a store that sorts with `<`.
        expect([...written].sort()).not.toEqual(expected)

        const first = await kv.list(scope)
        expect(first.keys).toHaveLength(100)
        expect(first.cursor).toEqual(expect.any(String))
        const pages = [first.keys.length]
        const listed = first.keys.map((k) => k.key)
        let cursor = first.cursor
        while (cursor !== undefined) {
          const page = await kv.list(scope, { cursor, limit: 100 })
          pages.push(page.keys.length)
          listed.push(...page.keys.map((k) => k.key))
          cursor = page.cursor
        }
        expect(pages).toEqual([100, 100, 50])
        expect(listed).toEqual(expected)
        expect((await kv.list(scope, { limit: 1000 })).keys.map((k) => k.key)).toEqual(expected)
      })

      it('gives a cursor only when more keys follow', async () => {
        await Promise.all(['a', 'b', 'c'].map((key) => kv.set(scope, key, 0)))
        expect(await kv.list(scope, { limit: 3 })).toEqual({ keys: [{ key: 'a' }, { key: 'b' }, { key: 'c' }] })
        const first = await kv.list(scope, { limit: 2 })
        expect(first.keys).toEqual([{ key: 'a' }, { key: 'b' }])
        expect(await kv.list(scope, { limit: 2, cursor: first.cursor })).toEqual({ keys: [{ key: 'c' }] })
        expect(await kv.list(scope)).toEqual({ keys: [{ key: 'a' }, { key: 'b' }, { key: 'c' }] })
        expect(await kv.list(randomUUID())).toEqual({ keys: [] })
      })

      it('never lists expired keys, nor counts them toward a page', async () => {
        const t0 = pastInstant()
        clockAt(t0)
        await kv.set(scope, 'a', 0)
        await kv.set(scope, 'b', 0, { ttl: 1 })
        await kv.set(scope, 'c', 0)
        vi.setSystemTime(t0 + 1000)
        expect(await kv.list(scope, { limit: 2 })).toEqual({ keys: [{ key: 'a' }, { key: 'c' }] })
      })

      it('takes limits from 1 to 1000 only', async () => {
        await kv.set(scope, 'a', 0)
        expect((await kv.list(scope, { limit: 1 })).keys).toHaveLength(1)
        expect((await kv.list(scope, { limit: 1000 })).keys).toHaveLength(1)
        for (const limit of [0, -1, 1001, 1.5, Number.NaN]) {
          await expect(kv.list(scope, { limit })).rejects.toMatchObject(invalidArgument('options.limit'))
        }
      })

      it('refuses a cursor it did not make', async () => {
        for (const cursor of ['not a cursor!', 'AA', '_w']) {
          await expect(kv.list(scope, { cursor })).rejects.toMatchObject(invalidArgument('options.cursor'))
        }
      })
    })
  })
}
