import { describe, expect, it } from 'vitest'
import { isFnboxError, FnboxError } from '../../src/errors.js'
import { planScale } from '../../src/pool/autoscaler.js'
import type { InstanceRef } from '../../src/pool/executor.js'
import { Forecast } from '../../src/pool/forecast.js'
import type { FunctionPool } from '../../src/pool/function-pool.js'
import { flush, harness } from '../helpers/fake-threads.js'

/** Starts `n` acquires; resolved refs land in `got` as they are served. */
function acquireMany(pool: FunctionPool, n: number): { got: InstanceRef[]; all: Promise<InstanceRef>[] } {
  const got: InstanceRef[] = []
  const all = Array.from({ length: n }, () =>
    pool.acquire().then((ref) => {
      got.push(ref)
      return ref
    }),
  )
  return { got, all }
}

const demandCreations = (changes: { pool: FunctionPool; reason: string }[], pool: FunctionPool): number =>
  changes.filter((c) => c.pool === pool && c.reason === 'demand').length

describe('Forecast', () => {
  it('follows a steady load and runs ahead of a rising one', () => {
    const steady = new Forecast()
    for (let i = 0; i < 10; i++) steady.observe(5)
    expect(steady.predict()).toBeCloseTo(5, 1)
    const rising = new Forecast()
    for (const peak of [2, 4, 6, 8, 10]) rising.observe(peak)
    expect(rising.predict()).toBeGreaterThan(10) // ahead of the last peak
  })

  it('falls to zero once the traffic stops, never below', () => {
    const f = new Forecast()
    for (let i = 0; i < 5; i++) f.observe(8)
    // Smoothing overshoots below zero once the traffic stops; it must not swing back up.
    for (let i = 0; i < 20; i++) {
      f.observe(0)
      if (i >= 1) expect(f.predict()).toBe(0)
    }
  })
})

describe('planScale', () => {
  const settings = { min: 0, max: 10, idleTimeoutMs: 1000, targetUtilization: 0.5, prewarm: true }

  it('aims at the forecast over the target utilisation, within min and max', () => {
    const f = new Forecast()
    f.observe(3)
    const signals = { total: 2, busy: 1, waiting: 0, idleSince: [0] }
    expect(planScale(signals, f, settings, 0)).toEqual({ target: 6, grow: 4, shrink: 0 })
    expect(planScale(signals, f, { ...settings, max: 4 }, 0).target).toBe(4)
    const quiet = new Forecast()
    quiet.observe(0)
    expect(planScale(signals, quiet, { ...settings, min: 3 }, 0).target).toBe(3)
  })

  it('releases only idle instances past idleTimeoutMs, and only down to the target', () => {
    const f = new Forecast()
    f.observe(1) // target 2
    const signals = { total: 5, busy: 0, waiting: 0, idleSince: [0, 100, 500, 2000, 2500] }
    expect(planScale(signals, f, settings, 2000)).toMatchObject({ target: 2, shrink: 3 })
    expect(planScale(signals, f, settings, 1050).shrink).toBe(1)
    expect(planScale(signals, f, { ...settings, prewarm: false }, 4000)).toMatchObject({ target: 0, shrink: 5 })
  })
})

