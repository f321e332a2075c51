/**
 * Everything the function pools share: the global budget (instances and module memory), where
 * each new instance goes, which idle instances make room when the budget is full, fairness
 * between functions, the autoscaler's clock, the blank engines of the threads, and the cache of
 * retired versions that makes redeploying one instant.
 *
 * Making room for an instance, in this order of victims (each tier least recently used first):
 * idle instances of retired versions, idle instances of other live functions above their `min`,
 * then within it. A waiting call or a deploy may take any tier, a pool filling its `min` the
 * first two, a pre-warm only the first. When nothing can be evicted, a waiting call's creation
 * queues for room, and the functions with the fewest instances are served first.
 *
 * Fair share: a function that was used within its `idleTimeoutMs` is active. While another
 * function waits for room, an active function holding more than `budget / active functions`
 * gives up the instances it releases instead of reusing them, and a function at its share may
 * not evict the idle instances of one below its share: a hot function cannot starve a cold one.
 *
 * Threads: a function's instances spread evenly over the threads (the thread holding the fewest
 * of them first; of threads holding as many, one not busy while another is much less so); on the
 * thread chosen an instance joins one of the function's modules with room. A pool grows only while calls wait, and
 * instances on one thread never run at once: packed into one module on one thread, a function's
 * concurrent calls queue for that thread while the others idle (measured: 16 concurrent echo
 * calls, 7 instances on one thread and 1 on the other, and `threads: 1` faster than 2). The cost
 * is a module (its `memoryMb` of fixed memory, counted in the budget) per thread a function
 * spreads to; where the budget has no room for one, the instance joins a module with room.
 * Busy is the thread's event-loop utilisation, which lags by 100 ms or more: it places new
 * functions away from threads that CPU-heavy work holds, but cannot see a burst.
 *
 * @internal
 * @module
 */
import { FnboxError, invalidOption } from '../errors.js'
import type { PoolOptions } from '../options.js'
import { Autoscaler } from './autoscaler.js'
import { Budget, type Freed } from './budget.js'
import type { Clock } from '../clock.js'
import { FunctionPool } from './function-pool.js'
import type { IdleInstance, PoolExecutor, PoolHost, ReserveReason, ScaleReason } from './pool-host.js'
import type { FunctionSource } from './executor.js'

/** The slice of an executor thread placement needs. */
export interface PlacedExecutor extends PoolExecutor {
  /** Instances on the thread (every function), creations included. */
  readonly size: number
  readonly inflight: number
  /** How busy the thread has been lately (event-loop utilisation, 0-1). */
  readonly utilization: number
  /** Blank engines ready on the thread. */
  readonly blanks: number
  hasBlank(memoryMb: number): boolean
}

export interface PoolManagerOptions {
  clock: Clock
  maxTotalInstances: number
  memoryBudgetMb: number
  /** Blank engines kept ready across the threads. */
  blankEngines: number
  /** Memory of each blank engine's module (the runtime's default `limits.memoryMb`). */
  blankMemoryMb: number
  /** Retired versions kept (one idle instance each) for an instant redeploy. */
  retainedVersions: number
  scaleIntervalMs: number
}

export interface PoolScaleChange {
  pool: FunctionPool
  from: number
  to: number
  reason: ScaleReason
}

export interface PoolManagerEvents {
  scaled(change: PoolScaleChange): void
  /** A pool let go of everything (undeployed or retired and dropped from the cache). */
  released(pool: FunctionPool): void
}

/** The global budget in {@link Runtime.stats}. @public */
export interface PoolBudgetStats {
  /** Instances of all functions, blank engines and retired versions included. */
  instances: number
  /** `pool.maxTotalInstances`. */
  maxTotalInstances: number
  /** Fixed memory of the modules counted, in MiB (see `pool.memoryBudgetMb`). */
  memoryMb: number
  /** `pool.memoryBudgetMb`. */
  memoryBudgetMb: number
  /** `pool.blankEngines`: blank engines held back in the budget. */
  blankEngines: number
  /** Creations waiting for room in the budget. */
  waitingForRoom: number
  /** Retired versions kept warm for an instant redeploy. */
  retiredVersions: number
}

/** A thread busier than this (event-loop utilisation) may be relieved by another one... */
const BUSY_UTILIZATION = 0.5
/** ...this much less busy, at the cost of a new module there. */
const SPREAD_UTILIZATION = 0.25

interface Reservation {
  pool: FunctionPool
  reason: ReserveReason
  seq: number
  resolve(executor: PoolExecutor | undefined): void
  reject(err: FnboxError): void
  timer: unknown
}

interface Victim {
  pool: FunctionPool
  slot: IdleInstance
}

