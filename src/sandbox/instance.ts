/**
 * One sandbox instance: a QuickJS runtime + context inside a module cell, holding one function's
 * evaluated ES module, running one invocation at a time. Lives in an executor thread.
 *
 * Why invocations are watched by polling the promise state after each pump rather than with
 * `ctx.resolvePromise`: polling creates no extra handles, and a handle left alive when an instance
 * is discarded makes `JS_FreeRuntime` abort the whole module.
 *
 * @internal
 * @module
 */
import type { QuickJSContext, QuickJSHandle, QuickJSRuntime } from 'quickjs-emscripten-core'
import type { SerializedFnboxError } from '../errors.js'
import { InvocationBudget, type InvocationLimits } from '../reliability/deadline.js'
import type { GuestResponseMeta, LogLevel, NativeHooks } from './bridge-types.js'
import { enterGuest, leaveGuest } from './guest-slot.js'
import { SandboxMemoryExhausted, takeExhausted, type ModuleCell } from './module-cell.js'
import { GuestError, installNatives, type NativesHandle } from './natives.js'
import preludeSource from './prelude/index.js?guest'
import { INIT_TIMEOUT_MS, transferable, type HostCall, type HostReplyValue, type ToExecutor } from './protocol.js'
import {
  adoptHandle,
  adoptRuntime,
  cachedHandlesInUse,
  contextPointers,
  contextScratch,
  emscriptenModule,
  freeOrphanValue,
} from './quickjs-internals.js'
import { randomState, reseedRandom, type EngineLayout, type InstanceImage, type Snapshot } from './snapshot.js'

/** What an instance reports back to its executor thread (and so to the main thread). */
export interface InvocationSink {
  respond(meta: GuestResponseMeta, body: Uint8Array | undefined): void
  /** Resolves when the host may take another chunk. */
  chunk(data: Uint8Array): Promise<void>
  /** The streamed body is complete. */
  end(): void
  log(level: LogLevel, message: string): void
  host(req: HostCall): Promise<HostReplyValue>
  hostFire(req: HostCall): void
}

export type InvokeCall = Extract<ToExecutor, { t: 'invoke' }>['call']

export interface InvokeOutcome {
  result: string | undefined
}

/**
 * A failed invocation; `discard` says the instance must not be reused, `condemn` that its whole
 * module must not (a host exception unwound through the module's frames, which leaves its stack
 * pointer and whatever the C code was doing behind).
 */
export class InvocationFailure extends Error {
  constructor(
    readonly error: SerializedFnboxError,
    readonly discard: boolean,
    readonly condemn = false,
  ) {
    super(error.message)
  }
}

interface Running {
  inv: number
  promise: QuickJSHandle
  /** Its wall-clock limits by phase (head, stream, waitUntil) and its CPU limit. */
  budget: InvocationBudget
  /** Fires at the budget's next wall-clock limit (awaits included). */
  timer: NodeJS.Timeout | undefined
  /** Time the guest has run in the module during this invocation, in ms (see `#enter`). */
  cpu: number
  sink: InvocationSink
  resolve: (outcome: InvokeOutcome) => void
  reject: (failure: InvocationFailure) => void
  responseBytes: number
  logBytes: number
  logTruncated: boolean
  /**
   * What ended the invocation, recorded where it was found (a limit in the interrupt handler, the
   * memory running out, a response too large inside a native call): reported whatever the guest
   * did next, since a guest may catch what it was thrown and throw something else.
   */
  failure?: InvocationFailure
  /** Per fetched body, the next chunk already asked of the host (see {@link readAhead}). */
  ahead?: Map<number, Promise<Uint8Array | undefined>>
}

function readChunk(r: Running, bodyId: number): Promise<Uint8Array | undefined> {
  return r.sink.host({ op: 'bodyRead', bodyId }).then((reply) => {
    if (reply.op !== 'bodyRead') throw new TypeError('body read failed')
    return reply.chunk ? new Uint8Array(reply.chunk) : undefined
  })
}

/**
 * Asks the host for a fetched body's next chunk before the guest does, one chunk ahead. A chunk
 * that arrived while the guest was busy is then waiting in this thread when it reads, instead of
 * one round trip to the main thread away (~0.1-0.4 ms, more under load). The host still reads
 * the upstream only as fast as the guest consumes, give or take that one chunk.
 */