describe('function pool: scaling', () => {
  it('makes an instance for each waiting call up to max, then queues the rest', async () => {
    const h = harness()
    const pool = await h.deploy('f', { max: 3 })
    const { got, all } = acquireMany(pool, 5)
    await flush()
    expect(got).toHaveLength(3)
    expect(pool.stats()).toMatchObject({ instances: 3, inUse: 3, queued: 2, coldStarts: 3 })
    pool.release(got[0]!)
    pool.release(got[1]!)
    await flush()
    expect(got).toHaveLength(5)
    for (const ref of await Promise.all(all)) pool.release(ref)
    expect(pool.stats()).toMatchObject({ instances: 3, idle: 3, queued: 0, coldStarts: 3 })
  })

  it("spreads a function's instances evenly over the threads, a busy thread last among equals", async () => {
    const h = harness()
    const pool = await h.deploy('f', { max: 12, instancesPerModule: 4 })
    // Concurrent calls on one thread would queue for it while the other idles: one module each.
    await Promise.all(acquireMany(pool, 4).all)
    expect(h.threads.map((t) => t.refs.size)).toEqual([2, 2])
    await Promise.all(acquireMany(pool, 4).all)
    expect(h.threads.map((t) => t.refs.size)).toEqual([4, 4])
    // Thread 1 is busy and thread 0 much less: of threads holding as many, thread 0 goes first...
    h.threads[1]!.utilization = 0.9
    h.threads[0]!.utilization = 0.2
    await Promise.all(acquireMany(pool, 1).all)
    expect(h.threads.map((t) => t.refs.size)).toEqual([5, 4])
    // ...but the function's share decides before busy does (utilisation lags a burst).
    await Promise.all(acquireMany(pool, 1).all)
    expect(h.threads.map((t) => t.refs.size)).toEqual([5, 5])
  })

  it('spreads a burst that follows sequential calls, though the thread of the first instance is busy', async () => {
    const h = harness()
    const pool = await h.deploy('f', { max: 8 })
    await Promise.all(acquireMany(pool, 1).all)
    // Its one instance kept thread 0 busy; the utilisation of thread 1 has not seen the burst yet.
    h.threads[0]!.utilization = 0.9
    h.threads[1]!.utilization = 0.1
    await Promise.all(acquireMany(pool, 7).all)
    expect(h.threads.map((t) => t.refs.size)).toEqual([4, 4])
  })

  it("joins a module with room when the budget has none for the function's module on another thread", async () => {
    // 128 MB modules of 4 instances, room for two modules in all.
    const h = harness({ memoryBudgetMb: 256 })
    const pool = await h.deploy('f', { max: 8, instancesPerModule: 4 })
    await Promise.all(acquireMany(pool, 2).all)
    expect(h.threads.map((t) => t.refs.size)).toEqual([1, 1])
    // Two modules spent: the next instances fill them instead of failing or evicting.
    await Promise.all(acquireMany(pool, 6).all)
    expect(h.threads.map((t) => t.refs.size)).toEqual([4, 4])
  })

  it('puts a new function on the thread with the fewest instances when the threads are about as busy', async () => {
    const h = harness()
    h.threads[0]!.utilization = 0.97
    h.threads[1]!.utilization = 1 // a hair busier: noise, it must not decide
    await h.deploy('ok')
    expect(h.threads.map((t) => t.refs.size)).toEqual([1, 0])
    // Thread 0 is now the (slightly) less busy one and has a blank engine ready, yet it holds
    // another function already.
    h.threads[0]!.blanks = 1
    await h.deploy('spin')
    expect(h.threads.map((t) => t.refs.size)).toEqual([1, 1])
    // A thread that is really busier is left alone, whatever it holds.
    h.threads[0]!.utilization = 0.1
    await h.deploy('third')
    expect(h.threads.map((t) => t.refs.size)).toEqual([2, 1])
  })

  it('releases instances idle past idleTimeoutMs, least recently used first, down to min', async () => {
    const h = harness()
    const pool = await h.deploy('f', { min: 1, max: 5, idleTimeoutMs: 5000, prewarm: false })
    const { all } = acquireMany(pool, 4)
    const refs = await Promise.all(all)
    for (const ref of refs) {
      pool.release(ref) // one second apart
      h.clock.advance(1000)
    }
    await flush()
    expect(pool.stats().idle).toBe(4)
    h.clock.advance(1000) // t=5000: the first released has idled 5 s
    await flush()
    expect(pool.size).toBe(3)
    expect(h.changes.at(-1)).toMatchObject({ pool, from: 4, to: 3, reason: 'idle' })
    const destroyed = h.threads.flatMap((t) => t.destroyed)
    expect(destroyed).toEqual([refs[0]!.id])
    await h.ticks(5) // all idle past 5 s now: down to min, keeping the warmest
    expect(pool.size).toBe(1)
    expect(pool.idle[0]!.ref).toBe(refs[3])
  })

  it('pre-warms ahead of a rising load, so it meets warm instances', async () => {
    const run = async (prewarm: boolean): Promise<number[]> => {
      const h = harness()
      const pool = await h.deploy('f', { max: 50, prewarm })
      const waited: number[] = []
      for (let step = 1; step <= 6; step++) {
        const before = demandCreations(h.changes, pool)
        const { all } = acquireMany(pool, step * 2)
        const refs = await Promise.all(all)
        waited.push(demandCreations(h.changes, pool) - before)
        await h.ticks(1) // the autoscaler sees this interval's peak
        for (const ref of refs) pool.release(ref)
      }
      return waited
    }
    const cold = await run(false)
    const warm = await run(true)
    // Without a forecast every step of the ramp waits for new instances.
    expect(cold.slice(1)).toEqual([2, 2, 2, 2, 2])
    // With it, from the fourth step on every call finds a warm instance.
    expect(warm.slice(3)).toEqual([0, 0, 0])
    expect(warm.reduce((a, b) => a + b)).toBeLessThan(cold.reduce((a, b) => a + b))
  })

  it('keeps instances warm for a steady load past idleTimeoutMs', async () => {
    const h = harness()
    const pool = await h.deploy('f', { max: 20, idleTimeoutMs: 2000 })
    for (let i = 0; i < 10; i++) {
      const { all } = acquireMany(pool, 4)
      const refs = await Promise.all(all)
      await h.ticks(1)
      for (const ref of refs) pool.release(ref)
    }
    expect(pool.stats().target).toBe(6) // ceil(4 / 0.7)
    expect(pool.size).toBeGreaterThanOrEqual(4)
    await h.ticks(10) // the traffic stops
    expect(pool.size).toBe(0)
    expect(pool.stats().target).toBe(0)
  })
})

