/**
 * The contract of a `JobStore`, as one suite any store runs: `runJobStoreConformance(name, open)`.
 * `open` gives a fresh, empty store whose "now" is the harness' manual clock, so leases, backoff
 * and `runAt` are tested without sleeping. It needs nothing of fnbox but the store's interface.
 *
 * @module
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import {
  DEFAULT_JOB_RETENTION,
  DEFAULT_JOB_RETRY,
  LEASE_EXPIRED_ERROR,
  retryDelayBounds,
  type ClaimRequest,
  type ClaimedJob,
  type JobEnqueuer,
  type JobRequest,
  type JobStore,
} from '../../host/jobs/jobs.js'
import { toJobRequest } from '../../host/jobs/validate.js'

/** A clock the suite moves by hand (fnbox/testing's manual clock is one). @public */
export interface JobStoreClock {
  now(): number
  /** Moves time forward by `ms`. */
  advance(ms: number): void
}

/** What `open` gives {@link runJobStoreConformance}. @public */
export interface JobStoreHarness {
  store: JobStore
  /** The store's clock (retry policy and retention: the defaults). */
  clock: JobStoreClock
  /** Opens a transaction whose enqueues commit with it, if the store supports them. */
  transaction?(): Promise<{ jobs: JobEnqueuer; commit(): Promise<void>; rollback(): Promise<void> }>
  close(): Promise<void>
}

const LEASE = 30_000
const UUID_V7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/

const request = (task: string, payload: unknown = {}, options?: unknown, context = {}): JobRequest =>
  toJobRequest(task, payload, options, context)

/**
 * Runs the JobStore contract against fresh stores `open` gives (one per test).
 *
 * @public
 */
