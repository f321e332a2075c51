// The cron scheduler over the memory store with a manual clock: slots, hosts sharing a store,
// catch-up, timezones, a late host, store failures.
import { afterEach, describe, expect, it } from 'vitest'
import type { CronFiring, JobStore } from '../../../src/host/jobs/jobs.js'
import { MemoryJobStore } from '../../../src/host/jobs/memory-jobs.js'
import { CronScheduler, type CronSchedule } from '../../../src/triggers/cron/scheduler.js'
import { ManualClock } from '../../helpers/manual-clock.js'

const T0 = Date.UTC(2030, 0, 1, 12, 0, 0, 300) // 300 ms past a whole second

const settle = async (): Promise<void> => {
  for (let i = 0; i < 5; i++) await new Promise((resolve) => setImmediate(resolve))
}

const schedule = (over: Partial<CronSchedule> = {}): CronSchedule => ({
  id: 'tick',
  schedule: '* * * * * *',
  job: { task: 'tick', priority: 0, maxAttempts: 3, onVersionGone: 'latest' },
  ...over,
})

let schedulers: CronScheduler[] = []
afterEach(async () => {
  await Promise.all(schedulers.map((s) => s.close()))
  schedulers = []
})

function host(store: JobStore, clock: ManualClock) {
  const fired: number[] = []
  const errors: unknown[] = []
  const scheduler = new CronScheduler({
    store,
    clock,
    onSlot: (_s, slot, firing: CronFiring) => firing.fired && fired.push(slot),
    onError: (err) => errors.push(err),
  })
  schedulers.push(scheduler)
  return { scheduler, fired, errors }
}

/** Scheduled times of the jobs in `store`, in order. */
async function slotsOf(store: JobStore): Promise<string[]> {
  const { jobs } = await store.list({ limit: 1000 })
  const claimed = await store.claim({ workerId: 'x', tasks: ['tick'], versions: [], limit: 1000, leaseMs: 1000 })
  expect(claimed).toHaveLength(jobs.length)
  return claimed.map((j) => (j.payload as { scheduledTime: string }).scheduledTime).sort()
}

