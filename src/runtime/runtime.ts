/**
 * The facade: `createRuntime` and the `Runtime` class. It checks options, wires the engine's
 * parts together and delegates to them: deployments (the version registry), invocations (the
 * call path), stats. It holds no logic of its own beyond start and close.
 *
 * @module
 */
import { EventEmitter } from 'eventemitter3'
import { loadFunctions, type LoadOptions, type LoadResult } from '../dev/load.js'
import { FnboxError } from '../errors.js'
import type { RuntimeEvents } from '../events.js'
import { DEFAULT_SCOPE } from '../host/domains/clients.js'
import { FilesClientImpl, type FilesClient } from '../host/files/client.js'
import { KvClientImpl, type KvClient } from '../host/kv/client.js'
import { SecretsClientImpl, type SecretsClient } from '../host/secrets/client.js'
import { VectorClientImpl, type VectorClient } from '../host/vector/client.js'
import { createGuardedFetch } from '../host/net/index.js'
import { guestClockOf } from '../pool/guest-clock.js'
import { testDispatcherOf } from '../testing/hooks.js'
import { Executor } from '../pool/executor.js'
import { PoolManager } from '../pool/pool-manager.js'
import { createExpressMiddleware, type ExpressMiddleware } from '../triggers/http/express.js'
import { createKoaMiddleware, type KoaMiddleware, type KoaMountOptions } from '../triggers/http/koa.js'
import type { MountServe } from '../triggers/http/mount-options.js'
import type { HttpMountOptions } from '../triggers/http/node-http.js'
import { Observability } from '../observability/index.js'
import { checkHealth, healthRoute, type HealthReport } from '../observability/health.js'
import type { Backend } from '../storage/backend.js'
import { BucketRotation } from '../reliability/breaker.js'
import { Egress } from '../reliability/egress.js'
import { LoadShedder, ProcessLoadProbe } from '../reliability/shedding.js'
import { emitBreakerEvent, type RuntimeContext } from './context.js'
import type { DeployOptions, Deployment } from './deploy-options.js'
import { Deployments } from './deployments.js'
import { Invocations } from './invocation.js'
import { resolveRuntimeOptions, type RuntimeOptions } from './runtime-options.js'
import { collectStats, type RuntimeStats } from './stats.js'
import type { HooksClient, JobsClient } from '../triggers/jobs/clients.js'
import { Background, jobStore } from '../triggers/jobs/runtime-jobs.js'
import { announceSecretChange, listenSecretChanges } from '../host/secrets/notify.js'

/** Options of {@link Runtime.close}. @public */
export interface CloseOptions {
  /** Calls in flight get this long to finish, in ms, before the threads are stopped. Default 10000. */
  timeoutMs?: number
}

/**
 * The second argument of {@link Runtime.fetch}: what global `fetch` takes (`method`, `headers`,
 * `body`, ...). @public
 */
export interface FetchOptions extends RequestInit {
  /** Aborting it cancels the invocation (the guest's `request.signal` aborts). */
  signal?: AbortSignal | null
}

/**
 * A runtime: executor threads, deployed functions and their warm pools. Create it with
 * {@link createRuntime}.
 *
 * @public
 */
export class Runtime extends EventEmitter<RuntimeEvents> {
  readonly #ctx: RuntimeContext
  readonly #deployments: Deployments
  readonly #invocations: Invocations
  readonly #executors: Executor[] = []
  readonly #net: ReturnType<typeof createGuardedFetch>
  readonly #restarts = new Map<number, number>()
  #closed: Promise<void> | undefined
  readonly #openBackend: () => Promise<Backend>
  #backend: Promise<Backend> | undefined
  readonly #rotation: BucketRotation
  readonly #egress: Egress
  readonly #shedder: LoadShedder | undefined
  readonly #loadProbe: ProcessLoadProbe | undefined
  /** Detaches the threads from a manual clock driving guest time (fnbox/testing). */
  readonly #detachClock: (() => void) | undefined
  readonly #pools: PoolManager
  readonly #obs: Observability