function readAhead(r: Running, bodyId: number): void {
  const next = readChunk(r, bodyId)
  next.catch(() => undefined) // a read the guest never takes (cancelled, invocation over) may fail unseen
  ;(r.ahead ??= new Map()).set(bodyId, next)
}

/** Live timers one instance may hold: each is a host timer, so a guest loop must not pile them up. */
export const MAX_TIMERS = 10_000
/** The host SDK's virtual module; its exports come from the prelude's `host` chunk. */
const HOST_MODULE_NAME = 'fnbox:host'
const HOST_MODULE_SOURCE = `const host = globalThis[Symbol.for('fnbox.host')]
export const { kv, vector, jobs, files, secrets, tx, utils } = host
export default host
`
/** What one console line counts against maxLogBytes beyond its text: empty lines cost too. */
const LOG_LINE_OVERHEAD = 16

export class Instance {
  /** Assigned when the instance is handed to a function (a prepared blank has none yet). */
  id = 0
  cell: ModuleCell
  #runtime: QuickJSRuntime | undefined
  #ctx: QuickJSContext | undefined
  #entry: QuickJSHandle | undefined
  /** The entry's methods, looked up once. */
  readonly #methods = new Map<string, QuickJSHandle>()
  #natives: NativesHandle | undefined
  #timers = new Map<number, NodeJS.Timeout>()
  #nextTimer = 1
  /** Interrupt the guest once `Date.now()` passes this (0: no deadline). */
  #deadline = 0
  #running: Running | undefined
  #disposed = false
  #pumping = false
  /** Nesting of entries into the module (see {@link enter}), and when the outermost one began. */
  #depth = 0
  #enteredAt = 0
  /** Math.random's state right before the function's code was evaluated (see {@link capture}). */
  #randomBeforeLoad: bigint | undefined
  /**
   * Calls of the interrupt handler: QuickJS polls it every 10,000 function calls or loop
   * iterations, so this counts work done, whatever else the machine runs.
   */
  #polls = 0

  constructor(cell: ModuleCell) {
    this.cell = cell
  }