describe('function pool: backpressure', () => {
  it('answers ERR_QUEUE_FULL past maxQueue, with Retry-After from the observed service time', async () => {
    const h = harness()
    const pool = await h.deploy('f', { max: 2, maxQueue: 3 })
    for (let i = 0; i < 10; i++) pool.serviceTime.observe(1500)
    const { all } = acquireMany(pool, 5) // 2 served, 3 queued
    await flush()
    const err = await pool.acquire().catch((e: unknown) => e)
    expect(isFnboxError(err, 'ERR_QUEUE_FULL')).toBe(true)
    const e = err as FnboxError
    expect(e.status).toBe(503)
    expect(e.details).toMatchObject({ limit: 3, value: 3 })
    // 3 ahead served 2 at a time: 2 waves of 1.5 s.
    expect(e.retryAfterSeconds).toBe(3)
    for (const ref of await Promise.all(all.slice(0, 2))) pool.release(ref)
  })

  it('answers ERR_QUEUE_FULL when acquireTimeoutMs passes, and never leaves a call hanging', async () => {
    const h = harness()
    const pool = await h.deploy('f', { max: 1, acquireTimeoutMs: 500 })
    const first = await pool.acquire()
    const waiting = pool.acquire().catch((e: unknown) => e)
    h.clock.advance(499)
    await flush()
    expect(pool.stats().queued).toBe(1)
    h.clock.advance(1)
    const err = await waiting
    expect(err).toMatchObject({ code: 'ERR_QUEUE_FULL', details: { limit: 500 } })
    expect((err as FnboxError).retryAfterSeconds).toBeGreaterThanOrEqual(1)
    expect(pool.stats().queued).toBe(0)
    pool.release(first)
    expect(pool.stats().idle).toBe(1) // the timed-out call took nothing with it
  })

  it('gives waiting calls the reason when their instance cannot be made', async () => {
    const h = harness({ threads: 1 })
    const pool = await h.deploy('f', { idleTimeoutMs: 1000, prewarm: false })
    await h.ticks(2)
    expect(pool.size).toBe(0)
    h.threads[0]!.fail = new FnboxError('ERR_EXECUTOR_LOST', 'thread gone')
    const results = await Promise.allSettled([pool.acquire(), pool.acquire()])
    expect(results.map((r) => r.status === 'rejected' && (r.reason as FnboxError).code)).toEqual([
      'ERR_EXECUTOR_LOST',
      'ERR_EXECUTOR_LOST',
    ])
    h.threads[0]!.fail = undefined
    pool.release(await pool.acquire()) // the next call tries again
  })
})

