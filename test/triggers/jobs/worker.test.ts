// The worker loop over the memory store, with a manual clock: polls, heartbeats, time limits and
// the close deadline move only when the test moves time.
import { afterEach, describe, expect, it } from 'vitest'
import { DEFAULT_JOB_RETRY, type ClaimedJob, type JobStore } from '../../../src/host/jobs/jobs.js'
import { MemoryJobStore } from '../../../src/host/jobs/memory-jobs.js'
import { toJobRequest } from '../../../src/host/jobs/validate.js'
import { JobWorker, type JobHandler, type JobRunEnd, type JobWorkerOptions } from '../../../src/triggers/jobs/worker.js'
import { ManualClock } from '../../helpers/manual-clock.js'

/** Lets every promise and immediate queued so far run. */
const settle = async (): Promise<void> => {
  for (let i = 0; i < 5; i++) await new Promise((resolve) => setImmediate(resolve))
}

interface Deferred {
  promise: Promise<void>
  resolve(): void
  reject(err: unknown): void
}
const deferred = (): Deferred => {
  let resolve!: () => void
  let reject!: (err: unknown) => void
  const promise = new Promise<void>((res, rej) => {
    resolve = res
    reject = rej
  })
  return { promise, resolve, reject }
}

/** `memory` as a user's adapter would wrap it: every method forwarded, some replaced. */
function adapter(memory: MemoryJobStore, overrides: Partial<Record<keyof JobStore, unknown>>): JobStore {
  const methods = [
    'enqueue',
    'get',
    'cancel',
    'list',
    'claim',
    'heartbeat',
    'complete',
    'fail',
    'release',
    'recover',
    'sweep',
    'register',
    'unregister',
    'lastCronSlot',
    'fireCronSlot',
    'subscribe',
  ] as const
  const out: Record<string, unknown> = {}
  for (const name of methods) {
    out[name] = name in overrides ? overrides[name] : (memory[name] as (...args: unknown[]) => unknown).bind(memory)
  }
  return out as unknown as JobStore
}

let workers: JobWorker[] = []
afterEach(async () => {
  await Promise.all(workers.map((w) => w.close({ timeoutMs: 0 })))
  workers = []
})

function setup(over: Partial<JobWorkerOptions> & { store?: JobStore } = {}) {
  const clock = new ManualClock(Date.UTC(2030, 0, 1))
  const memory = new MemoryJobStore({ clock })
  const store = over.store ?? memory
  const ends: [string, JobRunEnd][] = []
  const starts: string[] = []
  const errors: [unknown, string][] = []
  const handler: JobHandler = over.handler ?? (() => Promise.resolve())
  const worker = new JobWorker({
    store,
    tasks: ['t'],
    clock,
    pollIntervalMs: 1000,
    leaseMs: 3000,
    ...over,
    handler,
    events: {
      onJobStart: (job) => starts.push(job.id),
      onJobEnd: (job, end) => ends.push([job.id, end]),
      onError: (err, during) => errors.push([err, during]),
    },
  })
  workers.push(worker)
  const enqueue = async (payload: unknown = {}, options?: unknown, context = {}) =>
    (await store.enqueue(toJobRequest('t', payload, options, context))).id
  return { clock, store, memory, worker, ends, starts, errors, enqueue }
}

