/**
 * Cron on every host at once, each slot fired once across all of them: every host computes the
 * slots (croner: seconds optional, timezones) and, at each, asks the store to claim it
 * (`fireCronSlot`: the schedule's last slot advances in the same transaction that enqueues the
 * slot's job, as graphile-worker's `known_crontabs`). One host wins; a host that dies before its
 * commit loses the claim to the next one. The slot's run is then a job: at-least-once, with the
 * job's retries, on whichever worker claims it.
 *
 * Slots are claimed in order, each only if it is after the last one fired, so the first host to
 * reach a slot has tried every earlier one: none is skipped while one host is up. A host that
 * wakes up late (a busy event loop) fires the slots it missed, in order.
 *
 * Slots missed while no host was up: at start, `catchUp: 'once'` (default) fires the latest one
 * of them, `'skip'` none. A schedule never fired before starts with the next slot.
 *
 * @internal
 * @module
 */
import { Cron } from 'croner'
import { FnboxError } from '../../errors.js'
import { systemClock, type Clock } from '../../clock.js'
import { type CronFiring, type JobRequest, type JobStore } from '../../host/jobs/jobs.js'

/** What to do with the slots missed while no host was running. */
export type CronCatchUp = 'skip' | 'once'

export interface CronSchedule {
  /**
   * Identity of the schedule in the database, the same on every host and across restarts (the
   * runtime: function, export, schedule and timezone). A new id starts with no history.
   */
  id: string
  /** croner syntax: 5 fields, or 6 with seconds first. */
  schedule: string
  /** IANA timezone the schedule reads in. Default UTC. */
  timezone?: string
  catchUp?: CronCatchUp
  /** The job of each slot; its payload is `{ scheduledTime }` (ISO 8601) and its `runAt` the slot. */
  job: Omit<JobRequest, 'payload' | 'runAt' | 'delayMs' | 'key'>
}

export interface CronSchedulerOptions {
  store: JobStore
  clock?: Clock
  /** A slot could not be claimed (it is tried again); the scheduler carries on. */
  onError?(error: unknown, schedule: CronSchedule): void
  /** A slot was claimed by this host (`fired`) or found taken. */
  onSlot?(schedule: CronSchedule, slot: number, firing: CronFiring): void
}

/** Slots one wake-up fires at most (a host asleep for longer folds the older ones away). */
const MAX_SLOTS_PER_WAKE = 100
/** Delay before retrying a slot whose claim failed. */
const RETRY_MS = 1000

interface Entry {
  /** Replaced by a `set()` that keeps the timing (a redeploy: the job's version changes). */
  schedule: CronSchedule
  readonly cron: Cron
  /** Every slot at or before this (Unix ms) has been handled by this host. */
  cursor: number
  timer: unknown
  /** The run in progress (start-up catch-up or a tick). */
  busy: Promise<void>
  stopped: boolean
}

const sameTiming = (a: CronSchedule, b: CronSchedule): boolean =>
  a.schedule === b.schedule && a.timezone === b.timezone && (a.catchUp ?? 'once') === (b.catchUp ?? 'once')

/** Checks `schedule` (pattern and timezone) and returns its croner instance. */
export function parseSchedule(schedule: CronSchedule, name = 'cron'): Cron {
  let cron: Cron
  try {
    cron = new Cron(schedule.schedule, { paused: true, ...(schedule.timezone ? { timezone: schedule.timezone } : {}) })
    // A bad timezone only shows when a date is computed.
    cron.nextRun(new Date(0))
  } catch (err) {
    throw new FnboxError(
      'ERR_INVALID_OPTION',
      `${name}.schedule ${JSON.stringify(schedule.schedule)}${schedule.timezone ? ` (timezone ${schedule.timezone})` : ''} is not a valid schedule: ${(err as Error).message}`,
      { details: { option: `${name}.schedule` } },
    )
  }
  if (schedule.catchUp !== undefined && schedule.catchUp !== 'skip' && schedule.catchUp !== 'once') {
    throw new FnboxError('ERR_INVALID_OPTION', `${name}.catchUp must be 'skip' or 'once'`, {
      details: { option: `${name}.catchUp` },
    })
  }
  return cron
}

export class CronScheduler {
  readonly #store: JobStore
  readonly #clock: Clock
  readonly #options: CronSchedulerOptions
  readonly #entries = new Map<string, Entry>()
  #closed = false

  constructor(options: CronSchedulerOptions) {
    this.#store = options.store
    this.#clock = options.clock ?? systemClock
    this.#options = options
  }