describe('global budget', () => {
  it('evicts the least recently used idle instances of other functions, retired versions first', async () => {
    const h = harness({ threads: 1, maxTotalInstances: 3 })
    const a = await h.deploy('a')
    h.clock.advance(10)
    const b = await h.deploy('b')
    h.clock.advance(10)
    const c = await h.deploy('c')
    h.clock.advance(10)
    a.release(await a.acquire()) // a is now the most recently used
    const d = await h.deploy('d')
    expect([a.evictions, b.evictions, c.evictions]).toEqual([0, 1, 0])
    expect(h.changes.find((x) => x.reason === 'evicted')).toMatchObject({ pool: b, from: 1, to: 0 })
    h.clock.advance(10)
    await h.deploy('e')
    expect([a.evictions, c.evictions, d.evictions]).toEqual([0, 1, 0])
    // A retired version goes before any live function, however recently it was used.
    void h.manager.retire(a)
    await flush()
    expect(a.state).toBe('retired')
    await h.deploy('f')
    expect(a.evictions).toBe(1)
    expect(a.state).toBe('released')
    expect(h.released).toContain(a)
    expect(h.manager.stats()).toMatchObject({ instances: 3, maxTotalInstances: 3 })
  })

  it('counts modules of fixed memory: evicting frees memory only when a module empties', async () => {
    const h = harness({ threads: 1, memoryBudgetMb: 256 })
    const a = await h.deploy('a', { instancesPerModule: 2 })
    const { all } = acquireMany(a, 3)
    const refs = await Promise.all(all)
    expect(h.manager.stats().memoryMb).toBe(256) // 3 instances, 2 per module: 2 modules
    for (const ref of refs) a.release(ref)
    await h.deploy('b')
    // One eviction (3 → 2 instances) empties a module; a second was not needed.
    expect(a.evictions).toBe(1)
    expect(a.size).toBe(2)
    expect(h.manager.stats().memoryMb).toBe(256)
  })

  it('fails a deploy with ERR_QUEUE_FULL when no room comes within acquireTimeoutMs', async () => {
    const h = harness({ threads: 1, maxTotalInstances: 1 })
    const a = await h.deploy('a')
    const busy = await a.acquire()
    const [, warm] = h.startDeploy('b', { acquireTimeoutMs: 300 })
    const failed = warm.catch((e: unknown) => e)
    h.clock.advance(300)
    expect(await failed).toMatchObject({ code: 'ERR_QUEUE_FULL' })
    a.release(busy)
  })

  it('times out a call waiting for room with ERR_QUEUE_FULL; its reservation then takes no room', async () => {
    const h = harness({ threads: 1, maxTotalInstances: 2 })
    const a = await h.deploy('a')
    const b = await h.deploy('b', { acquireTimeoutMs: 1000 })
    const [busyA, busyB] = [await a.acquire(), await b.acquire()]
    const waiting = b.acquire().catch((e: unknown) => e) // b needs a second instance: no room
    await flush()
    expect(h.manager.stats().waitingForRoom).toBe(1)
    h.clock.advance(1000)
    expect(await waiting).toMatchObject({ code: 'ERR_QUEUE_FULL', status: 503 })
    a.release(busyA) // room again: the stale reservation must not turn into an instance of b
    await flush()
    expect(h.manager.stats()).toMatchObject({ waitingForRoom: 0, instances: 2 })
    expect([a.size, b.size]).toEqual([1, 1])
    b.release(busyB)
  })

  it('pre-warms only into free room: never by evicting a live function', async () => {
    const h = harness({ threads: 1, maxTotalInstances: 4 })
    const a = await h.deploy('a', { max: 10 })
    const b = await h.deploy('b')
    const c = await h.deploy('c')
    const { all } = acquireMany(a, 2) // a: 2 instances, the budget is full
    const refs = await Promise.all(all)
    await h.ticks(3) // a's forecast wants ceil(2 / 0.7) = 3 instances
    expect(a.stats().target).toBe(3)
    expect(a.size).toBe(2)
    expect([b.size, c.size, b.evictions, c.evictions]).toEqual([1, 1, 0, 0])
    for (const ref of refs) a.release(ref)
  })

  it('lets a cold function in while a hot one holds the whole budget, and keeps shares fair', async () => {
    const h = harness({ threads: 1, maxTotalInstances: 4 })
    const hot = await h.deploy('hot', { max: 8 })
    const hotCalls = acquireMany(hot, 12)
    await flush()
    expect(hot.stats()).toMatchObject({ instances: 4, queued: 8 })
    const [cold, warm] = h.startDeploy('cold')
    let coldReady = false
    void warm.then(() => (coldReady = true))
    await flush()
    expect(coldReady).toBe(false) // no room: every instance is busy
    // The hot function gives up the first instance it releases, though its own calls wait.
    hot.release(hotCalls.got[0]!)
    await flush()
    expect(coldReady).toBe(true)
    expect(h.changes.filter((c) => c.reason === 'yield')).toHaveLength(1)
    // The cold function's second concurrent call also gets in after one hot release.
    const coldCalls = acquireMany(cold, 2)
    await flush()
    expect(coldCalls.got).toHaveLength(1)
    hot.release(hotCalls.got[1]!)
    await flush()
    expect(coldCalls.got).toHaveLength(2)
    expect([hot.size, cold.size]).toEqual([2, 2]) // fair shares of 4
    // Once at its share, the hot function reuses what it releases, and cannot evict the cold
    // function's idle instances.
    for (const ref of coldCalls.got) cold.release(ref)
    for (let i = 2; i < 12; i++) {
      await flush()
      const ref = hotCalls.got[i]
      expect(ref).toBeDefined()
      hot.release(ref!)
    }
    await Promise.all(hotCalls.all) // none lost
    expect(cold.size).toBe(2)
    expect(cold.evictions).toBe(0)
  })
})