export function runJobStoreConformance(name: string, open: () => Promise<JobStoreHarness>): void {
  describe(`JobStore conformance: ${name}`, () => {
    let h: JobStoreHarness
    let store: JobStore
    let clock: JobStoreClock
    beforeEach(async () => {
      h = await open()
      store = h.store
      clock = h.clock
    })
    afterEach(() => h.close())

    const claim = (over: Partial<ClaimRequest> = {}): Promise<ClaimedJob[]> =>
      store.claim({ workerId: 'w1', tasks: ['t'], versions: [], limit: 10, leaseMs: LEASE, ...over })
    const claimOne = async (over: Partial<ClaimRequest> = {}): Promise<ClaimedJob> => {
      const jobs = await claim({ limit: 1, ...over })
      expect(jobs).toHaveLength(1)
      return jobs[0]!
    }

    it('enqueues a job that get shows as queued, with every field', async () => {
      const now = clock.now()
      const { id, deduplicated } = await store.enqueue(request('t', { a: 1 }, { maxAttempts: 3, priority: 2 }))
      expect(id).toMatch(UUID_V7)
      expect(deduplicated).toBe(false)
      expect(await store.get(id)).toEqual({
        id,
        task: 't',
        state: 'queued',
        attempts: 0,
        maxAttempts: 3,
        priority: 2,
        key: null,
        runAt: new Date(now).toISOString(),
        lastError: null,
        createdAt: new Date(now).toISOString(),
        finishedAt: null,
      })
      expect(await store.get('0190a000-0000-7000-8000-000000000000')).toBeUndefined()
    })

    it('counts jobs by state, when it offers counts', async () => {
      if (!store.counts) return // optional: a store without it has no fnbox_jobs gauge
      await store.enqueue(request('t', { n: 1 }))
      await store.enqueue(request('t', { n: 2 }))
      const done = await claimOne()
      expect(await store.complete(done)).toBe(true)
      expect(await store.counts()).toEqual({ queued: 1, completed: 1 })
    })

    it('claims a job once, with its payload, attempt and token, and completes it', async () => {
      const payload = { text: 'héllo 🌍', list: [1, 2.5, null, true], nested: { deep: { x: 'y' } } }
      const { id } = await store.enqueue(request('t', payload, { timeoutMs: 5000 }))
      const job = await claimOne()
      expect(job).toMatchObject({ id, task: 't', payload, attempt: 1, maxAttempts: 5, timeoutMs: 5000, version: null })
      expect(job.token).toBeGreaterThan(0)
      expect(await claim()).toEqual([])
      expect(await store.get(id)).toMatchObject({ state: 'running', attempts: 1 })
      clock.advance(10)
      expect(await store.complete(job)).toBe(true)
      expect(await store.get(id)).toMatchObject({ state: 'completed', finishedAt: new Date(clock.now()).toISOString() })
      // Every lease operation on a finished job changes nothing.
      expect(await store.complete(job)).toBe(false)
      expect(await store.heartbeat(job, LEASE)).toBe(false)
      expect(await store.fail(job, { message: 'late' })).toBeUndefined()
      expect(await store.release(job)).toBe(false)
      expect(await store.get(id)).toMatchObject({ state: 'completed', lastError: null })
    })

    it('claims only the tasks asked for, at most limit jobs', async () => {
      for (let i = 0; i < 5; i++) await store.enqueue(request('t'))
      await store.enqueue(request('other'))
      const first = await claim({ limit: 3 })
      expect(first).toHaveLength(3)
      const rest = await claim({ limit: 10 })
      expect(rest.map((j) => j.task)).toEqual(['t', 't'])
      expect(await claim({ tasks: ['nothing'] })).toEqual([])
      expect((await claim({ tasks: ['other', 't'] })).map((j) => j.task)).toEqual(['other'])
    })

    it('concurrent claims never hand out one job twice', async () => {
      for (let i = 0; i < 30; i++) await store.enqueue(request('t', { i }))
      const batches = await Promise.all(Array.from({ length: 8 }, (_, w) => claim({ workerId: `w${w}`, limit: 5 })))
      const ids = batches.flat().map((j) => j.id)
      expect(ids).toHaveLength(30)
      expect(new Set(ids).size).toBe(30)
    })

    it('runs higher priorities first, then the earliest runAt, then the oldest', async () => {
      const start = clock.now()
      const low = await store.enqueue(request('t', 'low', { priority: -5 }))
      const a = await store.enqueue(request('t', 'a'))
      clock.advance(1)
      const b = await store.enqueue(request('t', 'b'))
      const high = await store.enqueue(request('t', 'high', { priority: 10 }))
      const early = await store.enqueue(request('t', 'early', { runAt: start - 1000 }))
      const order = []
      for (let i = 0; i < 5; i++) order.push((await claimOne()).id)
      expect(order).toEqual([high.id, early.id, a.id, b.id, low.id])
    })

    it('holds a job until its runAt or delayMs has passed', async () => {
      const at = await store.enqueue(request('t', 'at', { runAt: clock.now() + 5000 }))
      const delayed = await store.enqueue(request('t', 'delayed', { delayMs: 8000 }))
      expect(await store.get(delayed.id)).toMatchObject({ runAt: new Date(clock.now() + 8000).toISOString() })
      clock.advance(4999)
      expect(await claim()).toEqual([])
      clock.advance(1)
      expect((await claim()).map((j) => j.id)).toEqual([at.id])
      clock.advance(3000)
      expect((await claim()).map((j) => j.id)).toEqual([delayed.id])
    })

    it('retries a failed attempt after a backoff within the policy bounds, then dead-letters it', async () => {
      const { id } = await store.enqueue(request('t', {}, { maxAttempts: 4 }))
      for (let attempt = 1; attempt <= 3; attempt++) {
        const job = await claimOne()
        expect(job.attempt).toBe(attempt)
        const failedAt = clock.now()
        expect(await store.fail(job, { message: `boom ${attempt}` })).toBe('failed')
        const state = (await store.get(id))!
        expect(state).toMatchObject({ state: 'failed', attempts: attempt, lastError: `boom ${attempt}` })
        const wait = Date.parse(state.runAt) - failedAt
        const [min, max] = retryDelayBounds(DEFAULT_JOB_RETRY, attempt - 1)
        expect(wait).toBeGreaterThanOrEqual(min)
        expect(wait).toBeLessThanOrEqual(max)
        clock.advance(wait - 1)
        expect(await claim()).toEqual([])
        clock.advance(1)
      }
      const last = await claimOne()
      expect(last.attempt).toBe(4)
      expect(await store.fail(last, { message: 'final' })).toBe('dead')
      expect(await store.get(id)).toMatchObject({
        state: 'dead',
        attempts: 4,
        lastError: 'final',
        finishedAt: new Date(clock.now()).toISOString(),
      })
      clock.advance(DEFAULT_JOB_RETRY.maxDelayMs * 2)
      expect(await claim()).toEqual([])
    })

    it('a failure with retry false is dead at once; lastError is made storable and cut', async () => {
      const { id } = await store.enqueue(request('t'))
      const job = await claimOne()
      const message = 'bad\0input ' + '\ud800' + 'é'.repeat(5000)
      expect(await store.fail(job, { message, retry: false })).toBe('dead')
      const dead = (await store.get(id))!
      expect(dead.state).toBe('dead')
      expect(dead.lastError!.startsWith('bad\uFFFDinput \uFFFDé')).toBe(true)
      expect(Buffer.byteLength(dead.lastError!)).toBeLessThanOrEqual(4096)
    })

    it('fences: a lease that ran out changes nothing, even before recovery', async () => {
      const { id } = await store.enqueue(request('t'))
      const stale = await claimOne()
      clock.advance(LEASE + 1)
      expect(await store.heartbeat(stale, LEASE)).toBe(false)
      expect(await store.complete(stale)).toBe(false)
      expect(await store.fail(stale, { message: 'x' })).toBeUndefined()
      expect(await store.release(stale)).toBe(false)
      expect(await store.recover()).toBe(1)
      expect(await store.get(id)).toMatchObject({ state: 'failed', attempts: 1, lastError: LEASE_EXPIRED_ERROR })
      clock.advance(DEFAULT_JOB_RETRY.maxDelayMs)
      const fresh = await claimOne({ workerId: 'w2' })
      expect(fresh.attempt).toBe(2)
      expect(fresh.token).not.toBe(stale.token)
      // The stale worker wakes up and tries to finish: nothing changes.
      expect(await store.complete(stale)).toBe(false)
      expect(await store.fail(stale, { message: 'stale' })).toBeUndefined()
      expect(await store.complete(fresh)).toBe(true)
      expect(await store.get(id)).toMatchObject({ state: 'completed', attempts: 2, lastError: LEASE_EXPIRED_ERROR })
    })

    it('a heartbeat extends the lease from now', async () => {
      await store.enqueue(request('t'))
      const job = await claimOne()
      clock.advance(LEASE - 1)
      expect(await store.heartbeat(job, LEASE)).toBe(true)
      clock.advance(LEASE - 1)
      expect(await store.recover()).toBe(0)
      expect(await store.complete(job)).toBe(true)
    })

    it('recovers expired leases as failed attempts, dead once none are left', async () => {
      const a = await store.enqueue(request('t', 'a', { maxAttempts: 1 }))
      const b = await store.enqueue(request('t', 'b', { maxAttempts: 2 }))
      await claim({ leaseMs: 1000 })
      clock.advance(999)
      expect(await store.recover()).toBe(0)
      clock.advance(2)
      expect(await store.recover()).toBe(2)
      expect(await store.get(a.id)).toMatchObject({ state: 'dead', lastError: LEASE_EXPIRED_ERROR })
      const retried = (await store.get(b.id))!
      expect(retried.state).toBe('failed')
      const [min, max] = retryDelayBounds(DEFAULT_JOB_RETRY, 0)
      expect(Date.parse(retried.runAt) - clock.now()).toBeGreaterThanOrEqual(min)
      expect(Date.parse(retried.runAt) - clock.now()).toBeLessThanOrEqual(max)
    })

    it('release hands a job back due now without counting the attempt', async () => {
      const { id } = await store.enqueue(request('t', {}, { runAt: clock.now() - 5000 }))
      const job = await claimOne()
      expect(await store.release(job)).toBe(true)
      expect(await store.get(id)).toMatchObject({
        state: 'queued',
        attempts: 0,
        runAt: new Date(clock.now()).toISOString(),
      })
      const again = await claimOne({ workerId: 'w2' })
      expect(again.attempt).toBe(1)
      expect(await store.complete(job)).toBe(false)
      expect(await store.complete(again)).toBe(true)
    })

    it('dedupes by key while the job is queued, and only then', async () => {
      const first = await store.enqueue(request('t', { v: 1 }, { key: 'k' }))
      const second = await store.enqueue(request('t', { v: 2 }, { key: 'k', priority: 9 }))
      expect(second).toEqual({ id: first.id, deduplicated: true })
      expect(await store.get(first.id)).toMatchObject({ priority: 0, key: 'k' })
      const other = await store.enqueue(request('t', {}, { key: 'other' }))
      expect(other.deduplicated).toBe(false)
      const running = await claimOne()
      expect(running).toMatchObject({ id: first.id, payload: { v: 1 } })
      // Running: the new enqueue is a job of its own (the running one may have read stale data).
      const third = await store.enqueue(request('t', { v: 3 }, { key: 'k' }))
      expect(third.deduplicated).toBe(false)
      expect(third.id).not.toBe(first.id)
      expect(await store.enqueue(request('t', { v: 4 }, { key: 'k' }))).toEqual({ id: third.id, deduplicated: true })
      // A handed-back job whose key was taken meanwhile runs too, without its key.
      expect(await store.release(running)).toBe(true)
      expect(await store.get(first.id)).toMatchObject({ state: 'queued', key: null })
      expect(await store.enqueue(request('t', {}, { key: 'k' }))).toEqual({ id: third.id, deduplicated: true })
      // Finished: a new job again.
      const done = await claim({ limit: 10 })
      for (const job of done) expect(await store.complete(job)).toBe(true)
      expect((await store.enqueue(request('t', {}, { key: 'k' }))).deduplicated).toBe(false)
    })

    it('cancels waiting and running jobs, not finished ones', async () => {
      const queued = await store.enqueue(request('t', 'q'))
      expect(await store.cancel(queued.id)).toBe(true)
      expect(await store.get(queued.id)).toMatchObject({
        state: 'cancelled',
        finishedAt: new Date(clock.now()).toISOString(),
      })
      expect(await store.cancel(queued.id)).toBe(false)
      expect(await claim()).toEqual([])

      const run = await store.enqueue(request('t', 'r'))
      const job = await claimOne()
      expect(await store.cancel(run.id)).toBe(true)
      expect(await store.heartbeat(job, LEASE)).toBe(false)
      expect(await store.complete(job)).toBe(false)
      expect(await store.get(run.id)).toMatchObject({ state: 'cancelled' })

      const done = await store.enqueue(request('t', 'd'))
      expect(await store.complete(await claimOne())).toBe(true)
      expect(await store.cancel(done.id)).toBe(false)
      expect(await store.get(done.id)).toMatchObject({ state: 'completed' })
      expect(await store.cancel('0190a000-0000-7000-8000-000000000000')).toBe(false)
    })

    it('lists jobs in creation order, by state and task, page by page', async () => {
      const ids: string[] = []
      for (let i = 0; i < 7; i++) {
        ids.push((await store.enqueue(request(i % 2 ? 'a' : 'b', { i }))).id)
        clock.advance(1)
      }
      const pages: string[][] = []
      let cursor: string | undefined
      do {
        const page = await store.list({ limit: 3, ...(cursor ? { cursor } : {}) })
        pages.push(page.jobs.map((j) => j.id))
        cursor = page.cursor
      } while (cursor)
      expect(pages).toEqual([ids.slice(0, 3), ids.slice(3, 6), ids.slice(6)])
      expect((await store.list({ task: 'a' })).jobs.map((j) => j.id)).toEqual([ids[1], ids[3], ids[5]])
      const job = await claimOne({ tasks: ['b'] })
      expect((await store.list({ state: 'running' })).jobs.map((j) => j.id)).toEqual([job.id])
      expect((await store.list({ state: 'queued', task: 'b' })).jobs).toHaveLength(3)
      expect(await store.list({ state: 'dead' })).toEqual({ jobs: [] })
    })

    it('sweep deletes finished jobs past their retention, and nothing else', async () => {
      const done = await store.enqueue(request('t', 'done'))
      const dead = await store.enqueue(request('t', 'dead'))
      const cancelled = await store.enqueue(request('t', 'cancelled'))
      const waiting = await store.enqueue(request('t', 'waiting', { delayMs: DEFAULT_JOB_RETENTION.deadMs * 2 }))
      const [a, b] = await claim({ limit: 2 })
      expect(await store.complete(a!.id === done.id ? a! : b!)).toBe(true)
      expect(await store.fail(a!.id === dead.id ? a! : b!, { message: 'x', retry: false })).toBe('dead')
      expect(await store.cancel(cancelled.id)).toBe(true)
      clock.advance(DEFAULT_JOB_RETENTION.completedMs)
      expect(await store.sweep()).toBe(0)
      clock.advance(1)
      expect(await store.sweep()).toBe(2)
      expect(await store.get(done.id)).toBeUndefined()
      expect(await store.get(cancelled.id)).toBeUndefined()
      expect(await store.get(dead.id)).toMatchObject({ state: 'dead' })
      clock.advance(DEFAULT_JOB_RETENTION.deadMs)
      expect(await store.sweep()).toBe(1)
      expect(await store.get(waiting.id)).toMatchObject({ state: 'queued' })
    })

    it('version affinity: a job runs on its version while a worker runs it, then on any', async () => {
      const pinned = await store.enqueue(request('t', 'v1', {}, { version: 'v1' }))
      const doomed = await store.enqueue(request('t', 'v1-dead', {}, { version: 'v1', onVersionGone: 'dead' }))
      const free = await store.enqueue(request('t', 'free'))
      await store.register({ id: 'old', tasks: ['t'], versions: ['v1'] }, 10_000)
      await store.register({ id: 'new', tasks: ['t'], versions: ['v2'] }, 60_000)
      expect((await claim({ workerId: 'new', versions: ['v2'] })).map((j) => j.id)).toEqual([free.id])
      clock.advance(10_001) // the old host's registration ran out: v1 is gone
      const late = await claim({ workerId: 'new', versions: ['v2'] })
      expect(late.map((j) => [j.id, j.version, j.onVersionGone])).toEqual([
        [pinned.id, 'v1', 'latest'],
        [doomed.id, 'v1', 'dead'],
      ])
    })

    it('version affinity: a registered version keeps its jobs; unregister lets them go', async () => {
      const { id } = await store.enqueue(request('t', {}, {}, { version: 'v1' }))
      await store.register({ id: 'old', tasks: ['t'], versions: ['v1'] }, 60_000)
      expect(await claim({ workerId: 'new', versions: ['v2'] })).toEqual([])
      await store.unregister('old')
      expect((await claim({ workerId: 'new', versions: ['v2'] })).map((j) => j.id)).toEqual([id])
    })

    it('cron: fires each slot once, never an earlier one, with or without a job', async () => {
      expect(await store.lastCronSlot('c')).toBeUndefined()
      const slot = Date.UTC(2030, 0, 1, 0, 0, 5)
      const first = await store.fireCronSlot('c', slot, request('t', { scheduledTime: new Date(slot).toISOString() }))
      expect(first.fired).toBe(true)
      expect(await store.get(first.jobId!)).toMatchObject({ task: 't', state: 'queued' })
      expect(await store.fireCronSlot('c', slot, request('t'))).toEqual({ fired: false })
      expect(await store.fireCronSlot('c', slot - 1000, request('t'))).toEqual({ fired: false })
      expect(await store.lastCronSlot('c')).toBe(slot)
      expect(await store.fireCronSlot('c', slot + 1000, undefined)).toEqual({ fired: true })
      expect(await store.lastCronSlot('c')).toBe(slot + 1000)
      expect(await store.lastCronSlot('other')).toBeUndefined()
      expect((await store.list()).jobs).toHaveLength(1)
      // Concurrent firings of one slot (several hosts): exactly one wins.
      const racers = await Promise.all(
        Array.from({ length: 6 }, () => store.fireCronSlot('c', slot + 2000, request('t'))),
      )
      expect(racers.filter((r) => r.fired)).toHaveLength(1)
      expect((await store.list()).jobs).toHaveLength(2)
    })

    it('complete enqueues its follow-up jobs with the completion, and not without it', async () => {
      await store.enqueue(request('t'))
      const job = await claimOne()
      expect(await store.complete(job, { enqueue: [request('next', 1), request('next', 2)] })).toBe(true)
      expect((await claim({ tasks: ['next'] })).map((j) => j.payload).sort()).toEqual([1, 2])
      await store.enqueue(request('t'))
      const lost = await claimOne()
      clock.advance(LEASE + 1)
      expect(await store.complete(lost, { enqueue: [request('never')] })).toBe(false)
      expect((await store.list({ task: 'never' })).jobs).toEqual([])
    })

    it('wakes subscribers when a job is enqueued', async () => {
      if (!store.subscribe) return
      let wakes = 0
      const stop = store.subscribe(() => wakes++)
      // The first wake says "listening": jobs enqueued before may have been missed.
      await expect.poll(() => wakes, { timeout: 5000 }).toBeGreaterThan(0)
      wakes = 0
      await store.enqueue(request('t'))
      await expect.poll(() => wakes, { timeout: 5000 }).toBeGreaterThan(0)
      stop()
      wakes = 0
      await store.enqueue(request('t'))
      await new Promise((resolve) => setTimeout(resolve, 50))
      expect(wakes).toBe(0)
    })

    it('an enqueue in a transaction commits with it, or not at all', async () => {
      if (!h.transaction) return
      const rolled = await h.transaction()
      const gone = await rolled.jobs.enqueue(request('t', 'rolled back', { key: 'tx' }))
      await rolled.rollback()
      expect(await store.get(gone.id)).toBeUndefined()
      const kept = await h.transaction()
      const a = await kept.jobs.enqueue(request('t', 'committed', { key: 'tx' }))
      expect(await kept.jobs.enqueue(request('t', 'again', { key: 'tx' }))).toEqual({ id: a.id, deduplicated: true })
      await kept.commit()
      expect(await store.get(a.id)).toMatchObject({ state: 'queued', key: 'tx' })
      expect((await claim()).map((j) => j.payload)).toEqual(['committed'])
    })
  })
}