  /** The mark of what this instance runs: its invocation, or its creation (see guest-slot.ts). */
  #mark(): number {
    return this.#running ? this.#running.inv : -this.id
  }

  get alive(): boolean {
    return !this.#disposed
  }

  /**
   * Creates the runtime and context and evaluates the prelude: everything that does not depend on
   * the function, so a blank engine can be prepared before any function asks for one.
   */
  prepare(): void {
    const runtime = this.cell.module.newRuntime()
    this.#runtime = runtime
    this.#configure(runtime)
    const ctx = runtime.newContext()
    this.#ctx = ctx
    this.#natives = installNatives(ctx, this.#hooks())
    this.#deadline = Date.now() + INIT_TIMEOUT_MS
    try {
      ctx.unwrapResult(ctx.evalCode(preludeSource, 'fnbox:prelude')).dispose()
      this.#entry = ctx.getProp(ctx.global, '__fnbox_entry')
      ctx.unwrapResult(ctx.evalCode('delete globalThis.__fnbox_entry', 'fnbox:prelude')).dispose()
      if (ctx.typeof(this.#entry) !== 'object') throw new Error('prelude did not provide an entry')
    } finally {
      this.#deadline = 0
      this.#checkMemory()
    }
  }

  /** The host callbacks of the runtime: the deadline's interrupt and the module loader. */
  #configure(runtime: QuickJSRuntime): void {
    runtime.setInterruptHandler(() => {
      this.#polls++
      const r = this.#running
      if (this.#deadline !== 0 && Date.now() >= this.#deadline) {
        if (r) r.failure ??= new InvocationFailure(r.budget.error(r.budget.next().limit), true)
        return true
      }
      if (r && this.#depth > 0 && r.budget.cpuBinds()) {
        if (r.cpu + (performance.now() - this.#enteredAt) > r.budget.limits.cpuMs) {
          r.failure ??= new InvocationFailure(r.budget.error('cpuMs'), true)
          return true
        }
      }
      return false
    })
    runtime.setModuleLoader((name) =>
      name === HOST_MODULE_NAME
        ? HOST_MODULE_SOURCE
        : {
            error: new Error(
              `Cannot find module '${name}': functions can import only '${HOST_MODULE_NAME}' (bundle other dependencies into the function)`,
            ),
          },
    )
  }

  /**
   * Rebuilds the instance a snapshot was taken of, in a cell whose memory was just restored from
   * it: host objects around the runtime, context and handles the memory holds, the natives bound
   * to the same host function ids, and a fresh Math.random seed. Runs no guest code. On failure
   * the cell must be dropped without freeing anything in it.
   */
  static restore(cell: ModuleCell, snapshot: Snapshot): Instance {
    const image = snapshot.instance
    const instance = new Instance(cell)
    const runtime = adoptRuntime(cell.module, image.rt)
    instance.#runtime = runtime
    instance.#configure(runtime)
    type ContextPointer = NonNullable<Parameters<QuickJSRuntime['newContext']>[0]>['contextPointer']
    const ctx = runtime.newContext({ contextPointer: image.ctx as ContextPointer })
    instance.#ctx = ctx
    // The snapshot's own handle on the global and its scratch buffer belong to no host object
    // now; the new context makes its own (an unfreed handle makes JS_FreeRuntime abort).
    freeOrphanValue(cell.module, image.ctx, image.global)
    emscriptenModule(cell.module)._free(image.scratch)
    instance.#natives = installNatives(ctx, instance.#hooks(), image.natives)
    instance.#entry = adoptHandle(ctx, image.entry)
    for (const [name, ptr] of image.methods) instance.#methods.set(name, adoptHandle(ctx, ptr))
    reseedRandom(cell.memory, snapshot.layout, image.ctx)
    return instance
  }

  /**
   * What a snapshot needs besides the memory, right after {@link load}, or why this instance
   * cannot be one: its top-level code drew randomness, armed timers or started host I/O (their
   * effects live outside the memory, or would be shared by every restored copy).
   */
  capture(layout: EngineLayout): InstanceImage | string {
    const [ctx, natives, entry] = [this.#ctx, this.#natives, this.#entry]
    if (!ctx || !natives || !entry || this.#disposed) return 'not loaded'
    if (this.#running || this.#timers.size > 0) return 'it is running'
    if (natives.impure.size > 0) return `its top-level code used ${[...natives.impure].join(', ')}`
    const pointers = contextPointers(ctx)
    const random = randomState(this.cell.memory, layout, pointers.ctx)
    if (this.#randomBeforeLoad === undefined || random !== this.#randomBeforeLoad) {
      return 'its top-level code used Math.random'
    }
    const cached = cachedHandlesInUse(ctx)
    if (cached.length > 0) return `the context holds ${cached.join(', ')}`
    const table = natives.image()
    if (typeof table === 'string') return table
    return {
      rt: pointers.rt,
      ctx: pointers.ctx,
      global: ctx.global.value,
      scratch: contextScratch(ctx),
      entry: entry.value,
      methods: [...this.#methods].map(([name, handle]) => [name, handle.value]),
      natives: table,
    }
  }

  /**
   * Loads the chunks behind the HTTP path (Request, Response, Headers) ahead of time: done for
   * the blank engine only, so a deploy's first response does not pay for it, while instances
   * created by the pool stay small until they serve HTTP.
   */
  preloadHttp(): void {
    const ctx = this.#ctx!
    this.#deadline = Date.now() + INIT_TIMEOUT_MS
    try {
      ctx.unwrapResult(ctx.evalCode('void globalThis.Response', 'fnbox:prelude')).dispose()
    } finally {
      this.#deadline = 0
      this.#checkMemory()
    }
  }

  /**
   * Evaluates the function's module under the cell's limits. With the engine's `layout`, notes
   * what {@link capture} checks. Returns the top-level code's work, in 10,000s of calls and loop
   * iterations (see `#polls`).
   */
  load(code: string, filename: string, layout?: EngineLayout): number {
    const runtime = this.#runtime!
    const ctx = this.#ctx!
    const limits = this.cell.limits
    // No setMemoryLimit: the module's fixed memory is the cap (see module-cell.ts).
    runtime.setMaxStackSize(limits.maxStackKb * 1024)
    this.#natives!.clearImpure()
    if (layout) this.#randomBeforeLoad = randomState(this.cell.memory, layout, contextPointers(ctx).ctx)
    const polls = this.#polls
    this.#deadline = Date.now() + INIT_TIMEOUT_MS
    try {
      const previous = this.#enter()
      let evaluated: ReturnType<QuickJSContext['evalCode']>
      try {
        evaluated = ctx.evalCode(code, filename, { type: 'module' })
      } finally {
        this.#leave(previous)
      }
      if (evaluated.error) throw this.#guestError(evaluated.error, 'ERR_DEPLOY_FAILED')
      this.#checkMemory(evaluated.value)
      let namespace = evaluated.value
      if (isPromise(ctx, namespace)) {
        namespace = this.#settleSync(namespace)
      }
      this.#callEntry('setModule', [namespace]).dispose()
      namespace.dispose()
    } finally {
      this.#deadline = 0
    }
    return this.#polls - polls
  }

  /** Top-level await: pump until the module promise settles (host timers may be needed). */
  #settleSync(promise: QuickJSHandle): QuickJSHandle {
    const ctx = this.#ctx!
    try {
      for (let i = 0; i < 1000; i++) {
        this.#drain()
        const state = ctx.getPromiseState(promise)
        if (state.type === 'fulfilled') return state.value
        if (state.type === 'rejected') throw this.#guestError(state.error, 'ERR_DEPLOY_FAILED')
      }
      throw new InvocationFailure(
        { code: 'ERR_DEPLOY_FAILED', message: 'top-level await of the module did not settle synchronously' },
        true,
      )
    } finally {
      promise.dispose()
    }
  }

  invoke(inv: number, call: InvokeCall, limits: InvocationLimits, sink: InvocationSink): Promise<InvokeOutcome> {
    const ctx = this.#ctx
    if (!ctx || this.#disposed) {
      return Promise.reject(new InvocationFailure({ code: 'ERR_INTERNAL', message: 'instance is gone' }, true))
    }
    if (this.#running) {
      return Promise.reject(new InvocationFailure({ code: 'ERR_INTERNAL', message: 'instance is busy' }, true))
    }
    return new Promise<InvokeOutcome>((resolve, reject) => {
      // Registered before the guest runs: its synchronous part may already log or respond.
      const running: Running = {
        inv,
        promise: undefined as unknown as QuickJSHandle,
        budget: new InvocationBudget(limits),
        timer: undefined,
        cpu: 0,
        sink,
        resolve,
        reject,
        responseBytes: 0,
        logBytes: 0,
        logTruncated: false,
      }
      this.#running = running
      this.#armBudget(running)
      const args: QuickJSHandle[] = []
      let failure: InvocationFailure | undefined
      try {
        if (call.kind === 'fetch') {
          args.push(ctx.newString(call.meta))
          if (call.body) args.push(ctx.newArrayBuffer(call.body))
          running.promise = this.#callEntry('fetch', args)
        } else {
          args.push(ctx.newString(call.exportName), ctx.newString(call.argsJson))
          running.promise = this.#callEntry('call', args)
        }
      } catch (err) {
        failure = this.#asFailure(err)
      } finally {
        for (const a of args) a.dispose() // before a failure frees the runtime they live in
      }
      if (failure) this.#fail(failure)
      else this.pump()
    })
  }

  /** The host gave up on the running invocation (client gone or host-side timeout). */
  cancel(reason: 'client' | 'timeout'): void {
    const r = this.#running
    if (!r) return
    if (reason === 'timeout') this.#fail(new InvocationFailure(r.budget.error(r.budget.next().limit), true))
    else this.#fail(new InvocationFailure({ code: 'ERR_GUEST_EXCEPTION', message: 'client went away' }, true))
  }

  /** Arms the timer and the interrupt for the budget's next wall-clock limit. */
  #armBudget(r: Running): void {
    clearTimeout(r.timer)
    const next = r.budget.next()
    if (!r.failure) this.#deadline = next.at
    r.timer = setTimeout(
      () => {
        if (this.#running !== r) return
        const due = r.budget.next()
        if (Date.now() >= due.at) this.#fail(new InvocationFailure(r.budget.error(due.limit), true))
        else this.#armBudget(r) // moved later meanwhile (a chunk went out), or the timer fired early
      },
      Math.max(0, next.at - Date.now()),
    )
  }

  /**
   * The stream's progress moved the budget's next limit later: the interrupt follows at once; the
   * timer, armed earlier, re-arms itself when it fires.
   */
  #budgetMoved(r: Running): void {
    if (!r.failure) this.#deadline = r.budget.next().at
  }

  /**
   * Enters the module to run guest code: marks the thread's guest slot (see guest-slot.ts) and
   * starts the guest's clock. The time between the outermost entry and its exit is the guest's
   * own time, what `limits.cpuMs` counts: Node 20 has no per-thread CPU clock
   * (`process.cpuUsage` is the process's, event-loop utilisation is not CPU time;
   * `process.threadCpuUsage` came in 22.15, a syscall per reading), one clock serves every
   * supported Node, and the guest runs alone on its thread while inside, so this is its CPU time
   * unless the OS preempts the thread (then it counts more, never less).
   */
  #enter(): number {
    const previous = enterGuest(this.#mark(), this.#running?.cpu ?? 0)
    if (this.#depth++ === 0) this.#enteredAt = performance.now()
    return previous
  }

  #leave(previous: number): void {
    leaveGuest(previous)
    if (--this.#depth === 0 && this.#running) this.#running.cpu += performance.now() - this.#enteredAt
  }

  /**
   * After driving the module: when it ran out of memory meanwhile, this instance did (the thread
   * runs one thing at a time). Records it as the running invocation's outcome and throws;
   * `value` is a handle to free first.
   */
  #checkMemory(value?: QuickJSHandle): void {
    const failure = this.#exhausted()
    if (!failure) return
    if (value?.alive) value.dispose()
    throw failure
  }

  /** The memory failure, recorded as the running invocation's outcome, if the module ran out. */
  #exhausted(): InvocationFailure | undefined {
    if (!takeExhausted(this.cell.memory)) return undefined
    const failure = memoryFailure()
    if (this.#running) this.#running.failure ??= failure
    return failure
  }

  /** A host-side exception while driving the guest, as a failure (see {@link asFailure}). */
  #asFailure(err: unknown): InvocationFailure {
    if (!(err instanceof InvocationFailure) && takeExhausted(this.cell.memory)) return memoryFailure(true)
    return asFailure(err)
  }

  /**
   * A guest error handle (consumed) as a failure: running out of memory when the module did
   * (whatever the guest threw then), else what it threw. Reading it may run guest code (`toJSON`,
   * getters).
   */
  #guestError(handle: QuickJSHandle, fallback: 'ERR_GUEST_EXCEPTION' | 'ERR_DEPLOY_FAILED'): InvocationFailure {
    const previous = this.#enter()
    let failure: InvocationFailure
    try {
      failure = guestError(this.#ctx!, handle, fallback)
    } finally {
      this.#leave(previous)
    }
    return this.#exhausted() ?? failure
  }

  /** Runs pending guest jobs, then settles the running invocation if its promise settled. */
  pump(): void {
    if (this.#disposed || this.#pumping) return
    this.#pumping = true
    try {
      this.#drain()
      this.#checkSettled()
    } catch (err) {
      this.#fail(this.#asFailure(err))
    } finally {
      this.#pumping = false
    }
  }

  /** Runs every pending job; `executePendingJobs(-1)` also runs the jobs they queue. */
  #drain(): void {
    const previous = this.#enter()
    let res: ReturnType<QuickJSRuntime['executePendingJobs']>
    try {
      res = this.#runtime!.executePendingJobs(-1)
    } finally {
      this.#leave(previous)
    }
    if (!res.error) {
      this.#checkMemory()
      return
    }
    // Only uncatchable conditions escape the job queue (rejections stay inside promises): the
    // interrupt (an InternalError) or running out of memory, when QuickJS cannot even allocate
    // the error object and throws null.
    const ctx = this.#ctx!
    if (ctx.typeof(res.error) !== 'object' || ctx.dump(res.error) === null) {
      res.error.dispose()
      takeExhausted(this.cell.memory)
      const failure = memoryFailure()
      if (this.#running) this.#running.failure ??= failure
      throw failure
    }
    throw this.#guestError(res.error, 'ERR_GUEST_EXCEPTION')
  }

  #checkSettled(): void {
    const running = this.#running
    if (!running) return
    const ctx = this.#ctx!
    const state = ctx.getPromiseState(running.promise)
    if (state.type === 'pending') return
    if (state.type === 'rejected') {
      this.#fail(this.#guestError(state.error, 'ERR_GUEST_EXCEPTION'))
      return
    }
    if (running.failure) {
      // Stopped by a limit, yet it settled: QuickJS turns the interrupt inside a promise job into
      // a rejection, which code such as waitUntil's report swallows.
      state.value.dispose()
      this.#fail(running.failure)
      return
    }
    let result: string | undefined
    try {
      if (ctx.typeof(state.value) === 'string') result = ctx.getString(state.value)
    } finally {
      state.value.dispose()
    }
    const limit = this.cell.limits.maxResponseBytes
    if (result !== undefined && result.length > limit) {
      this.#fail(
        new InvocationFailure(
          {
            code: 'ERR_RESPONSE_TOO_LARGE',
            message: `result of ${result.length} bytes exceeds limits.maxResponseBytes (${limit})`,
            details: { limit, value: result.length },
          },
          false,
        ),
      )
      return
    }
    this.#finish(running)
    running.resolve({ result })
  }

  #fail(failure: InvocationFailure): void {
    const running = this.#running
    if (!running) {
      if (failure.condemn) this.cell.condemn(failure.error.message)
      else if (failure.discard) this.dispose()
      return
    }
    failure = this.#outcome(running, failure)
    this.#finish(running)
    if (failure.condemn) {
      running.reject(failure)
      this.cell.condemn(failure.error.message)
      return
    }
    if (failure.discard) this.dispose()
    running.reject(failure)
  }

  /**
   * What ended the invocation: the cause, not the guest's reaction to it. A limit it ran out of
   * or memory it exhausted wins over what the guest threw afterwards (a guest may catch the
   * error of a host call cut off by its deadline, or of an allocation, and throw another).
   */
  #outcome(r: Running, failure: InvocationFailure): InvocationFailure {
    if (takeExhausted(this.cell.memory)) r.failure ??= memoryFailure()
    const cause = r.failure ?? this.#limitPassed(r, failure) ?? failure
    // A module a host exception unwound through goes, whatever the cause reported.
    return failure.condemn && !cause.condemn ? new InvocationFailure(cause.error, true, true) : cause
  }

  /** The wall-clock or CPU limit the invocation is past when `failure` ended it, if any. */
  #limitPassed(r: Running, failure: InvocationFailure): InvocationFailure | undefined {
    if (failure.error.code === 'ERR_EXECUTOR_LOST') return undefined
    const next = r.budget.next()
    if (Date.now() >= next.at) return new InvocationFailure(r.budget.error(next.limit), true)
    if (r.budget.cpuBinds() && r.cpu > r.budget.limits.cpuMs) {
      return new InvocationFailure(r.budget.error('cpuMs'), true)
    }
    return undefined
  }

  #finish(running: Running): void {
    clearTimeout(running.timer)
    this.#running = undefined
    this.#deadline = 0
    for (const t of this.#timers.values()) clearTimeout(t)
    this.#timers.clear()
    if (running.promise?.alive) running.promise.dispose()
  }

  #callEntry(method: string, args: QuickJSHandle[]): QuickJSHandle {
    const ctx = this.#ctx!
    let fn = this.#methods.get(method)
    if (!fn) {
      fn = ctx.getProp(this.#entry!, method)
      this.#methods.set(method, fn)
    }
    const previous = this.#enter()
    let res: ReturnType<QuickJSContext['callFunction']>
    try {
      res = ctx.callFunction(fn, this.#entry!, args)
    } finally {
      this.#leave(previous)
    }
    if (res.error) throw this.#guestError(res.error, 'ERR_GUEST_EXCEPTION')
    this.#checkMemory(res.value)
    return res.value
  }

  /** Limits are read from the cell at each call: a prepared blank is bound to a function later. */
  #hooks(): NativeHooks {
    const cell = this.cell
    const running = (): Running => {
      if (!this.#running) throw new TypeError('no invocation is running')
      return this.#running
    }
    return {
      // Guards the module's fixed memory against one host-side copy filling it (that corrupts it);
      // response sizes are checked separately against maxResponseBytes.
      get maxTransferBytes() {
        return Math.floor((cell.limits.memoryMb * 1024 * 1024) / 4)
      },
      log: (level, message) => {
        const r = this.#running
        if (!r) return
        if (r.logTruncated) return
        r.logBytes += message.length + LOG_LINE_OVERHEAD
        const maxLogBytes = cell.limits.maxLogBytes
        if (r.logBytes > maxLogBytes) {
          r.logTruncated = true
          r.sink.log('warn', `[fnbox] log output truncated at limits.maxLogBytes (${maxLogBytes})`)
          return
        }
        r.sink.log(level, message)
      },
      setTimer: (ms) => {
        if (this.#timers.size >= MAX_TIMERS) {
          throw new GuestError('RangeError', `too many pending timers (limit ${MAX_TIMERS})`)
        }
        const id = this.#nextTimer++
        const delay = Math.max(0, Math.min(Number.isFinite(ms) ? ms : 0, 2_147_483_647))
        this.#timers.set(
          id,
          setTimeout(() => {
            this.#timers.delete(id)
            if (this.#disposed || !this.#running) return
            let failure: InvocationFailure | undefined
            try {
              const idHandle = this.#ctx!.newNumber(id)
              try {
                this.#callEntry('fireTimer', [idHandle]).dispose()
              } finally {
                idHandle.dispose() // before a failure frees the runtime it lives in
              }
            } catch (err) {
              failure = this.#asFailure(err)
            }
            if (failure) this.#fail(failure)
            else this.pump()
          }, delay),
        )
        return id
      },
      clearTimer: (id) => {
        const t = this.#timers.get(id)
        if (t) clearTimeout(t)
        this.#timers.delete(id)
      },
      respond: (meta, body) => {
        const r = running()
        if (body) this.#countResponse(r, body.byteLength)
        r.sink.respond(meta, body)
        if (meta.stream) {
          // The head is out: the body runs under the stream's budget (see InvocationBudget).
          r.budget.streamStarted(Date.now())
          this.#armBudget(r)
        }
      },
      emitChunk: (chunk) => {
        const r = running()
        this.#countResponse(r, chunk.byteLength)
        r.budget.chunk(Date.now())
        this.#budgetMoved(r)
        return r.sink.chunk(chunk)
      },
      bodyEnd: () => {
        const r = running()
        r.budget.bodyEnded(Date.now())
        this.#budgetMoved(r)
        r.sink.end()
      },
      fetchStart: async (meta, body) => {
        const reply = await running().sink.host({
          op: 'fetchStart',
          meta,
          body: body ? transferable(body) : undefined,
        })
        if (reply.op !== 'fetchStart') throw new TypeError('fetch failed')
        // The guest reads the body as soon as it has looked at the head: ask for its first chunk now.
        if (reply.meta.bodyId !== null && this.#running) readAhead(this.#running, reply.meta.bodyId)
        return reply.meta
      },
      fetchAbort: (fetchId) => this.#running?.sink.hostFire({ op: 'fetchAbort', fetchId }),
      bodyRead: async (bodyId) => {
        const r = running()
        const next = r.ahead?.get(bodyId) ?? readChunk(r, bodyId)
        r.ahead?.delete(bodyId)
        const chunk = await next
        if (chunk !== undefined && this.#running === r) readAhead(r, bodyId)
        return chunk
      },
      bodyCancel: (bodyId) => {
        this.#running?.ahead?.delete(bodyId)
        this.#running?.sink.hostFire({ op: 'bodyCancel', bodyId })
      },
      data: async (method, args, bytes) => {
        const reply = await running().sink.host({
          op: 'data',
          method,
          args,
          bytes: bytes ? transferable(bytes) : undefined,
        })
        if (reply.op !== 'data') throw new TypeError('host call failed')
        return { json: reply.json, bytes: reply.bytes ? new Uint8Array(reply.bytes) : undefined }
      },
      secret: (name) => this.cell.secrets.get(name),
      pump: () => this.pump(),
    }
  }

  #countResponse(r: Running, bytes: number): void {
    r.responseBytes += bytes
    const limit = this.cell.limits.maxResponseBytes
    if (r.responseBytes > limit) {
      // We are inside a native call: the guest is on the stack and cannot be freed here. Record
      // the failure, interrupt the guest (it cannot catch that), and report it once it unwound.
      r.failure ??= new InvocationFailure(
        {
          code: 'ERR_RESPONSE_TOO_LARGE',
          message: `response body of at least ${r.responseBytes} bytes exceeds limits.maxResponseBytes (${limit})`,
          details: { limit, value: r.responseBytes },
        },
        true,
      )
      this.#deadline = 1
      throw r.failure
    }
  }

  /** Frees the runtime. Never throws: a failed free condemns the module cell instead. */
  dispose(): void {
    if (this.#disposed) return
    this.#stop(true)
    try {
      this.#natives?.dispose()
      for (const fn of this.#methods.values()) if (fn.alive) fn.dispose()
      this.#methods.clear()
      if (this.#entry?.alive) this.#entry.dispose()
      this.#ctx?.dispose()
      this.#runtime?.dispose()
    } catch {
      this.cell.condemn('an instance failed to free its runtime')
    }
    this.cell.release(this)
  }

  /** Drops the instance without touching its module (the module is condemned). */
  abandon(): void {
    if (this.#disposed) return
    this.#stop(false)
  }

  #stop(freeHandles: boolean): void {
    this.#disposed = true
    const r = this.#running
    if (r) {
      clearTimeout(r.timer)
      this.#running = undefined
      this.#deadline = 0
      if (freeHandles && r.promise?.alive) r.promise.dispose()
      r.reject(
        new InvocationFailure({ code: 'ERR_EXECUTOR_LOST', message: 'the sandbox instance was discarded' }, true),
      )
    }
    for (const t of this.#timers.values()) clearTimeout(t)
    this.#timers.clear()
  }
}

/** A module with top-level await evaluates to a promise of its namespace. */
function isPromise(ctx: QuickJSContext, handle: QuickJSHandle): boolean {
  const state = ctx.getPromiseState(handle)
  return !(state.type === 'fulfilled' && state.notAPromise)
}

/** Turns a guest error handle (consumed) into a typed failure. */
export function guestError(
  ctx: QuickJSContext,
  handle: QuickJSHandle,
  fallback: 'ERR_GUEST_EXCEPTION' | 'ERR_DEPLOY_FAILED',
): InvocationFailure {
  let name = 'Error'
  let message = ''
  let stack: string | undefined
  try {
    const dumped: unknown = ctx.dump(handle)
    if (dumped && typeof dumped === 'object') {
      const d = dumped as { name?: unknown; message?: unknown; stack?: unknown }
      name = typeof d.name === 'string' ? d.name : 'Error'
      message = typeof d.message === 'string' ? d.message : safeString(dumped)
      stack = typeof d.stack === 'string' ? d.stack : undefined
    } else {
      message = `uncaught ${safeString(dumped)}`
    }
  } catch {
    message = 'unreadable guest error'
  } finally {
    if (handle.alive) handle.dispose()
  }
  if (name === 'InternalError' && message === 'interrupted') {
    return new InvocationFailure({ code: 'ERR_TIMEOUT', message: 'the function ran past its time limit' }, true)
  }
  if (name === 'InternalError' && message === 'out of memory') {
    return new InvocationFailure(
      { code: 'ERR_MEMORY_LIMIT', message: 'the function ran out of memory (limits.memoryMb)' },
      true,
    )
  }
  if (message === 'stack overflow') {
    return new InvocationFailure(
      { code: 'ERR_STACK_OVERFLOW', message: 'the function exceeded its stack (limits.maxStackKb)' },
      false,
    )
  }
  return new InvocationFailure(
    { code: fallback, message: `${name}: ${message}`, details: { name, guestMessage: message, stack } },
    fallback === 'ERR_DEPLOY_FAILED',
  )
}

function safeString(value: unknown): string {
  try {
    return typeof value === 'string' ? value : (JSON.stringify(value) ?? String(value))
  } catch {
    return String(value)
  }
}

/** The guest's module ran out of memory: the instance goes (`condemn`: and its module). */
function memoryFailure(condemn = false): InvocationFailure {
  return new InvocationFailure(
    { code: 'ERR_MEMORY_LIMIT', message: 'the function ran out of memory (limits.memoryMb)' },
    true,
    condemn,
  )
}

/**
 * A host-side exception while driving the guest (wasm trap, native stack overflow, a host
 * allocation that did not fit, bug). It may have unwound through the module's frames, so the
 * module is condemned with the instance.
 */
export function asFailure(err: unknown): InvocationFailure {
  if (err instanceof InvocationFailure) return err
  if (err instanceof SandboxMemoryExhausted) return memoryFailure(true)
  if (err instanceof RangeError) {
    return new InvocationFailure(
      { code: 'ERR_STACK_OVERFLOW', message: 'the function exhausted the executor stack' },
      true,
      true,
    )
  }
  const message = err instanceof Error ? err.message : String(err)
  if (/out of memory|Aborted|memory access out of bounds/i.test(message)) return memoryFailure(true)
  return new InvocationFailure({ code: 'ERR_INTERNAL', message: 'the sandbox failed' }, true, true)
}
