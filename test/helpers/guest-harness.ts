/**
 * A sandbox context with the natives and the prelude, driven directly (no worker, no pool), for
 * testing the guest globals. Host timers are real; fetch is served by an in-test fake.
 */
import releaseSync from '@jitl/quickjs-wasmfile-release-sync'
import { afterEach } from 'vitest'
import {
  newQuickJSWASMModuleFromVariant,
  newVariant,
  type QuickJSContext,
  type QuickJSHandle,
  type QuickJSRuntime,
  type QuickJSSyncVariant,
  type QuickJSWASMModule,
} from 'quickjs-emscripten-core'
import { bundleGuest } from '../../build/guest-source.js'
import type { GuestFetchMeta, GuestResponseMeta, LogLevel, NativeHooks } from '../../src/sandbox/bridge-types.js'
import { installNatives, type NativesHandle } from '../../src/sandbox/natives.js'
import { parseGuestLine } from '../../src/observability/logs.js'

// Typed as the module namespace under NodeNext; at runtime the default export is the variant.
const variant = releaseSync as unknown as QuickJSSyncVariant

let prelude: Promise<string> | undefined
let wasm: Promise<QuickJSWASMModule> | undefined

/** The host's view of a guest console line (observability/logs.ts), flattened to one string. */
function renderGuestLine(raw: string): string {
  const { message, fields, err } = parseGuestLine(raw)
  return `${message}${fields ? ` ${JSON.stringify(fields)}` : ''}${err?.stack ? `\n${err.stack.replace(/\n$/, '')}` : ''}`
}

export function preludeSource(): Promise<string> {
  return (prelude ??= bundleGuest('src/sandbox/prelude/index.js'))
}

/** One module for the test file (64 MB fixed memory, as the engine uses). */
export function quickjs(): Promise<QuickJSWASMModule> {
  return (wasm ??= newQuickJSWASMModuleFromVariant(
    newVariant(variant, { wasmMemory: new WebAssembly.Memory({ initial: 64 * 16, maximum: 64 * 16 }) }),
  ))
}

/** What the fake network answers a guest fetch with. */
export interface FakeResponse {
  status?: number
  statusText?: string
  headers?: [string, string][]
  /** Body chunks (strings are UTF-8 encoded); omitted or null for no body. */
  body?: (string | Uint8Array)[] | null
  url?: string
  redirected?: boolean
  /** Delay before the head arrives, in ms. */
  delayMs?: number
}

export interface HarnessOptions {
  /** Limit of one host-to-guest copy (default 8 MB). */
  maxTransferBytes?: number
  /** Serves guest fetches; by default every fetch fails. */
  onFetch?: (meta: GuestFetchMeta, body: Uint8Array | undefined) => FakeResponse | Promise<FakeResponse>
  /** Overrides individual hooks (e.g. to make one throw). */
  hooks?: Partial<NativeHooks>
  /** Evaluate the prelude (default true); false leaves `__fnbox_native` on the global. */
  prelude?: boolean
}

export interface GuestFailure {
  name: string
  message: string
  stack?: string
}

/** Thrown on the host when guest code rejects; carries the guest's name and message. */
export class GuestRejection extends Error {
  constructor(readonly guest: GuestFailure) {
    super(`${guest.name}: ${guest.message}`)
  }
}

export class GuestHarness {
  readonly logs: { level: LogLevel; message: string }[] = []
  readonly responses: { meta: GuestResponseMeta; body: Uint8Array | undefined }[] = []
  readonly chunks: Uint8Array[] = []
  /** How many times the guest signalled the end of a streamed body. */
  bodyEnds = 0
  readonly fetches: { meta: GuestFetchMeta; body: Uint8Array | undefined }[] = []
  readonly aborted: number[] = []
  readonly cancelled: number[] = []
  /** Errors raised while pumping jobs (e.g. an uncaught throw in a job). */
  readonly pumpErrors: unknown[] = []

  readonly runtime: QuickJSRuntime
  readonly ctx: QuickJSContext
  #natives: NativesHandle
  #entry: QuickJSHandle | undefined
  #timers = new Map<number, NodeJS.Timeout>()
  #nextTimer = 1
  #bodies = new Map<number, Uint8Array[]>()
  #nextBody = 1
  #pendingFetches = new Map<number, (err: Error) => void>()
  #disposed = false