describe('versions and closing', () => {
  it('drains a retired pool: its queued and running calls finish on it, then it keeps one instance', async () => {
    const h = harness()
    const pool = await h.deploy('f', { max: 1 })
    const running = await pool.acquire()
    const queued = pool.acquire()
    let drained = false
    void h.manager.retire(pool).then(() => (drained = true))
    await flush()
    expect([pool.state, drained]).toEqual(['draining', false])
    pool.release(running)
    const next = await queued // served by the retiring version
    pool.release(next)
    await flush()
    expect([pool.state, drained, pool.size]).toEqual(['retired', true, 1])
    expect(h.manager.stats().retiredVersions).toBe(1)
    // A redeploy of the same version takes it back as it is.
    expect(h.manager.revive(pool)).toBe(true)
    expect(pool.state).toBe('live')
    expect(h.manager.stats().retiredVersions).toBe(0)
    pool.release(await pool.acquire())
    expect(pool.coldStarts).toBe(1)
  })

  it('keeps at most retainedVersions retired versions, releasing the oldest', async () => {
    const h = harness({ retainedVersions: 1 })
    const a = await h.deploy('a')
    const b = await h.deploy('b')
    await h.manager.retire(a)
    await h.manager.retire(b)
    expect(a.state).toBe('released')
    expect(h.threads.flatMap((t) => t.unloaded)).toContain('a@v1')
    expect(b.state).toBe('retired')
  })

  it('close serves queued calls within its deadline, then fails what is left with ERR_CLOSED', async () => {
    const h = harness()
    const pool = await h.deploy('f', { max: 1 })
    const running = await pool.acquire()
    const queued = acquireMany(pool, 2)
    const closing = h.manager.close(5000)
    pool.release(running)
    await flush()
    pool.release(queued.got[0]!)
    await flush()
    pool.release(queued.got[1]!)
    await closing
    expect(queued.got).toHaveLength(2)
    expect(pool.state).toBe('released')

    const h2 = harness()
    const stuck = await h2.deploy('g', { max: 1 })
    await stuck.acquire() // never released
    const left = stuck.acquire().catch((e: unknown) => e)
    await h2.manager.close(20)
    expect(await left).toMatchObject({ code: 'ERR_CLOSED' })
    await expect(stuck.acquire()).rejects.toMatchObject({ code: 'ERR_CLOSED' })
  })
})