export class PoolManager implements PoolHost {
  readonly clock: Clock
  readonly #options: PoolManagerOptions
  readonly #executors: () => readonly PlacedExecutor[]
  readonly #events: PoolManagerEvents
  readonly #budget: Budget<FunctionPool, PoolExecutor>
  readonly #autoscaler: Autoscaler
  /** Every pool not yet released. */
  readonly #pools = new Set<FunctionPool>()
  /** Retired versions, least recently retired first. */
  readonly #retired: FunctionPool[] = []
  readonly #queue: Reservation[] = []
  #seq = 0
  #pumping = false
  #pumpAgain = false
  #closed = false

  constructor(options: PoolManagerOptions, executors: () => readonly PlacedExecutor[], events: PoolManagerEvents) {
    this.clock = options.clock
    this.#options = options
    this.#executors = executors
    this.#events = events
    this.#budget = new Budget({
      maxTotalInstances: options.maxTotalInstances,
      memoryBudgetMb: options.memoryBudgetMb,
    })
    this.#budget.reserve(options.blankEngines, options.blankMemoryMb)
    this.#autoscaler = new Autoscaler(options.clock, options.scaleIntervalMs)
  }

  /** Blank engines each thread keeps: `blankEngines` spread evenly. */
  blankTarget(thread: number, threads: number): number {
    const n = this.#options.blankEngines
    return Math.floor(n / threads) + (thread < n % threads ? 1 : 0)
  }

  /** A pool for a new deployment; {@link activate} it once its first instance is warm. */
  create(
    source: FunctionSource,
    options: PoolOptions,
    meta: { name: string; version: string },
    onCreate: (ms: number, restored: boolean) => void,
  ): FunctionPool {
    const room = this.#budget.forFunctions.memoryBudgetMb
    if (source.limits.memoryMb > room) {
      throw invalidOption(
        'options.limits.memoryMb',
        `at most the ${room} MiB options.pool.memoryBudgetMb leaves beside blank engines`,
        source.limits.memoryMb,
      )
    }
    const pool = new FunctionPool(source, options, meta, this, onCreate)
    this.#pools.add(pool)
    return pool
  }

  /** Hands a deployed pool to the autoscaler and brings it up to `min`. */
  activate(pool: FunctionPool): void {
    this.#autoscaler.add(pool)
    pool.ensureMin()
  }

  /**
   * Retires a version: it finishes its calls, then stays cached with one idle instance (while
   * `retainedVersions` allows) so a redeploy of it is instant. Resolves when drained.
   */
  retire(pool: FunctionPool): Promise<void> {
    this.#autoscaler.delete(pool)
    return pool.retire(this.#options.retainedVersions > 0 ? 1 : 0)
  }

  /** Makes a retired (or still draining) version live again; false when it is gone. */
  revive(pool: FunctionPool): boolean {
    if (!pool.revive()) return false
    const i = this.#retired.indexOf(pool)
    if (i >= 0) this.#retired.splice(i, 1)
    this.#autoscaler.add(pool)
    return true
  }

  // --- PoolHost ---

  reserve(pool: FunctionPool, reason: ReserveReason, timeoutMs?: number): Promise<PoolExecutor | undefined> {
    if (this.#closed) return Promise.reject(new FnboxError('ERR_CLOSED', 'the runtime is closed'))
    // Others are waiting for room: a pre-warm does not compete with them, a call takes its turn.
    if (this.#queue.length === 0 || reason === 'deploy') {
      const executor = this.#holdingPump(() => this.#grant(pool, reason))
      if (executor) return Promise.resolve(executor)
    }
    if (reason === 'min' || reason === 'prewarm') return Promise.resolve(undefined)
    return new Promise((resolve, reject) => {
      const entry: Reservation = { pool, reason, seq: this.#seq++, resolve, reject, timer: undefined }
      if (timeoutMs !== undefined) {
        entry.timer = this.clock.setTimeout(() => {
          this.#dequeue(entry)
          reject(this.#noRoom(pool, timeoutMs))
        }, timeoutMs)
      }
      this.#queue.push(entry)
    })
  }

  freed(pool: FunctionPool, executor: PoolExecutor): void {
    this.#budget.remove(pool, executor)
    if (this.#queue.length > 0) this.#pump()
  }

  idled(_pool: FunctionPool): void {
    if (this.#queue.length > 0) this.#pump()
  }

  shouldYield(pool: FunctionPool): boolean {
    if (!this.#queue.some((q) => q.pool !== pool && q.pool.wants(q.reason))) return false
    return this.#overShare(pool, 0)
  }

  scaled(pool: FunctionPool, from: number, to: number, reason: ScaleReason): void {
    this.#events.scaled({ pool, from, to, reason })
  }

  drained(pool: FunctionPool): void {
    if (pool.state !== 'retired') return
    const i = this.#retired.indexOf(pool)
    if (i >= 0) this.#retired.splice(i, 1)
    this.#retired.push(pool)
    while (this.#retired.length > this.#options.retainedVersions) this.#retired[0]!.dispose()
  }

  disposed(pool: FunctionPool): void {
    this.#autoscaler.delete(pool)
    this.#pools.delete(pool)
    const i = this.#retired.indexOf(pool)
    if (i >= 0) this.#retired.splice(i, 1)
    for (const entry of this.#queue.filter((q) => q.pool === pool)) {
      this.#dequeue(entry)
      entry.resolve(undefined)
    }
    this.#events.released(pool)
  }

  // --- budget ---

  /** Picks a thread for one more instance of `pool` and counts it, evicting if needed and allowed. */
  #grant(pool: FunctionPool, reason: ReserveReason): PoolExecutor | undefined {
    const candidates = this.#placements(pool)
    for (const executor of candidates) {
      if (this.#budget.fits(pool, executor)) {
        this.#budget.add(pool, executor)
        return executor
      }
    }
    for (const executor of candidates) {
      if (this.#makeRoom(pool, executor, reason)) {
        this.#budget.add(pool, executor)
        return executor
      }
    }
    return undefined
  }

  /**
   * Threads for a new instance of `pool`, best first: the one holding the fewest of the
   * function's instances (its concurrent calls then run on every thread); of those, one that is
   * not busy while another is much less so; one of its modules with room there (no new module:
   * memory); the fewest instances of all functions; a fitting blank engine (the new module is
   * ready); the least busy. The function's own share comes before busy: utilisation lags a burst
   * by 100 ms or more, and a thread busy with the function's own first instance would otherwise
   * send the whole burst to the other thread (measured: 7 instances against 1). Smaller
   * differences in utilisation are noise (a blank refill, the machine's load) and must not
   * decide, nor may a blank engine (it saves one module's ~3 ms): two functions would share a
   * thread while another stands empty, and one's long call would hold up the other's. Where the
   * budget has no room for a new module on the first choice, {@link #grant} takes the next, down
   * to a thread with room in one of the function's modules.
   */
  #placements(pool: FunctionPool): PlacedExecutor[] {
    const executors = this.#executors()
    const busy = executors.map((e) => e.utilization)
    const idlest = Math.min(...busy)
    const scored = executors.map((e, i) => {
      const mine = this.#budget.count(pool, e)
      const room = mine % pool.instancesPerModule !== 0
      const crowded = busy[i]! > BUSY_UTILIZATION && busy[i]! - idlest > SPREAD_UTILIZATION
      const blank = !room && e.hasBlank(pool.memoryMb) ? 0 : 1
      return { e, key: [mine, crowded ? 1 : 0, room ? 0 : 1, e.size, blank, busy[i]!] }
    })
    scored.sort((a, b) => {
      for (let i = 0; i < a.key.length; i++) if (a.key[i] !== b.key[i]) return a.key[i]! - b.key[i]!
      return 0
    })
    return scored.map((s) => s.e)
  }

  /** Evicts idle instances of other functions so one more of `pool` fits on `executor`; false if it cannot. */
  #makeRoom(pool: FunctionPool, executor: PoolExecutor, reason: ReserveReason): boolean {
    const victims = this.#victims(pool, reason)
    if (victims.length === 0) return false
    const freed: Freed[] = this.#budget.simulateFree(victims.map((v) => [v.pool, v.slot.ref.executor] as const))
    const n = freed.findIndex((f) => this.#budget.fits(pool, executor, f))
    if (n < 0) return false
    for (const v of victims.slice(0, n + 1)) v.pool.evict(v.slot.ref)
    return this.#budget.fits(pool, executor)
  }

  /** Idle instances `pool` may evict for `reason`, in eviction order. */
  #victims(pool: FunctionPool, reason: ReserveReason): Victim[] {
    const tiers: Victim[][] = [[], [], []]
    // A function at its fair share may not take instances from one below its share.
    const restricted = this.#overShare(pool, 1)
    for (const other of this.#pools) {
      if (other === pool || other.idle.length === 0) continue
      const live = other.state === 'live'
      if (live && restricted && !this.#overShare(other, 0)) continue
      // Idle instances above min go first; the rest of the idle list (most recent) is within min.
      const aboveMin = live ? Math.max(0, other.size - other.options.min) : other.idle.length
      other.idle.forEach((slot, i) => {
        const tier = !live ? 0 : i < aboveMin ? 1 : 2
        tiers[tier]!.push({ pool: other, slot })
      })
    }
    const allowed = reason === 'prewarm' ? 1 : reason === 'min' ? 2 : 3
    return tiers.slice(0, allowed).flatMap((tier) => tier.sort((a, b) => a.slot.since - b.slot.since))
  }

  /** True when `pool` with `extra` more instances holds more than its fair share. */
  #overShare(pool: FunctionPool, extra: number): boolean {
    const now = this.clock.now()
    // Active: has calls, or (live) was used within its idle timeout; the asking pool counts too.
    let active = 0
    for (const p of this.#pools) {
      const recent = p.state === 'live' && now - p.lastUsed < p.options.idleTimeoutMs
      if (p === pool || p.busy > 0 || p.waiting > 0 || recent) active++
    }
    const share = this.#budget.forFunctions
    const n = Math.max(1, active)
    const growth = extra > 0 ? pool.memoryMb / pool.instancesPerModule : 0
    return (
      this.#budget.countOf(pool) + extra > share.maxTotalInstances / n ||
      this.#budget.memoryOf(pool) + growth > share.memoryBudgetMb / n
    )
  }

  /** Runs `fn` (which may evict) without letting the room it frees go to queued reservations first. */
  #holdingPump<T>(fn: () => T): T {
    if (this.#pumping) return fn()
    this.#pumping = true
    try {
      return fn()
    } finally {
      this.#pumping = false
      if (this.#pumpAgain) this.#pump()
    }
  }

  /** Grants queued reservations: the functions with the fewest instances first, then in order. */
  #pump(): void {
    if (this.#pumping) {
      this.#pumpAgain = true
      return
    }
    this.#pumping = true
    try {
      do {
        this.#pumpAgain = false
        const order = [...this.#queue].sort(
          (a, b) => this.#budget.countOf(a.pool) - this.#budget.countOf(b.pool) || a.seq - b.seq,
        )
        for (const entry of order) {
          if (!this.#queue.includes(entry)) continue
          if (!entry.pool.wants(entry.reason)) {
            this.#dequeue(entry)
            entry.resolve(undefined)
            continue
          }
          const executor = this.#grant(entry.pool, entry.reason)
          if (!executor) continue
          this.#dequeue(entry)
          entry.resolve(executor)
        }
      } while (this.#pumpAgain)
    } finally {
      this.#pumping = false
    }
  }

  #dequeue(entry: Reservation): void {
    const i = this.#queue.indexOf(entry)
    if (i >= 0) this.#queue.splice(i, 1)
    if (entry.timer !== undefined) this.clock.clearTimeout(entry.timer)
  }

  #noRoom(pool: FunctionPool, timeoutMs: number): FnboxError {
    const { maxTotalInstances, memoryBudgetMb } = this.#budget.limits
    return new FnboxError(
      'ERR_QUEUE_FULL',
      `no room for an instance of ${pool.name} within ${timeoutMs} ms: the pool budget is full ` +
        `(${this.#budget.instances}/${maxTotalInstances} instances, ${this.#budget.memoryMb}/${memoryBudgetMb} MiB) and no idle instance could be evicted`,
      {
        retryAfterSeconds: Math.max(1, Math.ceil(timeoutMs / 1000)),
        details: { limit: maxTotalInstances, value: this.#budget.instances },
      },
    )
  }

  stats(): PoolBudgetStats {
    return {
      instances: this.#budget.instances,
      maxTotalInstances: this.#budget.limits.maxTotalInstances,
      memoryMb: this.#budget.memoryMb,
      memoryBudgetMb: this.#budget.limits.memoryBudgetMb,
      blankEngines: this.#options.blankEngines,
      waitingForRoom: this.#queue.length,
      retiredVersions: this.#retired.length,
    }
  }

  /**
   * Retires every pool (queued and running calls finish) for up to `timeoutMs`, then releases
   * them all: calls still waiting get `ERR_CLOSED`.
   */
  async close(timeoutMs: number): Promise<void> {
    const pools = [...this.#pools]
    let timer: NodeJS.Timeout | undefined
    await Promise.race([
      Promise.allSettled(pools.map((p) => p.retire(0))),
      new Promise((resolve) => (timer = setTimeout(resolve, timeoutMs))),
    ])
    clearTimeout(timer)
    this.#closed = true
    for (const pool of [...this.#pools]) pool.dispose()
    for (const entry of [...this.#queue]) {
      this.#dequeue(entry)
      entry.reject(new FnboxError('ERR_CLOSED', 'the runtime is closed'))
    }
    this.#autoscaler.close()
  }
}