  private constructor(module: QuickJSWASMModule, options: HarnessOptions) {
    this.runtime = module.newRuntime()
    this.runtime.setMaxStackSize(512 * 1024)
    this.ctx = this.runtime.newContext()
    const hooks: NativeHooks = {
      maxTransferBytes: options.maxTransferBytes ?? 8 * 1024 * 1024,
      // A line as the host renders it: its text, its fields' JSON, an Error's stack below.
      log: (level, message) => void this.logs.push({ level, message: renderGuestLine(message) }),
      setTimer: (ms) => {
        const id = this.#nextTimer++
        this.#timers.set(
          id,
          setTimeout(() => {
            this.#timers.delete(id)
            if (this.#disposed) return
            this.entrySync('fireTimer', [this.ctx.newNumber(id)])
            this.pump()
          }, ms),
        )
        return id
      },
      clearTimer: (id) => {
        clearTimeout(this.#timers.get(id))
        this.#timers.delete(id)
      },
      respond: (meta, body) => void this.responses.push({ meta, body }),
      emitChunk: async (chunk) => {
        this.chunks.push(chunk)
        await new Promise((r) => setTimeout(r, 1))
      },
      bodyEnd: () => {
        this.bodyEnds++
      },
      fetchStart: async (meta, body) => {
        this.fetches.push({ meta, body })
        if (!options.onFetch) throw new Error('/secret/host/path/network.js: connect ECONNREFUSED')
        const res = await options.onFetch(meta, body)
        if (res.delayMs) {
          await new Promise<void>((resolve, reject) => {
            const t = setTimeout(resolve, res.delayMs)
            this.#pendingFetches.set(meta.fetchId, (err) => {
              clearTimeout(t)
              reject(err)
            })
          })
        }
        let bodyId: number | null = null
        if (res.body) {
          bodyId = this.#nextBody++
          this.#bodies.set(
            bodyId,
            res.body.map((c) => (typeof c === 'string' ? new TextEncoder().encode(c) : c)),
          )
        }
        return {
          status: res.status ?? 200,
          statusText: res.statusText ?? 'OK',
          headers: res.headers ?? [],
          url: res.url ?? meta.url,
          redirected: res.redirected ?? false,
          bodyId,
        }
      },
      fetchAbort: (fetchId) => {
        this.aborted.push(fetchId)
        this.#pendingFetches.get(fetchId)?.(new Error('aborted at /host/internal.js:1:1'))
      },
      bodyRead: async (bodyId) => {
        await new Promise((r) => setTimeout(r, 1))
        const chunks = this.#bodies.get(bodyId)
        if (!chunks) throw new Error('no such body')
        return chunks.shift()
      },
      bodyCancel: (bodyId) => {
        this.cancelled.push(bodyId)
        this.#bodies.delete(bodyId)
      },
      data: () => Promise.reject(new Error('no data stores in the harness')),
      secret: () => undefined,
      pump: () => this.pump(),
      ...options.hooks,
    }
    this.#natives = installNatives(this.ctx, hooks)
  }

  static async create(options: HarnessOptions = {}): Promise<GuestHarness> {
    const source = await preludeSource()
    const h = new GuestHarness(await quickjs(), options)
    if (options.prelude !== false) {
      h.ctx.unwrapResult(h.ctx.evalCode(source, 'fnbox:prelude')).dispose()
      h.#entry = h.ctx.getProp(h.ctx.global, '__fnbox_entry')
      h.ctx.unwrapResult(h.ctx.evalCode('delete globalThis.__fnbox_entry')).dispose()
    }
    return h
  }

  /** Runs pending guest jobs until none are left. */
  pump(): void {
    if (this.#disposed) return
    for (;;) {
      const res = this.runtime.executePendingJobs(-1)
      if (res.error) {
        this.pumpErrors.push(this.ctx.dump(res.error))
        res.error.dispose()
        continue
      }
      if (res.value === 0) return
    }
  }

  /** Evaluates a global script synchronously and returns its dumped completion value. */
  evalSync(code: string): unknown {
    const res = this.ctx.evalCode(code, 'test.js')
    if (res.error) throw new GuestRejection(this.#failure(res.error))
    const value = res.value
    try {
      return this.ctx.dump(value)
    } finally {
      value.dispose()
    }
  }

  /**
   * Runs `body` as the body of an async function in the guest and resolves with its return value
   * (through JSON), pumping jobs and waiting for host timers until it settles.
   */
  async evalAsync<T = unknown>(body: string, timeoutMs = 5000): Promise<T> {
    const code = `(async () => {\n${body}\n})().then((v) => JSON.stringify(v === undefined ? null : v))`
    const res = this.ctx.evalCode(code, 'test.js')
    if (res.error) throw new GuestRejection(this.#failure(res.error))
    const json = await this.settle(res.value, timeoutMs)
    return JSON.parse(json as string) as T
  }

  /** Calls a GuestEntry method and waits for its promise. */
  async entry(method: 'fetch' | 'call', args: (string | ArrayBuffer)[], timeoutMs = 5000): Promise<unknown> {
    const handles = args.map((a) => (typeof a === 'string' ? this.ctx.newString(a) : this.ctx.newArrayBuffer(a)))
    const fn = this.ctx.getProp(this.#entry!, method)
    const res = this.ctx.callFunction(fn, this.#entry!, handles)
    fn.dispose()
    for (const h of handles) h.dispose()
    if (res.error) throw new GuestRejection(this.#failure(res.error))
    return this.settle(res.value, timeoutMs)
  }

  /** Evaluates an ES module and hands its namespace to entry.setModule. */
  async loadModule(source: string): Promise<void> {
    const res = this.ctx.evalCode(source, 'function.js', { type: 'module' })
    if (res.error) throw new GuestRejection(this.#failure(res.error))
    // With top-level await the result is a promise of the namespace.
    const ns = await this.#settleHandle(res.value, 5000)
    this.entrySync('setModule', [ns])
  }

  /** Waits for a guest promise (consumed) and returns its dumped value. */
  async settle(promise: QuickJSHandle, timeoutMs: number): Promise<unknown> {
    const value = await this.#settleHandle(promise, timeoutMs)
    try {
      return this.ctx.dump(value)
    } finally {
      value.dispose()
    }
  }

  async #settleHandle(promise: QuickJSHandle, timeoutMs: number): Promise<QuickJSHandle> {
    const deadline = Date.now() + timeoutMs
    let keep = false
    try {
      for (;;) {
        this.pump()
        const state = this.ctx.getPromiseState(promise)
        if (state.type === 'fulfilled') {
          keep = state.notAPromise === true // then state.value is `promise` itself
          return state.value
        }
        if (state.type === 'rejected') throw new GuestRejection(this.#failure(state.error))
        if (Date.now() > deadline) throw new Error('guest promise did not settle in time')
        await new Promise((r) => setTimeout(r, 1))
      }
    } finally {
      if (!keep) promise.dispose()
    }
  }

  /** Calls a synchronous GuestEntry method (fireTimer, abort, setModule); handles are consumed. */
  entrySync(method: 'fireTimer' | 'abort' | 'setModule', args: (string | QuickJSHandle)[]): void {
    if (!this.#entry) return
    const handles = args.map((a) => (typeof a === 'string' ? this.ctx.newString(a) : a))
    const fn = this.ctx.getProp(this.#entry, method)
    const res = this.ctx.callFunction(fn, this.#entry, handles)
    fn.dispose()
    for (const a of handles) if (a.alive) a.dispose()
    if (res.error) throw new GuestRejection(this.#failure(res.error))
    res.value.dispose()
  }

  /** Reads name, message and stack of a guest error (consumed). */
  #failure(handle: QuickJSHandle): GuestFailure {
    try {
      const read = (key: string): string | undefined =>
        this.ctx
          .getProp(handle, key)
          .consume((h) => (this.ctx.typeof(h) === 'string' ? this.ctx.getString(h) : undefined))
      if (this.ctx.typeof(handle) !== 'object') return { name: 'thrown', message: String(this.ctx.dump(handle)) }
      return { name: read('name') ?? 'Error', message: read('message') ?? '', stack: read('stack') }
    } finally {
      handle.dispose()
    }
  }

  /** Guest heap usage, from QuickJS's own accounting. */
  memoryUsed(): number {
    const h = this.runtime.computeMemoryUsage()
    try {
      return (this.ctx.dump(h) as { memory_used_size: number }).memory_used_size
    } finally {
      h.dispose()
    }
  }

  dispose(): void {
    if (this.#disposed) return
    this.#disposed = true
    for (const t of this.#timers.values()) clearTimeout(t)
    this.#natives.dispose()
    if (this.#entry?.alive) this.#entry.dispose()
    this.ctx.dispose()
    this.runtime.dispose()
  }
}

/** What {@link guestRunner} gives a test file. */
export interface GuestRunner {
  /** A fresh harness, disposed after the current test. */
  harness(options?: HarnessOptions): Promise<GuestHarness>
  /** Runs an async function body in a fresh sandbox and returns its JSON result. */
  run<T = unknown>(body: string, options?: HarnessOptions): Promise<T>
  /** Runs guest code expected to reject; returns the guest error's name and message. */
  failure(body: string, options?: HarnessOptions): Promise<{ name: string; message: string }>
}

/**
 * Fresh-sandbox helpers for the test files of the guest globals, every harness disposed after
 * its test. Call once at a test file's top level: it registers the `afterEach` that disposes.
 */
export function guestRunner(): GuestRunner {
  const open: GuestHarness[] = []
  afterEach(() => {
    for (const h of open.splice(0)) h.dispose()
  })
  const harness = async (options?: HarnessOptions): Promise<GuestHarness> => {
    const h = await GuestHarness.create(options)
    open.push(h)
    return h
  }
  const run = async <T = unknown>(body: string, options?: HarnessOptions): Promise<T> =>
    (await harness(options)).evalAsync<T>(body)
  const failure = async (body: string, options?: HarnessOptions): Promise<{ name: string; message: string }> => {
    try {
      await run(body, options)
    } catch (err) {
      if (err instanceof GuestRejection) return { name: err.guest.name, message: err.guest.message }
      throw err
    }
    throw new Error('expected the guest code to reject')
  }
  return { harness, run, failure }
}
