/**
 * Prometheus metrics with prom-client, in the registry the user passes or one of the runtime's.
 *
 * Why prom-client (a dependency, not hand-written text): it is what Node backends already scrape
 * (`register.metrics()`), so fnbox's series land beside the app's own in one registry, with the
 * exposition format, histogram buckets and label escaping done as Prometheus expects.
 *
 * Cost on the call path: the series a call updates are looked up once and kept (per function
 * version, trigger and outcome) and are plain numbers (see `series.ts` for why not prom-client's
 * own children there), so a call adds to objects it already holds. Gauges (instances, queue,
 * breakers, executors) are read from `runtime.stats()` at scrape time only.
 *
 * Label cardinality is bounded: `function` by the functions deployed; `version` only on
 * `fnbox_invocations_total`, and only the last {@link MAX_VERSIONS} versions of a function keep
 * series (an older version's series are removed when a newer one takes calls); `upstream` is a
 * declared upstream's name, else the host, up to {@link MAX_UPSTREAM_HOSTS} hosts, then `other`;
 * `outcome` is `ok`, an error code (a fixed set) or `client_gone` (the caller left first); `domain` and `operation` are the host SDK's.
 *
 * @internal
 * @module
 */
import { Gauge, Registry } from 'prom-client'
import { invalidOption } from '../errors.js'
import { FastCounter, FastHistogram, type CounterChild, type HistogramChild } from './series.js'

/** Versions of one function whose `fnbox_invocations_total` series are kept. */
export const MAX_VERSIONS = 3
/** Distinct undeclared upstream hosts named in `fnbox_egress_requests_total`; more count as `other`. */
export const MAX_UPSTREAM_HOSTS = 100

const DURATION_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30]
const WAIT_BUCKETS = [0.0001, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5]

/** The figures the scrape-time gauges read (a slice of `RuntimeStats`). */
export interface GaugeSource {
  functions: Record<
    string,
    {
      idle: number
      inUse: number
      queued: number
      draining: number
      breaker: { state: 'closed' | 'open' | 'halfOpen' } | null
    }
  >
  executors: { thread: number; instances: number; inflight: number; restarts: number }[]
  pool: { instances: number; memoryMb: number; memoryBudgetMb: number }
  load: { level: number } | null
}

/**
 * Options of the metrics (`createRuntime({ metrics })`).
 *
 * @public
 */
export interface MetricsOptions {
  /**
   * The prom-client `Registry` to register fnbox's metrics in (your app's, so one scrape serves
   * both). Default: a registry of the runtime's own; `runtime.metrics()` renders it either way.
   * One registry holds the metrics of one runtime.
   */
  registry?: Registry
}

const BREAKER_VALUE = { closed: 0, halfOpen: 1, open: 2 } as const

type Labels<K extends string> = Partial<Record<K, string | number>>

/** The children of one function version, looked up once. */
export class FunctionMetrics {
  readonly #metrics: Metrics
  readonly name: string
  readonly version: string
  /** By trigger, then outcome. */
  readonly #outcomes = new Map<string, Map<string, CounterChild>>()
  readonly #durations = new Map<string, HistogramChild>()
  readonly wait: HistogramChild
  readonly coldStarts: CounterChild
  readonly firstByte: HistogramChild

  constructor(metrics: Metrics, name: string, version: string) {
    this.#metrics = metrics
    this.name = name
    this.version = version
    this.wait = metrics.poolWait.labels({ function: name })
    this.coldStarts = metrics.coldStarts.labels({ function: name })
    this.firstByte = metrics.firstByte.labels({ function: name })
  }

  /** One finished (or refused) invocation. `seconds` undefined: it never ran. */
  invocation(trigger: string, outcome: string, seconds: number | undefined): void {
    let byOutcome = this.#outcomes.get(trigger)
    if (!byOutcome) this.#outcomes.set(trigger, (byOutcome = new Map()))
    let counter = byOutcome.get(outcome)
    if (!counter) {
      counter = this.#metrics.invocations.labels({ function: this.name, version: this.version, trigger, outcome })
      byOutcome.set(outcome, counter)
    }
    counter.value++
    if (seconds !== undefined) {
      let histogram = this.#durations.get(trigger)
      if (!histogram) {
        histogram = this.#metrics.duration.labels({ function: this.name, trigger })
        this.#durations.set(trigger, histogram)
      }
      histogram.observe(seconds)
    }
    if (outcome === 'ok') return
    if (outcome === 'ERR_OVERLOADED') this.#metrics.shed.inc({ function: this.name })
    else if (outcome === 'ERR_RATE_LIMITED') this.#metrics.quotaRejections.inc({ function: this.name })
  }

  /** An instance was created for the function. */
  coldStart(): void {
    this.coldStarts.value++
  }