  /**
   * Runs exactly `schedules` from now on (a deploy): new ones start (catching up), removed ones
   * stop; one whose id was running goes on with its new job (its version, say), and restarts if
   * its timing (schedule, timezone, catch-up) changed. Resolves once new ones have caught up.
   */
  async set(schedules: readonly CronSchedule[]): Promise<void> {
    if (this.#closed) throw new FnboxError('ERR_CLOSED', 'the cron scheduler is closed')
    const parsed = schedules.map((s, i) => ({ schedule: s, cron: parseSchedule(s, `cron[${i}]`) }))
    const ids = new Set(schedules.map((s) => s.id))
    if (ids.size !== schedules.length) throw new FnboxError('ERR_INVALID_OPTION', 'cron schedule ids must be unique')
    for (const [id, entry] of this.#entries) {
      if (!ids.has(id)) this.#stop(entry)
    }
    const started: Promise<void>[] = []
    for (const { schedule, cron } of parsed) {
      const running = this.#entries.get(schedule.id)
      if (running && sameTiming(running.schedule, schedule)) {
        running.schedule = schedule
        continue
      }
      if (running) this.#stop(running)
      const entry: Entry = {
        schedule,
        cron,
        cursor: this.#clock.wallNow(),
        timer: undefined,
        busy: Promise.resolve(),
        stopped: false,
      }
      this.#entries.set(schedule.id, entry)
      entry.busy = this.#begin(entry)
      started.push(entry.busy)
    }
    await Promise.all(started)
  }

  #stop(entry: Entry): void {
    entry.stopped = true
    this.#clock.clearTimeout(entry.timer)
    this.#entries.delete(entry.schedule.id)
  }

  /** Start-up: fire the slot missed while no host ran (catchUp 'once'), then wait for the next. */
  async #begin(entry: Entry): Promise<void> {
    const { schedule } = entry
    try {
      const last = await this.#store.lastCronSlot(schedule.id)
      const missed = last === undefined ? undefined : this.#slotAtOrBefore(entry, entry.cursor)
      if (missed !== undefined && last !== undefined && missed > last && (schedule.catchUp ?? 'once') === 'once') {
        await this.#fire(entry, missed)
      }
    } catch (err) {
      this.#options.onError?.(err, schedule)
    }
    this.#arm(entry)
  }

  /** The latest slot at or before `time`, if any. */
  #slotAtOrBefore(entry: Entry, time: number): number | undefined {
    const [previous] = entry.cron.previousRuns(1, new Date(time + 1))
    return previous?.getTime()
  }

  /** Sets the timer for the first slot after the cursor (or a retry in `delayMs`). */
  #arm(entry: Entry, delayMs?: number): void {
    if (entry.stopped || this.#closed) return
    const next = entry.cron.nextRun(new Date(entry.cursor))
    if (!next && delayMs === undefined) return // a schedule with no future slot
    const wait = delayMs ?? Math.max(0, next!.getTime() - this.#clock.wallNow())
    this.#clock.clearTimeout(entry.timer)
    entry.timer = this.#clock.setTimeout(() => {
      entry.timer = undefined
      entry.busy = this.#tick(entry)
    }, wait)
  }

  /** Fires every slot in (cursor, now], in order, then waits for the next. */
  async #tick(entry: Entry): Promise<void> {
    const now = this.#clock.wallNow()
    const slots: number[] = []
    for (let at = entry.cron.nextRun(new Date(entry.cursor)); at && at.getTime() <= now;) {
      slots.push(at.getTime())
      at = entry.cron.nextRun(at)
    }
    // A host that slept through more than MAX_SLOTS_PER_WAKE slots fires only the latest ones.
    for (const slot of slots.slice(-MAX_SLOTS_PER_WAKE)) {
      if (entry.stopped || this.#closed) return
      try {
        await this.#fire(entry, slot)
      } catch (err) {
        this.#options.onError?.(err, entry.schedule)
        this.#arm(entry, RETRY_MS)
        return
      }
      entry.cursor = slot
    }
    // Early (timers may fire a little before their time) or done: wait for the next slot.
    entry.cursor = Math.max(entry.cursor, slots.length > 0 ? slots[slots.length - 1]! : entry.cursor)
    this.#arm(entry)
  }

  async #fire(entry: Entry, slot: number): Promise<void> {
    const { schedule } = entry
    const request: JobRequest = {
      ...schedule.job,
      payload: { scheduledTime: new Date(slot).toISOString() },
      runAt: slot,
    }
    const firing = await this.#store.fireCronSlot(schedule.id, slot, request)
    this.#options.onSlot?.(schedule, slot, firing)
  }

  /** Stops every schedule; resolves once no slot is being claimed. */
  async close(): Promise<void> {
    this.#closed = true
    const busy = [...this.#entries.values()].map((e) => e.busy)
    for (const entry of [...this.#entries.values()]) this.#stop(entry)
    await Promise.all(busy)
  }
}
