/**
 * Main-thread side of one executor thread: starts the worker, loads function versions into it,
 * creates and destroys instances, runs invocations, answers the guest's host calls, and restarts
 * the thread when a guest wedges it in a builtin that ignores the interrupt.
 *
 * @internal
 * @module
 */
import type { Worker } from 'node:worker_threads'
import { FnboxError } from '../errors.js'
import { InvocationBudget } from '../reliability/deadline.js'
import { createBatcher, type Batch } from '../sandbox/batch.js'
import { GUEST_SLOT_BYTES } from '../sandbox/guest-slot.js'
import type { FromExecutor, HostCall, ToExecutor } from '../sandbox/protocol.js'
import { secretsFingerprint, type Snapshot } from '../sandbox/snapshot.js'
import { expectSnapshot, snapshotsComing } from './snapshot-handoff.js'
import { GUEST_TEXT, replyTo, spawnExecutorThread, withReason, type Redaction } from './executor-thread.js'
import { ThreadLoad } from './executor-load.js'
import { ThreadWatch } from './executor-watch.js'
import { adoptWarm, keepWarm, takeWarm } from './warm-threads.js'
import type {
  Creating,
  ExecutorEvents,
  FunctionSource,
  Inflight,
  InstanceRef,
  InvocationBudgetSpec,
  InvocationHandlers,
  InvocationResult,
  InvocationSink,
} from './executor-types.js'

export { STUCK_GRACE_MS } from './executor-watch.js'
export type {
  ExecutorEvents,
  ExtendableDeadline,
  FunctionSource,
  InstanceRef,
  InvocationBudgetSpec,
  InvocationHandlers,
  InvocationResult,
  InvocationSink,
} from './executor-types.js'

let nextInv = 1
let nextInstance = 1

export class Executor {
  readonly index: number
  #worker!: Worker
  #ready!: Promise<void>
  /** Function versions the thread has loaded, and the snapshot it holds of each. */
  #loaded = new Map<string, FunctionSource>()
  #snapshots = new Map<string, Snapshot>()
  readonly #instances = new Map<number, InstanceRef>()
  readonly #creating = new Map<number, Creating>()
  /** What guest code the thread runs (see sandbox/guest-slot.ts); new with each thread. */
  #guestSlot!: SharedArrayBuffer
  readonly #inflight = new Map<number, Inflight>()
  readonly #events: ExecutorEvents
  readonly #workerUrl: URL
  #closed = false
  /** A test clock's time the guests follow (fnbox/testing), shared with every thread it starts. */
  readonly #guestTime: SharedArrayBuffer | undefined
  /** For a test clock's settling (see {@link Executor.sync}): messages each way, host calls unanswered. */
  #received = 0
  #sent = 0
  #hostPending = 0
  readonly #syncs = new Map<number, (next: number) => void>()
  #nextSync = 1