describe('JobWorker', () => {
  it('runs a job as soon as it is enqueued (a wake-up, no poll), and completes it', async () => {
    const seen: ClaimedJob[] = []
    const { store, worker, enqueue, ends } = setup({ handler: async (job) => void seen.push(job) })
    await worker.start()
    const id = await enqueue({ hello: 'world' })
    await expect.poll(() => ends).toEqual([[id, { kind: 'completed' }]])
    expect(seen[0]).toMatchObject({ id, payload: { hello: 'world' }, attempt: 1 })
    expect(await store.get(id)).toMatchObject({ state: 'completed' })
  })

  it('runs at most concurrency jobs at once, and takes the next as one finishes', async () => {
    const gates = new Map<number, Deferred>()
    let running = 0
    let most = 0
    const { worker, enqueue, ends } = setup({
      concurrency: 3,
      handler: async (job) => {
        running++
        most = Math.max(most, running)
        const gate = deferred()
        gates.set((job.payload as { i: number }).i, gate)
        await gate.promise
        running--
      },
    })
    for (let i = 0; i < 8; i++) await enqueue({ i })
    await worker.start()
    await expect.poll(() => gates.size).toBe(3)
    await settle()
    expect(worker.running).toBe(3)
    gates.get(0)!.resolve()
    await expect.poll(() => gates.size).toBe(4)
    for (let i = 1; i < 8; i++) {
      await expect.poll(() => gates.has(i)).toBe(true)
      gates.get(i)!.resolve()
    }
    await expect.poll(() => ends.length).toBe(8)
    expect(most).toBe(3)
  })

  it('records a thrown error as a failed attempt, and one marked retryable: false as dead', async () => {
    const { store, worker, enqueue, ends, clock } = setup({
      handler: async (job) => {
        if (job.payload === 'permanent') throw Object.assign(new Error('bad input'), { retryable: false })
        throw Object.assign(new Error('flaky upstream'), { code: 'ERR_FETCH_FAILED' })
      },
    })
    await worker.start()
    const flaky = await enqueue('flaky', { maxAttempts: 2 })
    const permanent = await enqueue('permanent')
    await expect.poll(() => ends.length).toBe(2)
    expect(await store.get(flaky)).toMatchObject({ state: 'failed', lastError: 'ERR_FETCH_FAILED: flaky upstream' })
    expect(await store.get(permanent)).toMatchObject({ state: 'dead', attempts: 1, lastError: 'bad input' })
    // The retry comes after its backoff, found by a poll; the second failure is the last.
    clock.advance(DEFAULT_JOB_RETRY.minDelayMs * 2)
    await expect.poll(() => ends.length).toBe(3)
    expect(ends[2]).toEqual([flaky, { kind: 'dead', error: 'ERR_FETCH_FAILED: flaky upstream' }])
  })

  it('aborts a job at its time limit and fails it; a handler ignoring the abort frees its slot after the grace', async () => {
    let signal: AbortSignal | undefined
    const { store, worker, enqueue, ends, clock } = setup({
      concurrency: 1,
      abortGraceMs: 2000,
      handler: (job, s) => {
        signal = s
        return job.payload === 'hang' ? new Promise(() => {}) : Promise.resolve()
      },
    })
    await worker.start()
    const id = await enqueue('hang', { timeoutMs: 1500 })
    const next = await enqueue('next')
    await expect.poll(() => signal).toBeDefined()
    clock.advance(1499)
    await settle()
    expect(signal!.aborted).toBe(false)
    clock.advance(1)
    expect(signal!.aborted).toBe(true)
    expect(signal!.reason).toMatchObject({ code: 'ERR_TIMEOUT' })
    await expect.poll(() => ends.length).toBe(1)
    expect(await store.get(id)).toMatchObject({
      state: 'failed',
      lastError: 'ERR_TIMEOUT: the job ran past its time limit (1500 ms)',
    })
    // The hung handler still holds the only slot until the grace ends.
    await settle()
    expect(await store.get(next)).toMatchObject({ state: 'queued' })
    clock.advance(2000)
    await expect.poll(async () => (await store.get(next))?.state).toBe('completed')
  })

  it('with backstopMs, aborts a job only that long after its limit, so the handler reports its own timeout first', async () => {
    let signal: AbortSignal | undefined
    const { store, worker, enqueue, ends, clock } = setup({
      concurrency: 1,
      backstopMs: 5000,
      handler: (_job, s) => {
        signal = s
        return new Promise(() => {})
      },
    })
    await worker.start()
    const id = await enqueue('hang', { timeoutMs: 1500 })
    await expect.poll(() => signal).toBeDefined()
    clock.advance(1500 + 4999)
    await settle()
    expect(signal!.aborted).toBe(false)
    clock.advance(1)
    expect(signal!.aborted).toBe(true)
    await expect.poll(() => ends.length).toBe(1)
    expect(await store.get(id)).toMatchObject({ lastError: 'ERR_TIMEOUT: the job ran past its time limit (1500 ms)' })
  })

  it('heartbeats keep a long job leased past its lease length; a cancel aborts it at the next beat', async () => {
    let signal: AbortSignal | undefined
    const done = deferred()
    let first = true
    const { store, worker, enqueue, ends, clock } = setup({
      handler: (_job, s) => {
        signal = s
        const wait = first ? done.promise : new Promise<void>(() => {})
        first = false
        return wait
      },
    })
    await worker.start()
    const long = await enqueue()
    await expect.poll(() => signal).toBeDefined()
    for (let t = 0; t < 10; t++) {
      clock.advance(1000) // beats every leaseMs / 3 = 1000; polls recover expired leases
      await settle()
    }
    expect(await store.get(long)).toMatchObject({ state: 'running', attempts: 1 })
    done.resolve()
    await expect.poll(() => ends).toEqual([[long, { kind: 'completed' }]])

    signal = undefined
    const cancelled = await enqueue()
    await expect.poll(() => signal).toBeDefined()
    expect(await store.cancel(cancelled)).toBe(true)
    clock.advance(1000)
    await expect.poll(() => signal!.aborted).toBe(true)
    expect(ends[1]).toEqual([cancelled, { kind: 'lost' }])
    expect(await store.get(cancelled)).toMatchObject({ state: 'cancelled' })
  })

  it("finds jobs by polling when the store has no wake-ups, and recovers a dead worker's job", async () => {
    const clock = new ManualClock(Date.UTC(2030, 0, 1))
    const memory = new MemoryJobStore({ clock })
    // The store as an adapter without subscribe.
    const store = adapter(memory, { subscribe: undefined })
    const { worker, ends } = setup({ store, clock })
    await worker.start()
    const { id } = await memory.enqueue(toJobRequest('t', 'polled'))
    await settle()
    expect(ends).toEqual([])
    clock.advance(1000)
    await expect.poll(() => ends).toEqual([[id, { kind: 'completed' }]])

    // Another host claimed a job and died: its lease runs out, a poll recovers it, we rerun it.
    const { id: orphan } = await memory.enqueue(toJobRequest('t', 'orphan'))
    const [claimed] = await memory.claim({ workerId: 'dead', tasks: ['t'], versions: [], limit: 1, leaseMs: 2000 })
    expect(claimed!.id).toBe(orphan)
    clock.advance(2000)
    await settle()
    clock.advance(1000) // recovered: failed, due after its backoff
    await settle()
    clock.advance(DEFAULT_JOB_RETRY.minDelayMs * 2)
    await expect.poll(() => ends.map(([jobId]) => jobId)).toContain(orphan)
    expect(await memory.get(orphan)).toMatchObject({ state: 'completed', attempts: 2 })
  })

  it('close lets running jobs finish within its deadline, then releases the rest at once', async () => {
    const gates: Deferred[] = []
    const signals: AbortSignal[] = []
    const { store, worker, enqueue, ends, clock } = setup({
      concurrency: 2,
      handler: (_job, signal) => {
        const gate = deferred()
        gates.push(gate)
        signals.push(signal)
        return gate.promise
      },
    })
    await worker.start()
    const quick = await enqueue('quick')
    const slow = await enqueue('slow')
    const waiting = await enqueue('waiting')
    await expect.poll(() => gates.length).toBe(2)
    const closed = worker.close({ timeoutMs: 5000 })
    let isClosed = false
    void closed.then(() => (isClosed = true))
    gates[0]!.resolve() // finishes in time
    await expect.poll(() => ends.length).toBe(1)
    clock.advance(4999)
    await settle()
    expect(isClosed).toBe(false)
    expect(gates).toHaveLength(2) // no new claims while closing
    clock.advance(1)
    await closed
    expect(signals[1]!.aborted).toBe(true)
    expect(signals[1]!.reason).toMatchObject({ code: 'ERR_CLOSED' })
    expect(await store.get(quick)).toMatchObject({ state: 'completed' })
    expect(await store.get(slow)).toMatchObject({ state: 'queued', attempts: 0 })
    expect(await store.get(waiting)).toMatchObject({ state: 'queued', attempts: 0 })
    expect(ends).toEqual([
      [quick, { kind: 'completed' }],
      [slow, { kind: 'released' }],
    ])
  })

  it('close while a claim is in flight hands the claimed jobs straight back, unrun', async () => {
    const clock = new ManualClock(Date.UTC(2030, 0, 1))
    const memory = new MemoryJobStore({ clock })
    let release!: () => void
    const gate = new Promise<void>((resolve) => (release = resolve))
    const store = adapter(memory, {
      claim: async (request: Parameters<JobStore['claim']>[0]) => {
        const jobs = await memory.claim(request)
        await gate
        return jobs
      },
    })
    const ran: string[] = []
    const { worker, ends } = setup({ store, clock, handler: async (job) => void ran.push(job.id) })
    const { id } = await memory.enqueue(toJobRequest('t', {}))
    await worker.start()
    await expect.poll(async () => (await memory.get(id))?.state).toBe('running')
    const closed = worker.close()
    release()
    await closed
    expect(ran).toEqual([])
    expect(ends).toEqual([[id, { kind: 'released' }]])
    expect(await memory.get(id)).toMatchObject({ state: 'queued', attempts: 0 })
  })

  it('completes with the follow-up jobs a handler returns', async () => {
    const { store, worker, enqueue, ends } = setup({
      handler: async (job) =>
        job.payload === 'fan-out'
          ? { enqueue: [toJobRequest('t', 'child-1'), toJobRequest('t', 'child-2')] }
          : undefined,
    })
    await worker.start()
    await enqueue('fan-out')
    await expect.poll(() => ends.length).toBe(3)
    const all = (await store.list({ task: 't' })).jobs
    expect(all.map((j) => j.state)).toEqual(['completed', 'completed', 'completed'])
  })

  it("dead-letters a job whose version is gone when its policy says 'dead', runs it on 'latest'", async () => {
    const ran: unknown[] = []
    const { store, worker, enqueue, ends } = setup({
      versions: ['v2'],
      handler: async (job) => void ran.push(job.payload),
    })
    const doomed = await enqueue('doomed', {}, { version: 'v1', onVersionGone: 'dead' })
    const latest = await enqueue('latest', {}, { version: 'v1' })
    const mine = await enqueue('mine', {}, { version: 'v2' })
    await worker.start()
    await expect.poll(() => ends.length).toBe(3)
    expect(ran.sort()).toEqual(['latest', 'mine'])
    expect(await store.get(doomed)).toMatchObject({ state: 'dead', attempts: 1 })
    expect((await store.get(doomed))!.lastError).toContain("onVersionGone: 'dead'")
    expect(await store.get(latest)).toMatchObject({ state: 'completed' })
    expect(await store.get(mine)).toMatchObject({ state: 'completed' })
  })

  it('keeps going through store errors: a failed claim waits for the next poll, a failed completion is retried', async () => {
    const clock = new ManualClock(Date.UTC(2030, 0, 1))
    const memory = new MemoryJobStore({ clock })
    let claimFailures = 1
    let completeFailures = 2
    const store = adapter(memory, {
      claim: (request: Parameters<JobStore['claim']>[0]) =>
        claimFailures-- > 0 ? Promise.reject(new Error('database down')) : memory.claim(request),
      complete: (lease: Parameters<JobStore['complete']>[0]) =>
        completeFailures-- > 0 ? Promise.reject(new Error('connection reset')) : memory.complete(lease),
    })
    const { worker, ends, errors } = setup({ store, clock })
    const { id } = await memory.enqueue(toJobRequest('t', {}))
    await worker.start()
    await expect.poll(() => errors.map(([, during]) => during)).toEqual(['claim'])
    clock.advance(1000)
    await expect.poll(() => errors.length).toBe(2)
    clock.advance(100)
    await expect.poll(() => errors.length).toBe(3)
    clock.advance(200)
    await expect.poll(() => ends).toEqual([[id, { kind: 'completed' }]])
    expect(errors.map(([, during]) => during)).toEqual(['claim', 'recording completed', 'recording completed'])
    expect(await memory.get(id)).toMatchObject({ state: 'completed' })
  })

  it('setTasks registers and claims the new tasks at once', async () => {
    const { store, worker, ends } = setup({ tasks: [] })
    await worker.start()
    const { id } = await store.enqueue(toJobRequest('other', {}))
    await settle()
    expect(ends).toEqual([])
    await worker.setTasks(['other'])
    await expect.poll(() => ends).toEqual([[id, { kind: 'completed' }]])
  })

  it('refuses a bad option with a typed error naming it', () => {
    expect(
      () => new JobWorker({ store: new MemoryJobStore(), tasks: [], handler: async () => {}, concurrency: 0 }),
    ).toThrow(
      expect.objectContaining({ code: 'ERR_INVALID_OPTION', message: expect.stringContaining('jobs.concurrency') }),
    )
  })
})