describe('CronScheduler', () => {
  it('fires each slot once, at its time, as a job with scheduledTime and runAt the slot', async () => {
    const clock = new ManualClock(T0)
    const store = new MemoryJobStore({ clock })
    const { scheduler, fired } = host(store, clock)
    await scheduler.set([schedule({ schedule: '*/2 * * * * *' })])
    clock.advance(699) // 12:00:00.999
    await settle()
    expect(fired).toEqual([])
    clock.advance(1) // 12:00:01: not a slot of */2
    await settle()
    expect(fired).toEqual([])
    clock.advance(1000) // 12:00:02
    await settle()
    clock.advance(2000) // 12:00:04
    await settle()
    expect(fired.map((t) => new Date(t).toISOString())).toEqual([
      '2030-01-01T12:00:02.000Z',
      '2030-01-01T12:00:04.000Z',
    ])
    const { jobs } = await store.list()
    expect(jobs.map((j) => j.runAt)).toEqual(['2030-01-01T12:00:02.000Z', '2030-01-01T12:00:04.000Z'])
    expect(await slotsOf(store)).toEqual(['2030-01-01T12:00:02.000Z', '2030-01-01T12:00:04.000Z'])
  })

  it('three hosts sharing a store fire every slot exactly once between them', async () => {
    const clock = new ManualClock(T0)
    const store = new MemoryJobStore({ clock })
    const hosts = [host(store, clock), host(store, clock), host(store, clock)]
    for (const h of hosts) await h.scheduler.set([schedule()])
    for (let i = 0; i < 10; i++) {
      clock.advance(1000)
      await settle()
      if (i === 4) await hosts[0]!.scheduler.close() // one host stops midway
    }
    const all = hosts.flatMap((h) => h.fired).sort()
    expect(all).toHaveLength(10)
    expect(new Set(all).size).toBe(10)
    expect(await slotsOf(store)).toHaveLength(10)
  })

  it("catches up once on the latest missed slot with catchUp 'once', never with 'skip'", async () => {
    const clock = new ManualClock(T0)
    const store = new MemoryJobStore({ clock })
    // Fired last at 11:00; every host was down since.
    await store.fireCronSlot('once', Date.UTC(2030, 0, 1, 11), undefined)
    await store.fireCronSlot('skip', Date.UTC(2030, 0, 1, 11), undefined)
    const { scheduler, fired } = host(store, clock)
    await scheduler.set([
      schedule({ id: 'once', schedule: '*/10 * * * *' }),
      schedule({ id: 'skip', schedule: '*/10 * * * *', catchUp: 'skip' }),
      schedule({ id: 'new', schedule: '*/10 * * * *' }),
    ])
    expect(fired.map((t) => new Date(t).toISOString())).toEqual(['2030-01-01T12:00:00.000Z'])
    expect(await store.lastCronSlot('skip')).toBe(Date.UTC(2030, 0, 1, 11))
    expect(await store.lastCronSlot('new')).toBeUndefined()
    clock.advance(10 * 60_000)
    await settle()
    expect(fired).toHaveLength(4) // 12:10 for each of the three
    expect(await store.lastCronSlot('new')).toBe(Date.UTC(2030, 0, 1, 12, 10))
  })

  it('reads the schedule in its timezone', async () => {
    const clock = new ManualClock(Date.UTC(2030, 0, 1, 0, 0))
    const store = new MemoryJobStore({ clock })
    const { scheduler, fired } = host(store, clock)
    await scheduler.set([schedule({ schedule: '0 9 * * *', timezone: 'Europe/Paris' })])
    clock.advance(8 * 3600_000) // 09:00 in Paris (UTC+1 in January)
    await settle()
    expect(fired).toEqual([Date.UTC(2030, 0, 1, 8, 0)])
  })

  it('a host that wakes up late fires the slots it slept through, in order', async () => {
    const clock = new ManualClock(T0)
    const store = new MemoryJobStore({ clock })
    const order: number[] = []
    const inner = store.fireCronSlot.bind(store)
    store.fireCronSlot = (id, slot, job) => {
      order.push(slot)
      return inner(id, slot, job)
    }
    const { scheduler, fired } = host(store, clock)
    await scheduler.set([schedule()])
    // The event loop was blocked: the clock moved 4.5 s before any timer could run.
    clock.jump(4500)
    clock.advance(0)
    await settle()
    expect(fired).toEqual([1, 2, 3, 4].map((s) => T0 - 300 + s * 1000))
    expect(order).toEqual(fired)
  })

  it('a slot whose claim failed is tried again, not lost', async () => {
    const clock = new ManualClock(T0)
    const store = new MemoryJobStore({ clock })
    const inner = store.fireCronSlot.bind(store)
    let failures = 1
    store.fireCronSlot = (id, slot, job) =>
      failures-- > 0 ? Promise.reject(new Error('database down')) : inner(id, slot, job)
    const { scheduler, fired, errors } = host(store, clock)
    await scheduler.set([schedule({ schedule: '*/5 * * * * *' })])
    clock.advance(4700) // 12:00:05: the claim fails
    await settle()
    expect(errors).toHaveLength(1)
    expect(fired).toEqual([])
    clock.advance(1000) // retried
    await settle()
    expect(fired).toEqual([Date.UTC(2030, 0, 1, 12, 0, 5)])
  })

  it('set() with a running id keeps its timing and takes its new job; a new timing restarts it', async () => {
    const clock = new ManualClock(T0)
    const store = new MemoryJobStore({ clock })
    const { scheduler, fired } = host(store, clock)
    const v1 = schedule({ job: { task: 'tick', priority: 0, maxAttempts: 3, onVersionGone: 'latest', version: 'v1' } })
    await scheduler.set([v1])
    clock.advance(700)
    await settle()
    await scheduler.set([{ ...v1, job: { ...v1.job, version: 'v2' } }])
    clock.advance(1000)
    await settle()
    await scheduler.set([{ ...v1, schedule: '*/5 * * * * *', job: { ...v1.job, version: 'v3' } }])
    clock.advance(4000) // 12:00:05.3: the restarted schedule's first slot is 12:00:05
    await settle()
    const jobs = await store.claim({
      workerId: 'x',
      tasks: ['tick'],
      versions: ['v1', 'v2', 'v3'],
      limit: 10,
      leaseMs: 1000,
    })
    expect(jobs.map((j) => [j.runAt, j.version])).toEqual([
      ['2030-01-01T12:00:01.000Z', 'v1'],
      ['2030-01-01T12:00:02.000Z', 'v2'],
      ['2030-01-01T12:00:05.000Z', 'v3'],
    ])
    expect(fired).toHaveLength(3)
  })

  it('set() stops removed schedules and starts new ones; bad schedules are refused with a typed error', async () => {
    const clock = new ManualClock(T0)
    const store = new MemoryJobStore({ clock })
    const { scheduler, fired } = host(store, clock)
    await scheduler.set([schedule({ id: 'a' })])
    clock.advance(1000)
    await settle()
    await scheduler.set([schedule({ id: 'b', schedule: '*/2 * * * * *' })])
    clock.advance(2000)
    await settle()
    expect((await store.list()).jobs).toHaveLength(2)
    expect(fired).toEqual([T0 + 700, T0 + 1700])
    await expect(scheduler.set([schedule({ schedule: '61 * * * *' })])).rejects.toMatchObject({
      code: 'ERR_INVALID_OPTION',
      message: expect.stringContaining('cron[0].schedule "61 * * * *"'),
    })
    await expect(scheduler.set([schedule({ timezone: 'Mars/Olympus' })])).rejects.toMatchObject({
      code: 'ERR_INVALID_OPTION',
      message: expect.stringContaining('Mars/Olympus'),
    })
  })
})