  readonly #blankMemoryMb: number
  /** Blank engines the thread keeps ready; it refills them while no call runs. */
  readonly #blankTarget: number
  #blanksReady = 0
  /** Whether the thread is ref'd (see {@link #holdWhileBusy}). */
  #held = true
  /** The current thread said it is ready. */
  #isReady = false
  /** The runtime closed and left its thread warm for another (see warm-threads.ts). */
  #handedOff = false
  /** The last reading of the thread's event-loop utilisation, and its value over the window before. */
  #load!: ThreadLoad
  /** The backstops of invocations and creations (see executor-watch.ts). */
  readonly #watch = new ThreadWatch({
    guestSlot: () => this.#guestSlot,
    flight: (inv) => this.#inflight.get(inv),
    flights: () => this.#inflight.values(),
    creation: (id) => this.#creating.get(id),
    abandon: (flight, limit) => {
      flight.abandoned = true
      // The instance is given up: destroyed when the thread gets to it, never handed out again.
      this.#instances.delete(flight.ref.id)
      this.#post({ t: 'destroy', id: flight.ref.id })
      flight.ref.lost = true
      flight.handlers.settle(undefined, FnboxError.fromJSON(flight.budget.error(limit)))
    },
    failCreation: (id, error) => {
      const creating = this.#creating.get(id)
      this.#creating.delete(id)
      creating?.reject(error)
    },
    restart: (reason) => this.#restart(reason),
  })

  constructor(
    index: number,
    workerUrl: URL,
    blankMemoryMb: number,
    blankTarget: number,
    events: ExecutorEvents,
    guestTime?: SharedArrayBuffer,
  ) {
    this.index = index
    this.#guestTime = guestTime
    this.#blankMemoryMb = blankMemoryMb
    this.#blankTarget = blankTarget
    this.#workerUrl = workerUrl
    this.#events = events
    this.#start()
  }

  get ready(): Promise<void> {
    return this.#ready
  }

  /** Instances on this thread. */
  get size(): number {
    return this.#instances.size + this.#creating.size
  }

  get inflight(): number {
    return this.#inflight.size
  }

  /** True when the thread holds a blank engine of `memoryMb` ready for a new function. */
  hasBlank(memoryMb: number): boolean {
    return this.#blanksReady > 0 && this.#blankMemoryMb === memoryMb
  }

  /** How busy the thread has been lately (0-1, see executor-load.ts). */
  get utilization(): number {
    return this.#load.utilization
  }

  /** Blank engines ready on the thread. */
  get blanks(): number {
    return this.#blanksReady
  }

  #start(): void {
    this.#loaded = new Map()
    this.#snapshots = new Map()
    this.#blanksReady = 0
    const guestSlot = new SharedArrayBuffer(GUEST_SLOT_BYTES)
    this.#guestSlot = guestSlot
    const init = {
      threadId: this.index,
      blankMemoryMb: this.#blankMemoryMb,
      blanks: this.#blankTarget,
      guestSlot,
      guestTime: this.#guestTime,
    }
    // A thread another runtime of this process left warm, reset for this one; else a new one.
    const warm = takeWarm(this.#workerUrl)
    const { worker, ready } = warm
      ? { worker: warm, ready: adoptWarm(warm, init) }
      : spawnExecutorThread(this.#workerUrl, init)
    this.#worker = worker
    this.#held = true
    this.#isReady = false
    // A warm thread's messages before its `ready` are of the runtime it served before.
    let stale = warm !== undefined
    this.#ready = ready
    this.#load = new ThreadLoad(worker)
    // An idle runtime does not keep the process alive (as Node's own agents): once started, the
    // thread is ref'd only while it has work the host waits for (see #holdWhileBusy).
    ready.then(
      () => {
        if (this.#worker !== worker) return
        this.#isReady = true
        this.#holdWhileBusy()
      },
      () => undefined,
    )
    worker.on('message', (batch: Batch<FromExecutor>) => {
      // A restart replaces the worker: what the old one still sends is stale.
      if (this.#worker !== worker) return
      let msgs = batch.msgs
      if (stale) {
        const ready = msgs.findIndex((msg) => msg.t === 'ready')
        if (ready < 0) return
        stale = false
        msgs = msgs.slice(ready + 1)
      }
      this.#received += msgs.length
      for (const msg of msgs) this.#onMessage(GUEST_TEXT[msg.t] ? this.#redact(msg) : msg)
    })
    worker.on('error', () => this.#restart('the executor thread failed'))
    worker.on('exit', () => {
      if (this.#worker === worker && !this.#closed) this.#restart('the executor thread exited')
    })
  }

  readonly #post = createBatcher<ToExecutor>((batch, transfer) => {
    // The thread serves another runtime now: nothing of this one may reach it.
    if (this.#handedOff) return
    this.#sent += batch.msgs.length
    this.#worker.postMessage(batch, transfer)
  })

  #ensureLoaded(fn: FunctionSource): void {
    if (!this.#loaded.has(fn.key)) {
      this.#loaded.set(fn.key, fn)
      this.#post({
        t: 'load',
        key: fn.key,
        code: fn.code,
        filename: fn.filename,
        limits: fn.limits,
        secrets: fn.secrets,
      })
    }
    if (fn.snapshot && this.#snapshots.get(fn.key) !== fn.snapshot) {
      this.#snapshots.set(fn.key, fn.snapshot)
      this.#post({ t: 'snapshot', key: fn.key, snapshot: fn.snapshot })
    }
  }

  /**
   * Sends new secret values to the thread, if it has loaded the function. The version's snapshot
   * is dropped (its top-level code may have read the old values); the thread drops its own.
   */
  updateSecrets(key: string, secrets: Record<string, string>): void {
    const source = this.#loaded.get(key)
    if (!source) return
    source.snapshot = undefined
    this.#snapshots.delete(key)
    this.#post({ t: 'secrets', key, secrets })
  }

  /** A snapshot from the thread: kept for every thread, unless the secrets changed meanwhile. */
  #onSnapshot(key: string, snapshot: Snapshot): void {
    const source = this.#loaded.get(key)
    if (!source || source.snapshot || snapshot.key !== key) return
    if (snapshot.secrets !== secretsFingerprint(Object.entries(source.secrets))) return
    source.snapshot = snapshot
    this.#snapshots.set(key, snapshot)
    snapshotsComing.get(source)?.done()
    this.#events.snapshot?.(this, source, snapshot)
  }

  unload(key: string): void {
    this.#snapshots.delete(key)
    if (!this.#loaded.delete(key)) return
    this.#post({ t: 'unload', key })
    for (const ref of this.#instances.values()) if (ref.key === key) this.#instances.delete(ref.id)
  }

  /**
   * Creates a warm instance; resolves with the ref, the time the thread spent on it, and whether
   * it was restored from the version's snapshot.
   */
  async create(fn: FunctionSource): Promise<{ ref: InstanceRef; ms: number; restored: boolean }> {
    if (this.#closed) throw new FnboxError('ERR_CLOSED', 'the runtime is closed')
    await this.#ready
    const coming = snapshotsComing.get(fn)
    if (coming && coming.from !== this && !fn.snapshot) await coming.arrived
    this.#ensureLoaded(fn)
    const id = nextInstance++
    const created = await new Promise<{ ms: number; restored: boolean; packing: boolean }>((resolve, reject) => {
      const backstop = this.#watch.armCreation(id)
      this.#creating.set(id, { key: fn.key, resolve, reject, backstop })
      this.#holdWhileBusy()
      this.#post({ t: 'create', id, key: fn.key })
    })
    if (created.packing && !fn.snapshot) expectSnapshot(fn, this)
    const ref: InstanceRef = { executor: this, id, key: fn.key, lost: false }
    this.#instances.set(id, ref)
    return { ref, ms: created.ms, restored: created.restored }
  }

  destroy(ref: InstanceRef): void {
    if (!this.#instances.delete(ref.id)) return
    if (!ref.lost) this.#post({ t: 'destroy', id: ref.id })
  }

  /**
   * Runs an invocation under `budget.limits` (its wall-clock limits count from `startedAt`, the
   * same instant on both threads). When its response streams, `budget.deadline` (that of its
   * host calls) is moved to the stream's budget.
   */
  invoke(
    ref: InstanceRef,
    call: Extract<ToExecutor, { t: 'invoke' }>['call'],
    budget: InvocationBudgetSpec,
    handlers: InvocationHandlers,
  ): { inv: number; done: Promise<InvocationResult> } {
    let inv = 0
    const done = new Promise<InvocationResult>((resolve, reject) => {
      const settle = (result: InvocationResult | undefined, error: FnboxError | undefined): void =>
        error ? reject(error) : resolve(result!)
      try {
        inv = this.start(ref, call, budget, Object.assign(Object.create(handlers) as InvocationSink, { settle }))
      } catch (err) {
        reject(err as Error)
      }
    })
    return { inv, done }
  }

  /**
   * {@link invoke} without a promise: `sink` gets the handlers' messages and the end (its
   * `settle`, once). Returns the invocation's number; throws `ERR_EXECUTOR_LOST` when the instance
   * or its thread is gone. The call path's own: one object per call serves as handlers and end.
   */
  start(
    ref: InstanceRef,
    call: Extract<ToExecutor, { t: 'invoke' }>['call'],
    { limits, deadline }: InvocationBudgetSpec,
    sink: InvocationSink,
  ): number {
    if (ref.lost || this.#closed) throw new FnboxError('ERR_EXECUTOR_LOST', 'the sandbox instance is gone')
    const inv = nextInv++
    const flight: Inflight = {
      inv,
      ref,
      budget: new InvocationBudget(limits),
      deadline,
      handlers: sink,
      checkAt: Infinity,
      abandoned: false,
    }
    this.#watch.arm(flight, limits.startedAt)
    this.#inflight.set(inv, flight)
    this.#holdWhileBusy()
    const transfer = call.kind === 'fetch' && call.body ? [call.body] : undefined
    this.#post({ t: 'invoke', inv, id: ref.id, limits, call }, transfer)
    return inv
  }

  cancel(inv: number, reason: 'client' | 'timeout'): void {
    if (this.#inflight.has(inv)) this.#post({ t: 'cancel', inv, reason })
  }

  credit(inv: number): void {
    if (this.#inflight.has(inv)) this.#post({ t: 'credit', inv })
  }

  #restart(reason: string): void {
    if (this.#closed) return
    const old = this.#worker
    const lost = [...this.#instances.values()]
    for (const ref of lost) ref.lost = true
    this.#instances.clear()
    const now = Date.now()
    for (const f of this.#inflight.values()) {
      this.#watch.disarm(f)
      if (f.abandoned) continue
      const next = f.budget.next()
      f.handlers.settle(
        undefined,
        next.at <= now
          ? FnboxError.fromJSON(withReason(f.budget.error(next.limit), reason))
          : new FnboxError('ERR_EXECUTOR_LOST', 'the executor thread running this call was restarted', {
              retryAfterSeconds: 1,
              details: { reason },
            }),
      )
    }
    this.#inflight.clear()
    for (const c of this.#creating.values()) {
      clearTimeout(c.backstop)
      c.reject(new FnboxError('ERR_EXECUTOR_LOST', 'the executor thread was restarted while creating an instance'))
    }
    this.#creating.clear()
    this.#worker = undefined as unknown as Worker
    old.removeAllListeners('exit')
    void old.terminate()
    this.#endSyncs()
    this.#start()
    this.#events.restarted(this, reason)
  }

  #onMessage(msg: FromExecutor): void {
    switch (msg.t) {
      case 'created':
      case 'create-failed': {
        const c = this.#creating.get(msg.id)
        if (!c) break
        this.#creating.delete(msg.id)
        this.#holdWhileBusy()
        clearTimeout(c.backstop)
        if (msg.t === 'created') c.resolve({ ms: msg.ms, restored: msg.restored, packing: msg.packing })
        else c.reject(FnboxError.fromJSON(msg.error))
        break
      }
      case 'lost': {
        const ref = this.#instances.get(msg.id)
        if (!ref) break
        // The pool drops it when it next comes out (acquire) or goes back (release).
        ref.lost = true
        this.#instances.delete(msg.id)
        break
      }
      case 'respond': {
        const f = this.#inflight.get(msg.inv)
        if (!f) break
        if (msg.meta.stream) {
          // The body streams: the stream's budget from now on, here as on the thread.
          const now = Date.now()
          f.budget.streamStarted(now)
          f.deadline?.extendTo(f.budget.hostDeadline())
          if (!f.abandoned) this.#watch.arm(f, now)
        }
        f.handlers.onRespond?.(msg.meta, msg.body)
        break
      }
      case 'chunk': {
        const f = this.#inflight.get(msg.inv)
        f?.budget.chunk(Date.now())
        f?.handlers.onChunk?.(msg.data)
        break
      }
      case 'end': {
        const f = this.#inflight.get(msg.inv)
        if (f) {
          const now = Date.now()
          f.budget.bodyEnded(now)
          if (!f.abandoned) this.#watch.arm(f, now)
        }
        f?.handlers.onEnd?.()
        break
      }
      case 'log':
        this.#inflight.get(msg.inv)?.handlers.onLog(msg.level, msg.message)
        break
      case 'done':
      case 'failed': {
        const f = this.#inflight.get(msg.inv)
        if (!f) break
        this.#inflight.delete(msg.inv)
        this.#holdWhileBusy()
        this.#watch.disarm(f)
        if (msg.discarded) {
          f.ref.lost = true
          this.#instances.delete(f.ref.id)
        }
        // An abandoned call's caller has its answer (the limit's error) already.
        if (f.abandoned) break
        if (msg.t === 'done') f.handlers.settle(msg, undefined)
        else f.handlers.settle(undefined, FnboxError.fromJSON(msg.error))
        break
      }
      case 'host':
        this.#onHost(msg.inv, msg.call, msg.req)
        break
      case 'blank':
        this.#blanksReady = msg.ready
        break
      case 'snapshot':
        this.#onSnapshot(msg.key, msg.snapshot)
        break
      case 'synced':
        this.#syncs.get(msg.id)?.(msg.next)
        this.#syncs.delete(msg.id)
        this.#holdWhileBusy()
        break
      case 'ready':
        break
    }
  }

  /**
   * For a test clock: messages received from and sent to the thread so far, and whether the
   * main thread owes it an answer (a host call, an instance being created).
   */
  get activity(): { received: number; sent: number; busy: boolean } {
    return { received: this.#received, sent: this.#sent, busy: this.#hostPending > 0 || this.#creating.size > 0 }
  }

  /**
   * Has the thread fire the guest timers due on the test clock and answer once idle (after
   * every message sent before); resolves with when its next guest timer is due (Infinity: none,
   * or the thread is gone).
   */
  sync(): Promise<number> {
    if (this.#closed) return Promise.resolve(Infinity)
    const id = this.#nextSync++
    return new Promise((resolve) => {
      this.#syncs.set(id, resolve)
      this.#holdWhileBusy()
      this.#post({ t: 'sync', id })
    })
  }

  /**
   * Refs the thread while a call, a creation or a test clock's sync is pending, unrefs it once
   * none is (a script awaiting `clock.advance` on an idle runtime would otherwise exit with 13,
   * its await unsettled).
   */
  #holdWhileBusy(): void {
    const hold = this.#inflight.size > 0 || this.#creating.size > 0 || this.#syncs.size > 0
    // Only a change reaches the worker (a call into its handle): most calls start and end busy.
    if (hold === this.#held) return
    this.#held = hold
    if (hold) this.#worker.ref()
    else this.#worker.unref()
  }

  #endSyncs(): void {
    for (const resolve of this.#syncs.values()) resolve(Infinity)
    this.#syncs.clear()
  }

  #onHost(inv: number, call: number, req: HostCall): void {
    const f = this.#inflight.get(inv)
    const answer = f ? f.handlers.onHost(req) : Promise.reject(new TypeError('invocation ended'))
    if (call === 0) {
      answer.catch(() => undefined)
      return
    }
    this.#hostPending++
    replyTo(
      call,
      req,
      answer.finally(() => this.#hostPending--),
      this.#post,
    )
  }

  async close(): Promise<void> {
    this.#closed = true
    this.#watch.stop()
    // Nothing of this runtime runs or waits on the thread: it may serve the next runtime.
    const idle =
      this.#isReady &&
      this.#inflight.size === 0 &&
      this.#creating.size === 0 &&
      this.#hostPending === 0 &&
      this.#syncs.size === 0
    const flights = [...this.#inflight.values()]
    this.#inflight.clear()
    for (const f of flights) {
      if (!f.abandoned)
        f.handlers.settle(undefined, new FnboxError('ERR_CLOSED', 'the runtime closed before the call finished'))
    }
    this.#endSyncs()
    if (idle) {
      // Sent now, with what is queued before it: a runtime starting next may adopt the thread at once.
      this.#post({ t: 'release' }, undefined, true)
      if (keepWarm(this.#workerUrl, this.#worker)) {
        this.#handedOff = true
        return
      }
    }
    await this.#worker.terminate()
  }

  /**
   * A message carrying the function's own text, its text redacted of the secrets granted to the
   * function (see {@link GUEST_TEXT}).
   */
  #redact(msg: FromExecutor): FromExecutor {
    const key =
      'inv' in msg ? this.#inflight.get(msg.inv)?.ref.key : 'id' in msg ? this.#creating.get(msg.id)?.key : undefined
    const redactor = key === undefined ? undefined : this.#loaded.get(key)?.redactor
    const redact = GUEST_TEXT[msg.t] as Redaction<FromExecutor> | undefined
    return redactor && !redactor.empty && redact ? redact(msg, redactor) : msg
  }
}
