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
import type { InvocationLimits } from '../reliability/deadline.js'
import type { NativeHooks } from './bridge-types.js'
import { GuestClock } from './guest-clock.js'
import { GuestTimers, instanceHooks, loadModule } from './instance-hooks.js'
import {
  exhausted,
  guestError,
  hostFailure,
  InvocationFailure,
  newRunning,
  outcome,
  resultTooLarge,
  type InvocationSink,
  type InvokeCall,
  type InvokeOutcome,
  type Running,
} from './invocation.js'
import type { ModuleCell } from './module-cell.js'
import { installNatives, type NativesHandle } from './natives.js'
import preludeSource from './prelude/index.js?guest'
import { INIT_TIMEOUT_MS } from './protocol.js'
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

export {
  asFailure,
  guestError,
  InvocationFailure,
  type InvocationSink,
  type InvokeCall,
  type InvokeOutcome,
} from './invocation.js'
export { MAX_TIMERS } from './instance-hooks.js'

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
  readonly #timers = new GuestTimers((id) => this.#fireTimer(id))
  #running: Running | undefined
  #disposed = false
  #pumping = false
  /** Math.random's state right before the function's code was evaluated (see {@link capture}). */
  #randomBeforeLoad: bigint | undefined
  readonly #clock = new GuestClock(
    () => this.#running,
    () => this.#mark(),
  )

  /** Ends the running invocation when its budget timer finds it past a limit. */
  readonly #onLimit = (failure: InvocationFailure): void => this.#fail(failure)

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
    this.#clock.deadline = Date.now() + INIT_TIMEOUT_MS
    try {
      ctx.unwrapResult(ctx.evalCode(preludeSource, 'fnbox:prelude')).dispose()
      this.#entry = ctx.getProp(ctx.global, '__fnbox_entry')
      ctx.unwrapResult(ctx.evalCode('delete globalThis.__fnbox_entry', 'fnbox:prelude')).dispose()
      if (ctx.typeof(this.#entry) !== 'object') throw new Error('prelude did not provide an entry')
    } finally {
      this.#clock.deadline = 0
      this.#checkMemory()
    }
  }

  /** The host callbacks of the runtime: the deadline's interrupt and the module loader. */
  #configure(runtime: QuickJSRuntime): void {
    runtime.setInterruptHandler(this.#clock.interrupt)
    runtime.setModuleLoader(loadModule)
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
    this.#clock.deadline = Date.now() + INIT_TIMEOUT_MS
    try {
      ctx.unwrapResult(ctx.evalCode('void globalThis.Response', 'fnbox:prelude')).dispose()
    } finally {
      this.#clock.deadline = 0
      this.#checkMemory()
    }
  }

  /**
   * Evaluates the function's module under the cell's limits. With the engine's `layout`, notes
   * what {@link capture} checks. Returns the top-level code's work, in 10,000s of calls and loop
   * iterations (see `GuestClock.polls`).
   */
  load(code: string, filename: string, layout?: EngineLayout): number {
    const runtime = this.#runtime!
    const ctx = this.#ctx!
    const limits = this.cell.limits
    // No setMemoryLimit: the module's fixed memory is the cap (see module-cell.ts).
    runtime.setMaxStackSize(limits.maxStackKb * 1024)
    this.#natives!.clearImpure()
    if (layout) this.#randomBeforeLoad = randomState(this.cell.memory, layout, contextPointers(ctx).ctx)
    const polls = this.#clock.polls
    this.#clock.deadline = Date.now() + INIT_TIMEOUT_MS
    try {
      const previous = this.#clock.enter()
      let evaluated: ReturnType<QuickJSContext['evalCode']>
      try {
        evaluated = ctx.evalCode(code, filename, { type: 'module' })
      } finally {
        this.#clock.leave(previous)
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
      this.#clock.deadline = 0
    }
    return this.#clock.polls - polls
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
      const running = newRunning(inv, limits, sink, resolve, reject)
      this.#running = running
      // The interrupt enforces the deadline while the guest runs; the timer, for its awaits, is
      // armed only if it still runs once its synchronous part is done (most calls end there).
      this.#clock.limit(running)
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
      if (this.#running === running && running.timer === undefined) this.#clock.arm(running, this.#onLimit)
    })
  }

  /** The host gave up on the running invocation (client gone or host-side timeout). */
  cancel(reason: 'client' | 'timeout'): void {
    const r = this.#running
    if (!r) return
    if (reason === 'timeout') this.#fail(new InvocationFailure(r.budget.error(r.budget.next().limit), true))
    else this.#fail(new InvocationFailure({ code: 'ERR_GUEST_EXCEPTION', message: 'client went away' }, true))
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
    return exhausted(this.cell.memory, this.#running)
  }

  /** A host-side exception while driving the guest, as a failure (see {@link asFailure}). */
  #asFailure(err: unknown): InvocationFailure {
    return hostFailure(this.cell.memory, err)
  }

  /**
   * A guest error handle (consumed) as a failure: running out of memory when the module did
   * (whatever the guest threw then), else what it threw. Reading it may run guest code (`toJSON`,
   * getters).
   */
  #guestError(handle: QuickJSHandle, fallback: 'ERR_GUEST_EXCEPTION' | 'ERR_DEPLOY_FAILED'): InvocationFailure {
    const previous = this.#clock.enter()
    let failure: InvocationFailure
    try {
      failure = guestError(this.#ctx!, handle, fallback)
    } finally {
      this.#clock.leave(previous)
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
    if (!this.#runtime!.hasPendingJob()) {
      this.#checkMemory()
      return
    }
    const previous = this.#clock.enter()
    let res: ReturnType<QuickJSRuntime['executePendingJobs']>
    try {
      res = this.#runtime!.executePendingJobs(-1)
    } finally {
      this.#clock.leave(previous)
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
      throw exhausted(this.cell.memory, this.#running, true)
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
    // The entry settles with a string or undefined (see the prelude's GuestEntry).
    let result: string | undefined
    try {
      if (!ctx.eq(state.value, ctx.undefined)) result = ctx.getString(state.value)
    } finally {
      state.value.dispose()
    }
    const tooLarge = resultTooLarge(result, this.cell.limits.maxResponseBytes)
    if (tooLarge) {
      this.#fail(tooLarge)
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
    failure = outcome(this.cell.memory, running, failure)
    this.#finish(running)
    if (failure.condemn) {
      running.reject(failure)
      this.cell.condemn(failure.error.message)
      return
    }
    if (failure.discard) this.dispose()
    running.reject(failure)
  }

  #finish(running: Running): void {
    clearTimeout(running.timer)
    this.#running = undefined
    this.#clock.deadline = 0
    this.#timers.clearAll()
    if (running.promise?.alive) running.promise.dispose()
  }

  #callEntry(method: string, args: QuickJSHandle[]): QuickJSHandle {
    const ctx = this.#ctx!
    let fn = this.#methods.get(method)
    if (!fn) {
      fn = ctx.getProp(this.#entry!, method)
      this.#methods.set(method, fn)
    }
    const previous = this.#clock.enter()
    let res: ReturnType<QuickJSContext['callFunction']>
    try {
      res = ctx.callFunction(fn, this.#entry!, args)
    } finally {
      this.#clock.leave(previous)
    }
    if (res.error) throw this.#guestError(res.error, 'ERR_GUEST_EXCEPTION')
    this.#checkMemory(res.value)
    return res.value
  }

  /** The natives' hooks (see instance-hooks.ts), reaching this instance's private state. */
  #hooks(): NativeHooks {
    return instanceHooks({
      cell: this.cell,
      running: () => this.#running,
      timers: this.#timers,
      armBudget: (r) => this.#clock.arm(r, this.#onLimit),
      budgetMoved: (r) => this.#clock.moved(r),
      interrupt: () => {
        this.#clock.deadline = 1
      },
      pump: () => this.pump(),
    })
  }

  /** A guest timer is due: runs its callback, then the jobs it queued. */
  #fireTimer(id: number): void {
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
      this.#clock.deadline = 0
      if (freeHandles && r.promise?.alive) r.promise.dispose()
      r.reject(
        new InvocationFailure({ code: 'ERR_EXECUTOR_LOST', message: 'the sandbox instance was discarded' }, true),
      )
    }
    this.#timers.clearAll()
  }
}

/** A module with top-level await evaluates to a promise of its namespace. */
function isPromise(ctx: QuickJSContext, handle: QuickJSHandle): boolean {
  const state = ctx.getPromiseState(handle)
  return !(state.type === 'fulfilled' && state.notAPromise)
}
