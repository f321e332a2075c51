/**
 * The warm instances of one function version: idle ones, busy ones, creations under way and the
 * calls waiting for an instance, sized by the autoscaler between `min` and `max`.
 *
 * Idle instances are kept least recently used first: a call takes the warmest (the last), so
 * under a light load the same few instances serve and the rest age until `idleTimeoutMs`
 * releases them; eviction and scale-down take the coldest (the first).
 *
 * Room for every new instance comes from the {@link PoolHost} (the global budget), which may
 * evict idle instances of other functions or make the creation wait its turn. Nothing waits
 * forever: a waiting call is served, answered `ERR_QUEUE_FULL` at `acquireTimeoutMs`, or
 * rejected with the reason its instance could not be made.
 *
 * Why not generic-pool (which this replaced): its public API cannot grow a pool toward a
 * forecast without a waiting client, cannot release a chosen idle resource (LRU eviction across
 * functions), keeps one order for handing out and for evicting, runs on its own timers (no
 * injected clock), and retries a failing `create` in a loop while the caller waits.
 *
 * @internal
 * @module
 */
import { FnboxError, isFnboxError } from '../errors.js'
import type { PoolOptions } from '../options.js'
import { ServiceTime } from '../reliability/retry-after.js'
import { planScale, type Scalable } from './autoscaler.js'
import type { BudgetOwner } from './budget.js'
import type { FunctionSource, InstanceRef } from './executor.js'
import { ConcurrencyMeter, Forecast } from './forecast.js'
import type {
  IdleInstance,
  PoolExecutor,
  PoolHost,
  PoolState,
  ReserveReason,
  ScaleReason,
  FunctionPoolStats,
} from './pool-host.js'

interface Waiter {
  resolve(ref: InstanceRef): void
  reject(err: FnboxError): void
  timer: unknown
}

export class FunctionPool implements Scalable, BudgetOwner {
  readonly source: FunctionSource
  readonly options: PoolOptions
  readonly name: string
  readonly version: string
  /** How long calls hold an instance: the basis of Retry-After. */
  readonly serviceTime = new ServiceTime()
  readonly forecast = new Forecast()
  coldStarts = 0
  evictions = 0

  readonly #host: PoolHost
  readonly #onCreate: (ms: number, restored: boolean) => void
  /** Least recently used first. */
  readonly #idle: IdleInstance[] = []
  readonly #busy = new Set<InstanceRef>()
  /** In arrival order. */
  readonly #waiters = new Set<Waiter>()
  /** Instances asked of the host, not yet granted. */
  #reserving = 0
  /** Instances being created on a thread. */
  #making = 0
  readonly #threads = new Set<PoolExecutor>()
  #state: PoolState = 'live'
  /** Idle instances a retired version keeps. */
  #keep = 0
  #drained: { promise: Promise<void>; resolve: () => void } | undefined
  /** Concurrency (busy + waiting) over time, since the autoscaler last looked. */
  readonly #concurrency: ConcurrencyMeter
  #target = 0
  /** When a call last took or gave back an instance. */
  #lastUsed: number

  constructor(
    source: FunctionSource,
    options: PoolOptions,
    meta: { name: string; version: string },
    host: PoolHost,
    onCreate: (ms: number, restored: boolean) => void,
  ) {
    this.source = source
    this.options = options
    this.name = meta.name
    this.version = meta.version
    this.#host = host
    this.#onCreate = onCreate
    this.#lastUsed = host.clock.now()
    this.#concurrency = new ConcurrencyMeter(this.#lastUsed)
  }

  #ownModules = false

  get memoryMb(): number {
    return this.source.limits.memoryMb
  }

  /**
   * Instances per module, as the budget counts them. Once the version has a snapshot, each
   * instance restored from it has a module of its own, so every instance counts as one (for good:
   * dropping the snapshot leaves the restored ones where they are). The snapshot is taken by the
   * deploy's instance, before any other exists, so the count never has to change under it.
   */
  get instancesPerModule(): number {
    if (this.source.snapshot) this.#ownModules = true
    return this.#ownModules ? 1 : this.source.limits.instancesPerModule
  }

  get state(): PoolState {
    return this.#state
  }

  /** Instances, idle and busy. */
  get size(): number {
    return this.#idle.length + this.#busy.size
  }

  /** Instances with creations asked for or under way: what `max` bounds. */
  get total(): number {
    return this.size + this.#reserving + this.#making
  }

