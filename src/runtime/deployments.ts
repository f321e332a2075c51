/**
 * The version registry: which version of each function takes calls, which older ones still
 * drain (or stay retained, revivable with a warm instance), deploy and undeploy, and the
 * secrets a version was granted as they change.
 *
 * @internal
 * @module
 */
import { FnboxError } from '../errors.js'
import { preloadGuestFetch, parseAllowedHosts } from '../host/net/index.js'
import { SecretRedactor } from '../host/secrets/redact.js'
import type { FunctionSource } from '../pool/executor.js'
import type { FunctionPool } from '../pool/function-pool.js'
import { RecentWindow } from '../observability/window.js'
import { CircuitBreaker } from '../reliability/breaker.js'
import { FunctionQuota } from '../reliability/quota.js'
import { emitBreakerEvent, type RuntimeContext } from './context.js'
import { resolveDeploy, type DeployOptions, type Deployment } from './deploy-options.js'
import { deployError, mapStack, type FunctionVersion } from './function-version.js'
import type { BackgroundSpec } from '../triggers/jobs/background-options.js'

/** What deploys tell the background work (jobs, cron, hooks; see `triggers/jobs/runtime-jobs.ts`). */
export interface DeployListener {
  /** Throws when the deploy's tasks are another function's. Synchronous. */
  check(name: string, spec: BackgroundSpec | undefined): void
  /** `name` now runs `version`: resolves once its jobs and schedules are taken up. */
  set(name: string, version: string, spec: BackgroundSpec | undefined): Promise<void>
  remove(name: string): Promise<void>
}

let deploySeq = 0

export class Deployments {
  readonly #ctx: RuntimeContext
  /** The version of each function that takes calls. */
  readonly #current = new Map<string, FunctionVersion>()
  /** Replaced or undeployed versions still held: draining their calls, or retired and revivable. */
  readonly #held = new Map<string, Set<FunctionVersion>>()
  /** Quota counters by function name: they outlive versions. */
  readonly #quotas = new Map<string, FunctionQuota>()

  readonly #listener: DeployListener | undefined

  constructor(ctx: RuntimeContext, listener?: DeployListener) {
    this.#ctx = ctx
    this.#listener = listener
  }

  /** The current versions, one per function. */
  current(): IterableIterator<FunctionVersion> {
    return this.#current.values()
  }