  /** Removes this version's series (see MAX_VERSIONS). */
  remove(): void {
    for (const [trigger, byOutcome] of this.#outcomes) {
      for (const outcome of byOutcome.keys()) {
        this.#metrics.invocations.remove({ function: this.name, version: this.version, trigger, outcome })
      }
    }
    this.#outcomes.clear()
  }
}

export class Metrics {
  readonly registry: Registry
  readonly invocations: FastCounter
  readonly duration: FastHistogram
  readonly poolWait: FastHistogram
  readonly coldStarts: FastCounter
  readonly shed: FastCounter
  readonly quotaRejections: FastCounter
  readonly hostCalls: FastHistogram
  readonly egress: FastCounter
  readonly firstByte: FastHistogram
  readonly #hostChildren = new Map<string, HistogramChild>()
  readonly #versions = new Map<string, FunctionMetrics[]>()
  readonly #declaredOrigins: ReadonlyMap<string, string>
  readonly #hosts = new Set<string>()

  /**
   * @param source read at scrape time for the gauges
   * @param declaredOrigins upstream origin → its declared name
   */
  /**
   * @param jobCounts jobs by state, read at scrape time (undefined: storage not open yet, or a
   *   job store without counts)
   */
  constructor(
    options: MetricsOptions,
    source: () => GaugeSource,
    declaredOrigins: ReadonlyMap<string, string>,
    jobCounts: () => Promise<Partial<Record<string, number>> | undefined> = () => Promise.resolve(undefined),
  ) {
    const registry = options.registry ?? new Registry()
    if (typeof registry !== 'object' || registry === null || typeof registry.registerMetric !== 'function') {
      throw invalidOption('options.metrics.registry', 'a prom-client Registry', registry)
    }
    if (registry.getSingleMetric('fnbox_invocations_total')) {
      throw invalidOption(
        'options.metrics.registry',
        'a registry without fnbox metrics (it holds another runtime’s; give each runtime its own)',
        'a registry with fnbox_invocations_total',
      )
    }
    this.registry = registry
    this.#declaredOrigins = declaredOrigins
    const registers = [registry]
    this.invocations = new FastCounter(
      registry,
      'fnbox_invocations_total',
      'Invocations by function, version, trigger (http, call, job, background) and outcome (ok or the error code).',
    )
    this.duration = new FastHistogram(
      registry,
      'fnbox_invocation_duration_seconds',
      'Time from taking an instance to the end of the response (or result), in seconds.',
      DURATION_BUCKETS,
    )
    this.poolWait = new FastHistogram(
      registry,
      'fnbox_pool_wait_seconds',
      'Time an invocation waited for a warm instance, in seconds.',
      WAIT_BUCKETS,
    )
    this.coldStarts = new FastCounter(
      registry,
      'fnbox_cold_starts_total',
      'Instances created for a function (each evaluated its code or restored its snapshot).',
    )
    this.shed = new FastCounter(
      registry,
      'fnbox_shed_total',
      'Calls refused because the host was overloaded (ERR_OVERLOADED).',
    )
    this.quotaRejections = new FastCounter(
      registry,
      'fnbox_quota_rejections_total',
      'Calls refused by a quota or rate limit (ERR_RATE_LIMITED).',
    )
    this.hostCalls = new FastHistogram(
      registry,
      'fnbox_host_call_duration_seconds',
      'Guest calls of fnbox:host (kv, vector, files, tx) by domain and operation, in seconds.',
      WAIT_BUCKETS,
    )
    this.egress = new FastCounter(
      registry,
      'fnbox_egress_requests_total',
      'Guest fetches by upstream (declared name, else host) and status (HTTP status, or error).',
    )
    this.firstByte = new FastHistogram(
      registry,
      'fnbox_stream_first_byte_seconds',
      'Time from taking an instance to the first chunk of a streamed response, in seconds.',
      DURATION_BUCKETS,
    )
    this.#gauges(registers, source)
    new Gauge<'state'>({
      name: 'fnbox_jobs',
      help: 'Jobs in the job store by state (queued, running, completed, failed, dead, cancelled), shared by every host on one database.',
      labelNames: ['state'],
      registers,
      async collect() {
        // A scrape never opens the database, and a store that fails leaves the series out.
        const counts = await jobCounts().catch(() => undefined)
        this.reset()
        for (const [state, n] of Object.entries(counts ?? {})) if (n !== undefined) this.set({ state }, n)
      },
    })
  }

