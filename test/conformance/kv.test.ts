/**
 * The KvStore contract (src/testing/conformance/kv.ts) over the backend matrix, and what the
 * built-in stores add to it: memory transactions (fork, adopt, the write gate) and SQL ones.
 */
import { randomUUID } from 'node:crypto'
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { kvDomain } from '../../src/host/kv/descriptor.js'
import type { MemoryKvStore } from '../../src/host/kv/memory.js'
import { PostgresKvStore } from '../../src/host/kv/postgres.js'
import type { KvStore } from '../../src/host/kv/types.js'
import { openSql } from '../../src/storage/sql.js'
import { runKvStoreConformance } from '../../src/testing/conformance/kv.js'
import { describeOn, testBackends, type OpenedBackend } from '../helpers/backends.js'

const invalidArgument = (argument: string) => ({ code: 'ERR_INVALID_ARGUMENT', details: { argument } })

for (const backend of await testBackends('kv conformance')) {
  describeOn(backend, backend.name, () => {
    runKvStoreConformance(async () => {
      const opened = await backend.open()
      return { store: await opened.store(kvDomain), close: () => opened.close() }
    })

    describe('transactions of the built-in store', () => {
      let opened: OpenedBackend
      let kv: KvStore
      let scope: string
      beforeAll(async () => {
        opened = await backend.open()
        kv = await opened.store(kvDomain)
      })
      afterAll(() => opened?.close())
      beforeEach(() => {
        scope = randomUUID()
      })

      it.runIf(backend.name === 'memory')('keeps a fork’s writes invisible until they are adopted', async () => {
        const store = kv as MemoryKvStore
        await store.set(scope, 'a', 1)
        const fork = store.fork()
        await fork.set(scope, 'a', 2)
        await fork.set(scope, 'b', 3)
        expect(await fork.get(scope, 'a')).toBe(2)
        expect(await store.get(scope, 'a')).toBe(1)
        expect(await store.get(scope, 'b')).toBeUndefined()
        store.adopt(fork)
        expect(await store.get(scope, 'a')).toBe(2)
        expect(await store.get(scope, 'b')).toBe(3)
      })

      it.runIf(backend.name === 'memory')(
        'makes writes from outside wait while the gate is held; reads do not wait',
        async () => {
          const store = kv as MemoryKvStore
          await store.set(scope, 'k', 'before')
          const release = await opened.gate!.exclusive()
          const fork = store.fork()
          await fork.set(scope, 'k', 'in transaction')
          let written = false
          const write = store.set(scope, 'k', 'outside').then(() => (written = true))
          await new Promise((resolve) => setTimeout(resolve, 20))
          expect(written).toBe(false)
          expect(await store.get(scope, 'k')).toBe('before')
          store.adopt(fork)
          release()
          await write
          expect(await store.get(scope, 'k')).toBe('outside')
        },
      )

      it.runIf(backend.name !== 'memory')(
        'writes with the transaction, which a refused incr does not abort',
        async () => {
          const { db, kind } = opened.sql!
          expect(await kv.get(scope, 'n')).toBeUndefined() // known absent (cached, where there is a cache)
          const trx = await db.startTransaction().execute()
          const inTrx = await opened.storeOver(kvDomain, trx)
          await inTrx.set(scope, 'text', 'x')
          await expect(inTrx.incr(scope, 'text', 1)).rejects.toMatchObject(invalidArgument('key'))
          expect(await inTrx.incr(scope, 'n', 2)).toBe(2)
          expect(await inTrx.compareAndSet(scope, 'n', 2, 3)).toBe(true)
          expect(await inTrx.get(scope, 'n')).toBe(3)
          // PGlite has one session, which the transaction holds: a read from outside would wait.
          if (kind === 'pg') expect(await kv.get(scope, 'n')).toBeUndefined()
          await trx.commit().execute()
          expect(await kv.get(scope, 'n')).toBe(3)
          expect(await kv.get(scope, 'text')).toBe('x')
        },
      )

      it.runIf(backend.name !== 'memory')('reports a failure below it as ERR_STORAGE, with the cause', async () => {
        const trx = await opened.sql!.db.startTransaction().execute()
        await trx.commit().execute()
        const store = await opened.storeOver(kvDomain, trx)
        const error = await store.get(scope, 'k').catch((err: unknown) => err)
        expect(error).toMatchObject({ code: 'ERR_STORAGE', cause: expect.any(Error) })
      })

      it.runIf(backend.name !== 'memory')('leaves no trace of a rolled-back transaction', async () => {
        await kv.set(scope, 'k', 'before')
        expect(await kv.get(scope, 'k')).toBe('before')
        const trx = await opened.sql!.db.startTransaction().execute()
        const inTrx = await opened.storeOver(kvDomain, trx)
        await inTrx.set(scope, 'k', 'during')
        expect(await inTrx.delete(scope, 'k')).toBe(true)
        await trx.rollback().execute()
        expect(await kv.get(scope, 'k')).toBe('before')
      })
    })
  })
}

// The runtime reads hot keys of the embedded database through a cache (the PGlite row above);
// the store must keep the contract without it too.
describe('PGlite without the read cache', () => {
  runKvStoreConformance(async () => {
    const sql = await openSql({ pglite: 'memory://' })
    return { store: new PostgresKvStore(sql.db), close: () => sql.close() }
  })
})