  /** Every version loaded: the current ones and those held after a redeploy. */
  all(): FunctionVersion[] {
    return [...this.#current.values(), ...[...this.#held.values()].flatMap((set) => [...set])]
  }

  /** Versions of `name` that were replaced and still finish calls. */
  draining(name: string): number {
    let draining = 0
    for (const held of this.#held.get(name) ?? []) if (held.pool.state === 'draining') draining++
    return draining
  }

  /** The current version of `name`; `ERR_NOT_FOUND` when none, `ERR_CLOSED` after close. */
  get(name: string): FunctionVersion {
    this.#ctx.assertOpen()
    const fn = this.#current.get(name)
    if (!fn) {
      // A name comes from a client's path here: never echo more of it than a name can hold.
      const shown = name.length > 64 ? `${name.slice(0, 64)}…` : name
      throw new FnboxError('ERR_NOT_FOUND', `no function named ${JSON.stringify(shown)} is deployed`, {
        details: { function: shown },
      })
    }
    return fn
  }

  /** See `Runtime.deploy`. */
  async deploy(name: string, options: DeployOptions): Promise<Deployment> {
    const ctx = this.#ctx
    ctx.assertOpen()
    const d = await resolveDeploy(name, options, ctx.defaults)
    const { version, code, limits, pool, hosts, vouched, stacks } = d
    this.#listener?.check(name, d.background)
    // A function given destinations will fetch: its first fetch should not wait for undici to load.
    if ((d.restricted && hosts.length > 0) || vouched.length > 0) preloadGuestFetch()
    // One that imports the data domains will use them: its first calls should not wait seconds
    // for the database to start (PGlite's first start; 200 calls right after it timed out).
    if (code.includes('fnbox:host')) void ctx.storage().catch(() => undefined)
    const current = this.#current.get(name)
    if (current?.version === version) return { name, version }
    // A version deployed before and still held (draining or retired with a warm instance).
    const held = [...(this.#held.get(name) ?? [])].find((v) => v.version === version)
    if (held) this.#listener?.check(name, d.background)
    if (held && ctx.pools.revive(held.pool)) {
      this.#unhold(held)
      this.#attachPolicies(held)
      this.#current.set(name, held)
      if (current) void this.#retire(current)
      await this.#listener?.set(name, version, d.background)
      ctx.events.emit('deploy', { name, version, coldStartMs: 0 })
      return { name, version }
    }
    const allowedHosts = parseAllowedHosts(hosts, 'options.allowedHosts', vouched)

    // Unique per deployment, not per version: a version deployed again (concurrently, or while
    // its previous deployment drains) must not share thread-side state with the one retiring.
    const key = `${name}@${version}#${++deploySeq}`
    const secrets: Record<string, string> = {}
    if (d.grants.length > 0) {
      const store = (await ctx.storage()).secrets()
      for (const grant of d.grants) {
        const value = await store.get(grant)
        if (value !== undefined) secrets[grant] = value
      }
    }
    const source: FunctionSource = {
      key,
      name,
      version,
      code,
      filename: d.filename,
      limits: {
        memoryMb: limits.memoryMb,
        maxStackKb: limits.maxStackKb,
        maxResponseBytes: limits.maxResponseBytes,
        maxLogBytes: limits.maxLogBytes,
        instancesPerModule: pool.instancesPerModule,
      },
      secrets,
      redactor: new SecretRedactor(Object.values(secrets)),
    }
    const fn: FunctionVersion = {
      name,
      version,
      key,
      scope: d.scope,
      grants: d.grants,
      source,
      limits,
      allowedHosts,
      acquireWaits: new RecentWindow(),
      stacks,
      pool: ctx.pools.create(source, pool, { name, version }, (ms, restored) => {
        fn.metrics?.coldStart()
        ctx.events.emit('instance:create', { function: name, version, ms, restored })
      }),
      breakerOptions: d.breaker,
      breaker: undefined,
      quotaOptions: d.quota,
      quota: undefined as unknown as FunctionQuota,
      acquired: 0,
      priority: d.priority,
      upstreamGrants: new Set(d.upstreams),
      retry: d.retry,
      timeoutMs: Math.min(limits.timeoutMs, d.breaker?.timeoutMs ?? Infinity),
      metrics: ctx.obs.metrics?.forFunction(name, version),
    }
    let coldStartMs: number
    try {
      coldStartMs = await fn.pool.warmUp()
    } catch (err) {
      fn.pool.dispose()
      throw mapStack(stacks, deployError(name, err))
    }
    try {
      ctx.assertOpen()
      // Again, synchronously with the switch: a concurrent deploy may have claimed a task.
      this.#listener?.check(name, d.background)
    } catch (err) {
      fn.pool.dispose()
      throw err
    }
    this.#attachPolicies(fn)
    const previous = this.#current.get(name)
    this.#current.set(name, fn)
    ctx.pools.activate(fn.pool)
    if (previous) void this.#retire(previous)
    await this.#listener?.set(name, version, d.background)
    ctx.events.emit('deploy', { name, version, coldStartMs })
    return { name, version }
  }

  /** See `Runtime.undeploy`. */
  async undeploy(name: string): Promise<boolean> {
    const fn = this.#current.get(name)
    if (!fn) return false
    this.#current.delete(name)
    this.#quotas.delete(name)
    await this.#listener?.remove(name).catch(() => undefined)
    this.#ctx.events.emit('undeploy', { name, version: fn.version })
    await this.#retire(fn)
    return true
  }

  /** Sends a secret's new value to every loaded version granted it. */
  async secretChanged(name: string): Promise<void> {
    const affected = this.all().filter((fn) => fn.grants.includes(name))
    if (affected.length === 0) return
    const value = await (await this.#ctx.storage()).secrets().get(name)
    for (const fn of affected) {
      const next = { ...fn.source.secrets }
      if (value === undefined) delete next[name]
      else next[name] = value
      fn.source.secrets = next
      // Added before the thread can read it; a replaced value stays redacted too.
      if (value !== undefined) fn.source.redactor.add([value])
      for (const e of this.#ctx.executors) e.updateSecrets(fn.key, next)
    }
  }

  /** A retired version's pool let go of everything: forget it, and stop its breaker's timers. */
  released(pool: FunctionPool): void {
    for (const set of this.#held.values()) {
      for (const fn of set) {
        if (fn.pool !== pool) continue
        this.#unhold(fn)
        fn.breaker?.shutdown()
        fn.breaker = undefined
      }
    }
  }

  /** At close: no version takes calls any more. Returns every version that was loaded. */
  clear(): FunctionVersion[] {
    const versions = this.all()
    this.#current.clear()
    return versions
  }

  /** The version stops taking new calls; resolves once its queued and running calls are done. */
  #retire(fn: FunctionVersion): Promise<void> {
    let set = this.#held.get(fn.name)
    if (!set) this.#held.set(fn.name, (set = new Set()))
    set.add(fn)
    return this.#ctx.pools.retire(fn.pool)
  }

  /**
   * A version taking calls (new, or revived from the retained ones) gets its breaker, if it has
   * one, and the quota counters of its name (shared by its versions, kept across redeploys).
   */
  #attachPolicies(fn: FunctionVersion): void {
    if (fn.breakerOptions && !fn.breaker) {
      const { name, version } = fn
      const events = this.#ctx.events
      fn.breaker = new CircuitBreaker(`function ${name}`, fn.breakerOptions, {
        rotation: this.#ctx.rotation,
        clock: this.#ctx.defaults.clock,
        onState: (state, stats) => emitBreakerEvent(events, state, { target: 'function', name, version, stats }),
      })
    }
    let counters = this.#quotas.get(fn.name)
    if (counters) counters.configure(fn.quotaOptions)
    else this.#quotas.set(fn.name, (counters = new FunctionQuota(fn.name, fn.quotaOptions, this.#ctx.defaults.clock)))
    fn.quota = counters
  }

  #unhold(fn: FunctionVersion): void {
    const set = this.#held.get(fn.name)
    set?.delete(fn)
    if (set?.size === 0) this.#held.delete(fn.name)
  }
}