  /** The key-value store of the `'default'` data scope (`.scope(name)` for others). */
  readonly kv: KvClient
  /** Vector indexes of the `'default'` data scope, and their management. */
  readonly vector: VectorClient
  /** Files of the `'default'` data scope. */
  readonly files: FilesClient
  /** Secrets: set, delete and list names; functions read those granted to them. */
  readonly secrets: SecretsClient
  /** Durable jobs: enqueue, get, cancel, list (see the README's "Background work"). */
  readonly jobs: JobsClient
  /** App and database hooks: run, emit, watchTable. */
  readonly hooks: HooksClient
  readonly #background: Background

  /** @internal Use {@link createRuntime}. */
  constructor(options: RuntimeOptions = {}, workerUrl: URL) {
    super()
    const opts = resolveRuntimeOptions(options)
    const clock = opts.clock
    this.#rotation = new BucketRotation(clock)
    const declared = new Map([...opts.upstreams.values()].map((u) => [u.origin, u.name]))
    this.#obs = new Observability(
      options,
      this,
      () => this.stats(),
      declared,
      clock,
      () => this.#jobCounts(),
    )
    this.#net = createGuardedFetch({ dispatcher: testDispatcherOf(options) })
    this.#openBackend = opts.openBackend
    const backend = (): Promise<Backend> => this.#storage()
    this.kv = new KvClientImpl(backend, DEFAULT_SCOPE)
    this.vector = new VectorClientImpl(backend, DEFAULT_SCOPE)
    this.files = new FilesClientImpl(backend, DEFAULT_SCOPE)
    this.secrets = new SecretsClientImpl(backend, async (name) => {
      // Hosts sharing a server Postgres hear it too (a NOTIFY of the name).
      await announceSecretChange(await this.#storage(), name)
      await this.#secretChanged(name)
    })
    this.#background = new Background(
      {
        storage: backend,
        clock,
        run: (name, exportName, args, run) => this.#invocations.background(name, exportName, args, run),
        onJobStart: (job, fn) =>
          this.emit('job:start', { id: job.id, task: job.task, attempt: job.attempt, function: fn }),
        onJobEnd: (job, fn, end) =>
          this.emit('job:end', {
            id: job.id,
            task: job.task,
            attempt: job.attempt,
            function: fn,
            outcome: end.kind,
            error: 'error' in end ? end.error : undefined,
          }),
        onError: (error, during) => this.emit('jobs:error', { error, during }),
      },
      opts.jobs,
    )
    this.jobs = this.#background.jobs
    this.hooks = this.#background.hooks
    this.#egress = new Egress({
      net: this.#net,
      defaults: opts.egress,
      upstreams: opts.upstreams,
      readSecret: async (name) => (await this.#storage()).secrets().get(name),
      rotation: this.#rotation,
      clock,
      onBreaker: (upstream, state, stats) =>
        emitBreakerEvent(this, state, { target: 'upstream', name: upstream, version: undefined, stats }),
      onCredential: (event) => this.emit('upstream:credential', event),
    })
    if (opts.shedding) {
      const probe = new ProcessLoadProbe(() => {
        let queued = 0
        for (const fn of this.#deployments.current()) queued += fn.pool.stats().queued
        return queued
      })
      this.#loadProbe = probe
      this.#shedder = new LoadShedder(opts.shedding, {
        sample: () => probe.sample(),
        clock,
        onLevel: (event) => this.emit('load:level', event),
      })
    }
    const { limits, threads } = opts
    this.#pools = new PoolManager({ ...opts.budget, clock, blankMemoryMb: limits.memoryMb }, () => this.#executors, {
      scaled: ({ pool, from, to, reason }) => {
        if (this.listenerCount('pool:scale') === 0) return
        const target = pool.stats().target
        this.emit('pool:scale', { function: pool.name, version: pool.version, from, to, reason, target })
      },
      released: (pool) => this.#deployments.released(pool),
    })
    const guestClock = guestClockOf(clock)
    this.#detachClock = guestClock?.attach(() => this.#executors)
    for (let i = 0; i < threads; i++) {
      this.#executors.push(
        new Executor(
          i,
          workerUrl,
          limits.memoryMb,
          this.#pools.blankTarget(i, threads),
          {
            restarted: (executor, reason) => {
              this.#restarts.set(executor.index, (this.#restarts.get(executor.index) ?? 0) + 1)
              this.emit('executor:restart', { thread: executor.index, reason })
            },
            snapshot: (_executor, source, snapshot) => {
              this.emit('snapshot', {
                function: source.name,
                version: source.version,
                bytes: snapshot.data.byteLength,
                evaluateMs: snapshot.evaluateMs,
                takeMs: snapshot.takeMs,
              })
            },
          },
          guestClock?.buffer,
        ),
      )
    }
    this.#ctx = {
      events: this,
      defaults: opts,
      executors: this.#executors,
      pools: this.#pools,
      egress: this.#egress,
      rotation: this.#rotation,
      shedder: this.#shedder,
      obs: this.#obs,
      storage: () => this.#storage(),
      assertOpen: () => this.#assertOpen(),
    }
    this.#deployments = new Deployments(this.#ctx, this.#background)
    this.#invocations = new Invocations(this.#ctx, this.#deployments, (method, args) => {
      if (method === 'jobs.enqueue') args.context = this.#background.context(args.task)
    })
  }

  /** @internal */
  async start(): Promise<void> {
    await Promise.all(this.#executors.map((e) => e.ready))
  }

  /** Jobs by state for the `fnbox_jobs` gauge, once storage is open (a scrape never opens it). */
  async #jobCounts(): Promise<Partial<Record<string, number>> | undefined> {
    if (!this.#backend || this.#closed) return undefined
    return jobStore(await this.#backend).counts?.()
  }

  /** The storage backend, opened on first use (PGlite takes seconds to start: only if needed). */
  #storage(): Promise<Backend> {
    if (this.#closed) return Promise.reject(new FnboxError('ERR_CLOSED', 'the runtime is closed'))
    this.#backend ??= this.#openBackend().then(
      async (opened) => {
        // Hosts sharing a server Postgres: a secret another host sets reaches this one's functions.
        // Listening before the storage is handed out: a deploy reads its secrets' values from it,
        // and a change between that read and a later LISTEN would never reach its functions.
        const granted = (): string[] => [...new Set(this.#deployments.all().flatMap((fn) => fn.grants))]
        await listenSecretChanges(opened, (name) => this.#secretChanged(name), granted).catch(() => undefined)
        return opened
      },
      (err: unknown) => {
        this.#backend = undefined // a later call may retry (the database may come up)
        throw err
      },
    )
    return this.#backend
  }

  /** Sends a secret's new value to the upstreams using it and every loaded version granted it. */
  async #secretChanged(name: string): Promise<void> {
    this.#egress.secretChanged(name)
    await this.#deployments.secretChanged(name)
  }

  #assertOpen(): void {
    if (this.#closed) throw new FnboxError('ERR_CLOSED', 'the runtime is closed')
  }

  /**
   * Deploys (or redeploys) a function. Resolves once its first instance is warm, so a function
   * that does not compile, or whose top-level code throws, fails here with `ERR_DEPLOY_FAILED`.
   * Redeploying swaps versions: calls in flight finish on the old one, which then drains.
   *
   * @example
   * ```ts
   * const { version } = await runtime.deploy('hello', {
   *   code: `export default { fetch: (req) => new Response('hi from ' + new URL(req.url).pathname) }`,
   *   limits: { timeoutMs: 5000 },
   * })
   * ```
   */
  deploy(name: string, options: DeployOptions): Promise<Deployment> {
    return this.#deployments.deploy(name, options)
  }

  /** Removes a function; calls in flight finish first. Resolves false when it was not deployed. */
  undeploy(name: string): Promise<boolean> {
    return this.#deployments.undeploy(name)
  }

  /**
   * Calls a named export of a function with JSON-serialisable arguments; resolves with its JSON
   * result. Rejects with a {@link FnboxError} (`ERR_NOT_FOUND`, `ERR_TIMEOUT`,
   * `ERR_GUEST_EXCEPTION`, ...). With a `retry` policy (deploy or runtime option), the failures
   * it lists are retried with backoff; the last one is thrown.
   *
   * @example
   * ```ts
   * await runtime.deploy('math', { code: `export const add = (a, b) => a + b` })
   * const sum = await runtime.call<number>('math', 'add', 2, 3) // 5
   * ```
   */
  call<T = unknown>(name: string, exportName: string, ...args: unknown[]): Promise<T> {
    // Not async: the promise is the invocation's own (an async wrapper would cost a promise and
    // three microtask turns per call). It never throws; every failure rejects.
    return this.#invocations.call<T>(name, exportName, args)
  }

  /**
   * Serves a request as global `fetch` takes one (a URL string, a `URL` or a `Request`, and
   * `init`): the first path segment names the function (`/hello/...` → `hello`), which sees the
   * URL relative to it (`http://x/hello/a?b=1` is `http://x/a?b=1`, see `ctx.mountPath`).
   * Always resolves to a `Response`; failures map to their HTTP status (404 unknown function,
   * 413 body too large, 503 + `Retry-After` queue full, 504 timeout, 500 guest exception). A URL
   * that is not absolute rejects with `ERR_INVALID_ARGUMENT`.
   *
   * @example
   * ```ts
   * const res = await runtime.fetch('http://localhost/hello?name=Ada')
   * const posted = await runtime.fetch('http://localhost/notes', { method: 'POST', body: 'hi' })
   * console.log(res.status, await res.text())
   * ```
   */
  async fetch(input: string | URL | Request, init?: FetchOptions): Promise<Response> {
    let request: Request
    try {
      request = input instanceof Request && init === undefined ? input : new Request(input, init)
    } catch (err) {
      throw new FnboxError(
        'ERR_INVALID_ARGUMENT',
        `runtime.fetch takes an absolute URL (http://host/<function>/...), a URL or a Request: ${(err as Error).message}`,
        { details: { value: String(input).slice(0, 200) } },
      )
    }
    const path = new URL(request.url).pathname
    return this.#invocations.serve(request, path, init?.signal ?? undefined, false)
  }

  /**
   * Deploys the functions a folder's `fnbox.json` names, as `fnbox dev` serves them: each entry
   * bundled (all before any deploy: a syntax error anywhere deploys nothing) and deployed with
   * its manifest settings. Loading the folder again swaps changed functions to their new
   * version and leaves unchanged ones. The same as {@link loadFunctions}`(runtime, dir, options)`.
   *
   * @throws FnboxError `ERR_NOT_FOUND` (no manifest), `ERR_INVALID_OPTION` naming the manifest's
   * field, `ERR_DEPLOY_FAILED` (a bundling error with file and line, or top-level code threw).
   * @example
   * ```ts
   * const { functions } = await runtime.load('./functions')
   * console.log(functions.map((f) => `${f.name}@${f.version}`).join(', '))
   * ```
   */
  load(dir: string, options?: LoadOptions): Promise<LoadResult> {
    return loadFunctions(this, dir, options)
  }

  /**
   * Express middleware serving every function under the mount path: `app.use('/fn', runtime.express())`
   * serves `/fn/<function>/...`. The mount owns its path: an unknown function gets 404, not `next()`.
   *
   * @example
   * ```ts
   * const app = express()
   * app.use('/fn', runtime.express({ maxRequestBytes: 256 * 1024 }))
   * ```
   */
  express(options?: HttpMountOptions): ExpressMiddleware {
    return createExpressMiddleware(this.#mountServe(options), options, this.#ctx.defaults.clock)
  }

  /**
   * Koa middleware: `app.use(runtime.koa({ prefix: '/fn' }))` serves `/fn/<function>/...` and
   * passes other paths to the next middleware.
   *
   * @example
   * ```ts
   * const app = new Koa()
   * app.use(runtime.koa({ prefix: '/fn' }))
   * ```
   */
  koa(options?: KoaMountOptions): KoaMiddleware {
    return createKoaMiddleware(this.#mountServe(options), options, this.#ctx.defaults.clock)
  }

  /** What the mounts serve: the health route, else the function the path names. */
  #mountServe(options: HttpMountOptions | undefined): MountServe {
    const health = healthRoute(options?.healthPath, () => this.health())
    return {
      serve: (request, path, signal) => health?.(request, path) ?? this.#invocations.serve(request, path, signal, true),
    }
  }

  /**
   * Figures per function (version, instances, idle, in use, queued, cold starts, evictions,
   * the autoscaler's target, acquire wait), per thread, and of the global budget.
   *
   * @example
   * ```ts
   * const { functions, pool } = runtime.stats()
   * console.log(functions.hello?.idle, `${pool.instances}/${pool.maxTotalInstances}`)
   * ```
   */
  stats(): RuntimeStats {
    return collectStats(this.#ctx, this.#deployments, this.#restarts)
  }

  /**
   * The Prometheus exposition text of the runtime's metrics (of the whole registry when you
   * passed yours); `''` when metrics are off. The README's Observability section lists the
   * metrics, their labels and how their cardinality is bounded.
   *
   * @example
   * ```ts
   * app.get('/metrics', async (_req, res) => res.type('text/plain').send(await runtime.metrics()))
   * ```
   */
  async metrics(): Promise<string> {
    return (await this.#obs.metrics?.text()) ?? ''
  }

  /**
   * Readiness: `ok`, `degraded` (a breaker open, load being shed, a queue 80% full) or `down`
   * (closed, no executor thread, storage failing to open, or shedding all but critical calls),
   * with each check's figures. The mounts serve it at their `healthPath`.
   *
   * @example
   * ```ts
   * const { status, checks } = await runtime.health()
   * if (status !== 'ok') console.warn(checks)
   * ```
   */
  async health(): Promise<HealthReport> {
    let storage: { ok: boolean; error?: string } | undefined
    if (this.#backend && !this.#closed) {
      storage = await this.#backend.then(
        () => ({ ok: true }),
        (err: unknown) => ({ ok: false, error: err instanceof Error ? err.message : String(err) }),
      )
    }
    const stats = this.stats()
    return checkHealth({ closed: this.#closed !== undefined, stats, storage, pool: this.#ctx.defaults.pool })
  }

  /**
   * Stops taking calls, lets queued calls and calls in flight finish (up to `timeoutMs`), then
   * stops the threads: what is still waiting or running then fails with `ERR_CLOSED`. Calls
   * after `close()` fail with `ERR_CLOSED`. Idempotent.
   */
  close(options: CloseOptions = {}): Promise<void> {
    this.#closed ??= (async () => {
      const timeoutMs = options.timeoutMs ?? 10_000
      // Running jobs finish (or go back to the queue) while the pools still serve them.
      await this.#background.close(timeoutMs).catch(() => undefined)
      const versions = this.#deployments.clear()
      await this.#pools.close(timeoutMs)
      await Promise.all(this.#executors.map((e) => e.close()))
      this.#detachClock?.()
      this.#shedder?.stop()
      this.#loadProbe?.close()
      for (const fn of versions) fn.breaker?.shutdown()
      this.#egress.close()
      this.#rotation.close()
      this.#obs.metrics?.close()
      await this.#net.close()
      const backend = this.#backend
      this.#backend = undefined
      if (backend) await (await backend.catch(() => undefined))?.close()
    })()
    return this.#closed
  }

  /** `await using runtime = await createRuntime()` closes it at the end of the scope. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.close()
  }
}

/**
 * Creates a runtime and starts its executor threads.
 *
 * @example
 * ```ts
 * import { createRuntime } from 'fnbox'
 *
 * const runtime = await createRuntime({ limits: { memoryMb: 64, timeoutMs: 5000 } })
 * await runtime.deploy('hello', { code: `export default { fetch: () => new Response('hi') }` })
 * const res = await runtime.fetch(new Request('http://localhost/hello'))
 * console.log(await res.text()) // "hi"
 * await runtime.close()
 * ```
 * @public
 */
export async function createRuntime(options: RuntimeOptions = {}): Promise<Runtime> {
  const runtime = new Runtime(options, workerUrl())
  try {
    await runtime.start()
  } catch (err) {
    await runtime.close().catch(() => undefined)
    throw err
  }
  return runtime
}

/** The executor entry sits next to this bundle in `dist/` (ESM build used by both formats). */
function workerUrl(): URL {
  return new URL('./worker.js', import.meta.url)
}