  #gauges(registers: Registry[], source: () => GaugeSource): void {
    const gauge = <K extends string>(
      name: string,
      help: string,
      labelNames: K[],
      fill: (set: (labels: Labels<K>, value: number) => void, stats: GaugeSource) => void,
    ): void => {
      new Gauge<K>({
        name,
        help,
        labelNames,
        registers,
        collect() {
          this.reset()
          fill((labels, value) => this.set(labels, value), source())
        },
      })
    }
    gauge(
      'fnbox_instances',
      'Warm instances by function and state (idle, in_use).',
      ['function', 'state'],
      (set, s) => {
        for (const [name, fn] of Object.entries(s.functions)) {
          set({ function: name, state: 'idle' }, fn.idle)
          set({ function: name, state: 'in_use' }, fn.inUse)
        }
      },
    )
    gauge('fnbox_queue_depth', 'Calls waiting for an instance, by function.', ['function'], (set, s) => {
      for (const [name, fn] of Object.entries(s.functions)) set({ function: name }, fn.queued)
    })
    gauge(
      'fnbox_draining_versions',
      'Replaced versions still finishing calls, by function.',
      ['function'],
      (set, s) => {
        for (const [name, fn] of Object.entries(s.functions)) set({ function: name }, fn.draining)
      },
    )
    gauge(
      'fnbox_breaker_state',
      'Circuit breaker of a function: 0 closed, 1 half-open, 2 open (no series when turned off).',
      ['function'],
      (set, s) => {
        for (const [name, fn] of Object.entries(s.functions)) {
          if (fn.breaker) set({ function: name }, BREAKER_VALUE[fn.breaker.state])
        }
      },
    )
    gauge('fnbox_executor_threads', 'Executor threads running guests.', [], (set, s) => set({}, s.executors.length))
    gauge('fnbox_executor_instances', 'Instances held by each executor thread.', ['thread'], (set, s) => {
      for (const e of s.executors) set({ thread: e.thread }, e.instances)
    })
    gauge('fnbox_executor_inflight', 'Invocations running on each executor thread.', ['thread'], (set, s) => {
      for (const e of s.executors) set({ thread: e.thread }, e.inflight)
    })
    gauge('fnbox_executor_restarts', 'Times each executor thread was replaced.', ['thread'], (set, s) => {
      for (const e of s.executors) set({ thread: e.thread }, e.restarts)
    })
    gauge(
      'fnbox_executor_memory_bytes',
      'Fixed memory of the sandbox modules of all threads (what the memory budget counts), in bytes.',
      [],
      (set, s) => set({}, s.pool.memoryMb * 1024 * 1024),
    )
    gauge('fnbox_memory_budget_bytes', 'pool.memoryBudgetMb, in bytes.', [], (set, s) =>
      set({}, s.pool.memoryBudgetMb * 1024 * 1024),
    )
    gauge(
      'fnbox_shed_level',
      'Load shedding level: 0 none, 1 low refused, 2 normal too, 3 all but critical.',
      [],
      (set, s) => set({}, s.load?.level ?? 0),
    )
  }

  /** The children of a version taking calls; the oldest of more than MAX_VERSIONS drop their series. */
  forFunction(name: string, version: string): FunctionMetrics {
    const list = this.#versions.get(name) ?? []
    const existing = list.find((m) => m.version === version)
    if (existing) return existing
    const created = new FunctionMetrics(this, name, version)
    list.push(created)
    while (list.length > MAX_VERSIONS) list.shift()!.remove()
    this.#versions.set(name, list)
    return created
  }

  /** A guest's `fnbox:host` call, e.g. `kv.get`. */
  hostCall(method: string, seconds: number): void {
    let child = this.#hostChildren.get(method)
    if (!child) {
      const dot = method.indexOf('.')
      const domain = dot < 0 ? method : method.slice(0, dot)
      const operation = dot < 0 ? '' : method.slice(dot + 1)
      child = this.hostCalls.labels({ domain, operation })
      this.#hostChildren.set(method, child)
    }
    child.observe(seconds)
  }

  /** A guest fetch answered `status` (a number), or failed (`error`). */
  egressRequest(url: string, status: number | 'error'): void {
    this.egress.inc({ upstream: this.#upstream(url), status: String(status) })
  }

  #upstream(url: string): string {
    let parsed: URL
    try {
      parsed = new URL(url)
    } catch {
      return 'other'
    }
    const declared = this.#declaredOrigins.get(parsed.origin)
    if (declared) return declared
    const host = parsed.host
    if (this.#hosts.has(host)) return host
    if (this.#hosts.size >= MAX_UPSTREAM_HOSTS) return 'other'
    this.#hosts.add(host)
    return host
  }

  text(): Promise<string> {
    return this.registry.metrics()
  }

  /** Takes fnbox's metrics out of the registry (the user's registry outlives the runtime). */
  close(): void {
    for (const name of this.registry.getMetricsAsArray().map((m) => m.name)) {
      if (name.startsWith('fnbox_')) this.registry.removeSingleMetric(name)
    }
  }
}
