/**
 * The warm-instance pool of one function version, on generic-pool. Instances live in executor
 * threads; the pool holds {@link InstanceRef}s and places new ones on the least loaded thread.
 *
 * @internal
 * @module
 */
import genericPool, { type Pool } from 'generic-pool'
import { FnboxError } from '../errors.js'
import type { PoolOptions } from '../options.js'
import { ServiceTime } from '../reliability/retry-after.js'
import type { Executor, FunctionSource, InstanceRef } from './executor.js'

export interface FunctionPoolStats {
  instances: number
  idle: number
  inUse: number
  queued: number
}

export class FunctionPool {
  readonly source: FunctionSource
  readonly options: PoolOptions
  readonly #pool: Pool<InstanceRef>
  readonly #executors: () => readonly Executor[]
  /** Instances created before the pool asked for them (the one `deploy` made); used first. */
  readonly #seeds: InstanceRef[] = []
  readonly #onCreate: (ms: number, restored: boolean) => void
  /** How long calls hold an instance: the basis of Retry-After. */
  readonly serviceTime = new ServiceTime()
  #draining: Promise<void> | undefined

  constructor(
    source: FunctionSource,
    options: PoolOptions,
    executors: () => readonly Executor[],
    onCreate: (ms: number, restored: boolean) => void,
  ) {
    this.source = source
    this.options = options
    this.#executors = executors
    this.#onCreate = onCreate
    this.#pool = genericPool.createPool<InstanceRef>(
      {
        create: async () => {
          const seed = this.#seeds.shift()
          if (seed) return seed
          const { ref, ms, restored } = await this.#pick().create(this.source)
          this.#onCreate(ms, restored)
          return ref
        },
        destroy: async (ref) => {
          ref.executor.destroy(ref)
        },
      },
      {
        min: options.min,
        max: options.max,
        idleTimeoutMillis: options.idleTimeoutMs,
        evictionRunIntervalMillis: Math.min(options.idleTimeoutMs, 1000),
        numTestsPerEvictionRun: options.max,
        acquireTimeoutMillis: options.acquireTimeoutMs,
        // Lost instances are dropped after acquire (below): generic-pool's validation would hold
        // resources in a state that is neither available nor borrowed, blurring the queue count.
        testOnBorrow: false,
        // Started by warmUp's first acquire, once the seed is in: pool.min then counts it.
        autostart: false,
      },
    )
  }

  /** Creates the first instance directly, so a broken function fails `deploy` itself. */
  async warmUp(): Promise<number> {
    const { ref, ms } = await this.#pick().create(this.source)
    this.#seeds.push(ref)
    // Hand it to the pool now so it is counted and reused by the first call.
    const got = await this.#pool.acquire()
    await this.#pool.release(got)
    return ms
  }

  /**
   * Where a new instance goes: the least loaded thread (fewest instances, then fewest calls in
   * flight), so functions spread over the threads and a stuck guest holds up as few as possible;
   * between equally loaded threads, one holding a blank engine that fits (its module is ready).
   */
  #pick(): Executor {
    const { key, limits } = this.source
    let best: Executor | undefined
    let bestScore = Infinity
    for (const e of this.#executors()) {
      const blank = e.hasBlank(limits.memoryMb) && e.instancesOf(key) === 0
      const score = e.size * 1000 + e.inflight * 2 + (blank ? 0 : 1)
      if (score < bestScore) {
        best = e
        bestScore = score
      }
    }
    if (!best) throw new FnboxError('ERR_CLOSED', 'no executor threads')
    return best
  }

  async acquire(): Promise<InstanceRef> {
    // Calls that cannot be served at once (this one included), were it queued now. generic-pool's
    // own maxWaitingClients also counts calls about to get an idle or fresh instance.
    const waiting = this.#pool.pending + 1 - (this.#pool.max - this.#pool.borrowed)
    if (waiting > this.options.maxQueue) {
      throw new FnboxError(
        'ERR_QUEUE_FULL',
        `function ${this.source.key} has ${waiting - 1} calls waiting (pool.maxQueue ${this.options.maxQueue})`,
        {
          retryAfterSeconds: this.serviceTime.retryAfterSeconds(waiting - 1, this.options.max),
          details: { limit: this.options.maxQueue, value: waiting - 1 },
        },
      )
    }
    try {
      for (;;) {
        const ref = await this.#pool.acquire()
        if (ref.lost) {
          await this.#pool.destroy(ref)
          continue
        }
        return ref
      }
    } catch (err) {
      if (err instanceof FnboxError) throw err
      const message = err instanceof Error ? err.message : String(err)
      const name = this.source.key
      if (/timed out/i.test(message)) {
        throw new FnboxError(
          'ERR_QUEUE_FULL',
          `no instance of ${name} became free within pool.acquireTimeoutMs (${this.options.acquireTimeoutMs} ms)`,
          {
            retryAfterSeconds: this.serviceTime.retryAfterSeconds(
              this.#pool.pending,
              this.options.max,
              this.options.acquireTimeoutMs / 1000,
            ),
            details: { limit: this.options.acquireTimeoutMs },
          },
        )
      }
      if (/draining|cannot accept work/i.test(message)) {
        throw new FnboxError('ERR_CLOSED', `function version ${name} is retired`)
      }
      throw new FnboxError('ERR_INTERNAL', `could not acquire an instance of ${name}`, { cause: err })
    }
  }

  /** Returns an instance; a lost or discarded one is destroyed instead. */
  release(ref: InstanceRef): void {
    const done = ref.lost ? this.#pool.destroy(ref) : this.#pool.release(ref)
    done.catch(() => undefined)
  }

  stats(): FunctionPoolStats {
    return {
      instances: this.#pool.size,
      idle: this.#pool.available,
      inUse: this.#pool.borrowed,
      queued: this.#pool.pending,
    }
  }

  /** Stops taking calls, lets borrowed instances come back, then frees them all. */
  drain(): Promise<void> {
    this.#draining ??= (async () => {
      await this.#pool.drain()
      await this.#pool.clear()
      for (const seed of this.#seeds.splice(0)) seed.executor.destroy(seed)
      for (const e of this.#executors()) e.unload(this.source.key)
    })()
    return this.#draining
  }
}