  get busy(): number {
    return this.#busy.size
  }

  get waiting(): number {
    return this.#waiters.size
  }

  get lastUsed(): number {
    return this.#lastUsed
  }

  /** Idle instances, least recently used first. */
  get idle(): readonly IdleInstance[] {
    return this.#idle
  }

  /** Creates the first instance at deploy, so a broken function fails `deploy` itself. */
  async warmUp(): Promise<number> {
    this.#reserving++
    let executor: PoolExecutor | undefined
    try {
      executor = await this.#host.reserve(this, 'deploy', this.options.acquireTimeoutMs)
    } finally {
      this.#reserving--
    }
    if (!executor) throw new FnboxError('ERR_CLOSED', `function version ${this.name} is retired`)
    const { ms } = await this.#make(executor, 'deploy', true)
    return ms
  }

  /** Brings the pool up to `min` now, rather than at the autoscaler's next tick. */
  ensureMin(): void {
    for (let i = this.total; i < this.options.min; i++) void this.#spawn('min')
  }

  acquire(): Promise<InstanceRef> {
    const got = this.acquireNow()
    return got instanceof Promise ? got : Promise.resolve(got)
  }

  /**
   * {@link acquire}, with an idle instance handed over at once rather than in a promise (the
   * call path then reaches the thread without waiting for a microtask); a promise otherwise.
   */
  acquireNow(): InstanceRef | Promise<InstanceRef> {
    if (this.#state === 'released') {
      return Promise.reject(new FnboxError('ERR_CLOSED', `function version ${this.name}@${this.version} is retired`))
    }
    // A call that took this version before it retired still runs on it.
    if (this.#state === 'retired') this.#state = 'draining'
    this.#lastUsed = this.#host.clock.now()
    const ref = this.#takeIdle()
    if (ref) {
      this.#busy.add(ref)
      this.#account()
      return ref
    }
    // Calls already waiting with no instance on its way to them.
    const queued = this.#waiters.size - this.#reserving - this.#making
    if (this.total >= this.options.max && queued >= this.options.maxQueue) {
      return Promise.reject(
        new FnboxError(
          'ERR_QUEUE_FULL',
          `function ${this.name} has ${queued} calls waiting (pool.maxQueue ${this.options.maxQueue})`,
          {
            retryAfterSeconds: this.serviceTime.retryAfterSeconds(queued, this.options.max),
            details: { limit: this.options.maxQueue, value: queued },
          },
        ),
      )
    }
    return new Promise<InstanceRef>((resolve, reject) => {
      const waiter: Waiter = { resolve, reject, timer: undefined }
      waiter.timer = this.#host.clock.setTimeout(() => this.#timedOut(waiter), this.options.acquireTimeoutMs)
      this.#waiters.add(waiter)
      this.#account()
      this.#grow()
    })
  }

  /** Gives an instance back: to the next waiting call, to the idle list, or away. */
  release(ref: InstanceRef): void {
    if (!this.#busy.delete(ref)) return
    this.#lastUsed = this.#host.clock.now()
    const from = this.size + 1
    if (!ref.lost && this.#waiters.size > 0 && this.#host.shouldYield(this)) {
      // Another function waits for room this one holds more than its share of.
      this.#destroy(ref)
      this.#scaled(from, 'yield')
      this.#grow()
    } else {
      const placed = this.#place(ref)
      if (placed !== 'placed') this.#scaled(from, placed)
      if (ref.lost) this.#grow()
    }
    this.#account()
    this.#checkDrained()
  }

  /** Releases one idle instance for the budget; false when it is no longer idle here. */
  evict(ref: InstanceRef): boolean {
    const i = this.#idle.findIndex((slot) => slot.ref === ref)
    if (i < 0) return false
    this.#idle.splice(i, 1)
    this.evictions++
    this.#destroy(ref)
    this.#scaled(this.size + 1, 'evicted')
    if (this.#state === 'retired' && this.size === 0) this.dispose()
    return true
  }

  /** True when a reservation of `reason` still has a use (the host asks before granting it). */
  wants(reason: ReserveReason): boolean {
    if (this.#state === 'released') return false
    if (reason === 'deploy') return true
    if (reason === 'demand') return this.#waiters.size > this.#making + this.#reserving - 1
    return this.#state === 'live'
  }

  /** One autoscaler tick (see autoscaler.ts). */
  autoscale(now: number): void {
    this.#dropLostIdle()
    if (this.#state !== 'live') return
    this.#account()
    this.forecast.observe(this.#concurrency.mean(now))
    const plan = planScale(
      {
        total: this.total,
        busy: this.#busy.size,
        waiting: this.#waiters.size,
        idleSince: this.#idle.map((slot) => slot.since),
      },
      this.forecast,
      this.options,
      now,
    )
    this.#target = plan.target
    if (plan.shrink > 0) {
      const from = this.size
      for (const slot of this.#idle.splice(0, plan.shrink)) this.#destroy(slot.ref)
      this.#scaled(from, 'idle')
    }
    const belowMin = Math.max(0, this.options.min - this.total)
    for (let i = 0; i < plan.grow; i++) void this.#spawn(i < belowMin ? 'min' : 'prewarm')
  }

  /**
   * Stops being the live version: queued and running calls finish, then the pool keeps `keep`
   * idle instances (a retired version, revivable) or releases everything. Resolves when drained.
   */
  retire(keep: number): Promise<void> {
    if (this.#state === 'released') return Promise.resolve()
    this.#state = 'draining'
    this.#keep = keep
    this.#drained ??= deferred()
    this.#trimIdle('retired')
    const done = this.#drained.promise
    this.#checkDrained()
    return done
  }

  /** Makes a retiring or retired pool live again (a redeploy of its version); false when released. */
  revive(): boolean {
    if (this.#state === 'released') return false
    this.#state = 'live'
    this.#drained?.resolve()
    this.#drained = undefined
    this.#lastUsed = this.#host.clock.now()
    return true
  }

  /** Lets go of everything now: waiting calls get `ERR_CLOSED`, idle instances are destroyed. */
  dispose(): void {
    if (this.#state === 'released') return
    this.#state = 'released'
    for (const waiter of [...this.#waiters]) {
      this.#waiters.delete(waiter)
      this.#host.clock.clearTimeout(waiter.timer)
      waiter.reject(new FnboxError('ERR_CLOSED', `function version ${this.name}@${this.version} was released`))
    }
    this.#account()
    for (const slot of this.#idle.splice(0)) this.#destroy(slot.ref)
    // Busy instances are destroyed as they come back (release → #place), then the threads
    // forget the version.
    this.#unloadWhenIdle()
    this.#drained?.resolve()
    this.#drained = undefined
    this.#host.disposed(this)
  }

  stats(): FunctionPoolStats {
    return {
      instances: this.size,
      idle: this.#idle.length,
      inUse: this.#busy.size,
      queued: this.#waiters.size,
      coldStarts: this.coldStarts,
      evictions: this.evictions,
      target: this.#target,
    }
  }

  /** Asks for instances for the calls waiting with none on its way, up to `max`. */
  #grow(): void {
    while (this.#waiters.size > this.#making + this.#reserving && this.total < this.options.max) {
      void this.#spawn('demand')
    }
  }

  async #spawn(reason: ReserveReason): Promise<void> {
    this.#reserving++
    let executor: PoolExecutor | undefined
    try {
      executor = await this.#host.reserve(this, reason)
    } catch (err) {
      this.#reserving--
      this.#failed(asFnboxError(err))
      return
    }
    this.#reserving--
    if (!executor) return
    await this.#make(executor, reason, false).catch(() => undefined)
  }

  /** Creates an instance on `executor` (room already counted) and hands it on. */
  async #make(executor: PoolExecutor, reason: ReserveReason, rethrow: boolean): Promise<{ ms: number }> {
    this.#making++
    this.#threads.add(executor)
    let created: { ref: InstanceRef; ms: number; restored: boolean }
    try {
      created = await executor.create(this.source)
    } catch (err) {
      this.#making--
      this.#host.freed(this, executor)
      const error = asFnboxError(err)
      if (rethrow) throw error
      this.#failed(error)
      this.#checkDrained()
      return { ms: 0 }
    }
    this.#making--
    this.coldStarts++
    if (reason !== 'deploy') this.#onCreate(created.ms, created.restored)
    const from = this.size
    const placed = this.#place(created.ref)
    this.#scaled(from, placed === 'placed' ? reason : placed)
    this.#checkDrained()
    return { ms: created.ms }
  }

  /**
   * An instance could not be made. When nothing can serve the waiting calls (no instance at
   * all, none on its way), they get the reason now rather than waiting for their timeout.
   */
  #failed(error: FnboxError): void {
    if (this.size > 0 || this.#making + this.#reserving > 0) return
    for (const waiter of [...this.#waiters]) {
      this.#waiters.delete(waiter)
      this.#host.clock.clearTimeout(waiter.timer)
      waiter.reject(error)
    }
    this.#account()
    this.#checkDrained()
  }

  /**
   * An instance free to serve goes to the first waiting call, else to the idle list; a lost one,
   * or one a retiring pool does not keep, is destroyed. Says which.
   */
  #place(ref: InstanceRef): 'placed' | 'lost' | 'retired' {
    if (ref.lost || this.#state === 'released') {
      this.#destroy(ref)
      if (this.#state === 'released') this.#unloadWhenIdle()
      return ref.lost ? 'lost' : 'retired'
    }
    const waiter = this.#waiters.values().next().value
    if (waiter) {
      this.#waiters.delete(waiter)
      this.#host.clock.clearTimeout(waiter.timer)
      this.#busy.add(ref)
      waiter.resolve(ref)
      return 'placed'
    }
    if (this.#state !== 'live' && this.#idle.length >= this.#keep) {
      this.#destroy(ref)
      return 'retired'
    }
    this.#idle.push({ ref, since: this.#host.clock.now() })
    this.#host.idled(this)
    return 'placed'
  }

  #takeIdle(): InstanceRef | undefined {
    for (;;) {
      const slot = this.#idle.pop()
      if (!slot) return undefined
      if (!slot.ref.lost) return slot.ref
      this.#destroy(slot.ref)
      this.#scaled(this.size + 1, 'lost')
    }
  }

  /** Idle instances whose thread died (restarted) are forgotten. */
  #dropLostIdle(): void {
    for (let i = this.#idle.length - 1; i >= 0; i--) {
      const slot = this.#idle[i]!
      if (!slot.ref.lost) continue
      this.#idle.splice(i, 1)
      this.#destroy(slot.ref)
      this.#scaled(this.size + 1, 'lost')
    }
  }

  #trimIdle(reason: ScaleReason): void {
    if (this.#idle.length <= this.#keep) return
    const from = this.size
    for (const slot of this.#idle.splice(0, this.#idle.length - this.#keep)) this.#destroy(slot.ref)
    this.#scaled(from, reason)
  }

  /** Destroys an instance already taken out of the idle list or the busy set. */
  #destroy(ref: InstanceRef): void {
    ref.executor.destroy(ref)
    this.#host.freed(this, ref.executor)
  }

  /** Reports a change of the instance count since it was `from`. */
  #scaled(from: number, reason: ScaleReason): void {
    if (this.size !== from) this.#host.scaled(this, from, this.size, reason)
  }

  /** A released version leaves the threads once its last call is back. */
  #unloadWhenIdle(): void {
    if (this.#busy.size > 0) return
    for (const thread of this.#threads) thread.unload(this.source.key)
    this.#threads.clear()
  }

  #timedOut(waiter: Waiter): void {
    if (!this.#waiters.delete(waiter)) return
    const ms = this.options.acquireTimeoutMs
    waiter.reject(
      new FnboxError(
        'ERR_QUEUE_FULL',
        `no instance of ${this.name} became free within pool.acquireTimeoutMs (${ms} ms)`,
        {
          retryAfterSeconds: this.serviceTime.retryAfterSeconds(this.#waiters.size, this.options.max, ms / 1000),
          details: { limit: ms },
        },
      ),
    )
    this.#account()
    this.#checkDrained()
  }

  /** Called after every change of the concurrency. */
  #account(): void {
    this.#concurrency.set(this.#host.clock.now(), this.#busy.size + this.#waiters.size)
  }

  #checkDrained(): void {
    if (this.#state !== 'draining') return
    if (this.#busy.size > 0 || this.#waiters.size > 0 || this.#making > 0 || this.#reserving > 0) return
    this.#trimIdle('retired')
    if (this.#idle.length === 0) {
      this.dispose()
      return
    }
    this.#state = 'retired'
    this.#drained?.resolve()
    this.#drained = undefined
    this.#host.drained(this)
  }
}

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void
  const promise = new Promise<void>((r) => (resolve = r))
  return { promise, resolve }
}

function asFnboxError(err: unknown): FnboxError {
  if (isFnboxError(err)) return err
  return new FnboxError('ERR_INTERNAL', 'could not create an instance', { cause: err })
}
