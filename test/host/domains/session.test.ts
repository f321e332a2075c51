/**
 * A caller told that a write failed can trust it did not happen, or is told it may have: a write
 * still waiting (for the database to open, for PGlite's session) when its invocation's deadline
 * passes never starts, and one that was running is reported as of unknown outcome.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { isFnboxError } from '../../../src/errors.js'
import type { KvStore } from '../../../src/host/kv/types.js'
import { DataSession } from '../../../src/host/domains/session.js'
import { MemoryKvStore } from '../../../src/host/kv/memory.js'
import { Deadline } from '../../../src/reliability/deadline.js'
import { openBackend, type Backend, type StorageOption } from '../../../src/storage/backend.js'
import { ManualClock } from '../../helpers/manual-clock.js'
import { itOn, testPostgres } from '../../helpers/postgres.js'

const open: Backend[] = []
afterEach(async () => {
  await Promise.all(open.splice(0).map((b) => b.close()))
})

const server = await testPostgres('data session')

async function backend(storage: StorageOption, kv?: KvStore): Promise<Backend> {
  const b = await openBackend({ storage, files: 'memory', secretsKey: undefined, adapters: kv ? { kv } : {} })
  open.push(b)
  return b
}

/** The kv store of a backend (the user's adapter, or the built-in one). */
const kvOf = (backend: Backend) => backend.stores.get('kv') as KvStore

const json = (value: unknown) => JSON.stringify(value)
const failure = (promise: Promise<unknown>) =>
  promise.then(
    () => {
      throw new Error('resolved')
    },
    (err: unknown) => err,
  )
/** Lets settled promises run their reactions. */
const settle = () => new Promise((resolve) => setImmediate(resolve))

describe('DataSession: writes cut short by the deadline', () => {
  it('a write waiting for the store to open never starts once its caller was told ERR_TIMEOUT', async () => {
    const clock = new ManualClock()
    let ready!: (b: Backend) => void
    const session = new DataSession(() => new Promise<Backend>((resolve) => (ready = resolve)), 's')
    const write = failure(session.handle('kv.incr', json({ key: 'n' }), undefined, new Deadline(100, clock)))
    clock.advance(200)
    const err = await write
    expect(isFnboxError(err, 'ERR_TIMEOUT')).toBe(true)
    expect((err as { details: unknown }).details).toMatchObject({ outcome: 'not-started' })

    const store = await backend('memory')
    ready(store) // the first start is over, after the caller gave up
    await settle()
    expect(await kvOf(store).get('s', 'n')).toBeUndefined()
    expect(session.endWrites()).toBe('none')
  })

  it('a write queued behind PGlite’s one session never starts after its deadline passed', async () => {
    const clock = new ManualClock()
    const store = await backend({ pglite: 'memory://' })
    const holder = await store.transaction() // holds the session, as a guest's open tx does
    const session = new DataSession(() => Promise.resolve(store), 's')
    const write = failure(session.handle('kv.set', json({ key: 'k', value: 1 }), undefined, new Deadline(100, clock)))
    await settle()
    clock.advance(200)
    expect(await write).toMatchObject({ code: 'ERR_TIMEOUT', details: { outcome: 'not-started' } })
    await holder.rollback() // the session is free: the queued write would run now
    await settle()
    expect(await kvOf(store).get('s', 'k')).toBeUndefined()
    expect(session.endWrites()).toBe('none')
  })

  itOn(server, 'a write waiting for a server Postgres connection never starts after its deadline passed', async () => {
    const clock = new ManualClock()
    const store = await backend({ postgres: await server.url() })
    await kvOf(store).get('s', 'warm') // migrated
    // Every connection of the pool (10) busy in a transaction: the write waits for one.
    const busy = await Promise.all(Array.from({ length: 10 }, () => store.transaction()))
    const session = new DataSession(() => Promise.resolve(store), 's')
    const write = failure(session.handle('kv.set', json({ key: 'k', value: 1 }), undefined, new Deadline(100, clock)))
    await settle()
    clock.advance(200)
    expect(await write).toMatchObject({ code: 'ERR_TIMEOUT', details: { outcome: 'not-started' } })
    await Promise.all(busy.map((t) => t.rollback()))
    await settle()
    expect(await kvOf(store).get('s', 'k')).toBeUndefined()
    expect(session.endWrites()).toBe('none')
  })

  it('a write that was running is reported as of unknown outcome, and counted once it lands', async () => {
    const clock = new ManualClock()
    let land!: () => void
    const slow = new MemoryKvStore()
    const set = slow.set.bind(slow)
    slow.set = (...args) => new Promise<void>((resolve) => (land = () => void set(...args).then(resolve)))
    const store = await backend('memory', slow)
    const session = new DataSession(() => Promise.resolve(store), 's')
    const write = failure(session.handle('kv.set', json({ key: 'k', value: 1 }), undefined, new Deadline(100, clock)))
    await settle()
    clock.advance(200)
    expect(await write).toMatchObject({ code: 'ERR_TIMEOUT', details: { outcome: 'unknown' } })
    expect(session.endWrites()).toBe('unknown')
    land()
    await settle()
    expect(await kvOf(store).get('s', 'k')).toBe(1)
    expect(session.endWrites()).toBe('applied')
  })

  it('says which writes an invocation made: none attempted, refused, applied', async () => {
    const store = await backend('memory')
    const session = new DataSession(() => Promise.resolve(store), 's')
    const deadline = new Deadline(60_000)
    await session.handle('kv.get', json({ key: 'k' }), undefined, deadline)
    expect(session.endWrites()).toBeUndefined() // reads only
    await failure(session.handle('kv.set', json({ key: '' }), undefined, deadline))
    expect(session.endWrites()).toBe('none') // refused before it reached the store
    await session.handle('kv.set', json({ key: 'k', value: 2 }), undefined, deadline)
    expect(session.endWrites()).toBe('applied')
    deadline.dispose()
  })
})
