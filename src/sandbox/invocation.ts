/**
 * One invocation as an instance runs it: what it reports back to its executor thread (its sink),
 * its state while it runs (budget, CPU time, output counted against its limits, the fetched
 * bodies read ahead), and how it fails (a typed {@link InvocationFailure} from a guest error or a
 * host-side exception).
 *
 * @internal
 * @module
 */
import type { QuickJSContext, QuickJSHandle } from 'quickjs-emscripten-core'
import type { SerializedFnboxError } from '../errors.js'
import { InvocationBudget, type InvocationLimits } from '../reliability/deadline.js'
import type { GuestResponseMeta, LogLevel } from './bridge-types.js'
import { SandboxMemoryExhausted, takeExhausted } from './module-cell.js'
import type { HostCall, HostReplyValue, ToExecutor } from './protocol.js'

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

export interface Running {
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

export function readChunk(r: Running, bodyId: number): Promise<Uint8Array | undefined> {
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
export function readAhead(r: Running, bodyId: number): void {
  const next = readChunk(r, bodyId)
  next.catch(() => undefined) // a read the guest never takes (cancelled, invocation over) may fail unseen
  ;(r.ahead ??= new Map()).set(bodyId, next)
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
  if (name === 'FnboxExportNotFound') {
    return new InvocationFailure({ code: 'ERR_NOT_FOUND', message }, false)
  }
  if (name === 'FnboxResultNotJson') {
    const problem = resultProblem(message)
    if (problem) {
      return new InvocationFailure(
        {
          code: 'ERR_GUEST_EXCEPTION',
          message: `the function's result must be a JSON value: ${problem.path}: ${problem.what}`,
          details: { name, path: problem.path, value: problem.what }, // its stack is the prelude's
        },
        false,
      )
    }
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

/** The path and problem the prelude's `resultJson` put in its error's message. */
function resultProblem(message: string): { path: string; what: string } | undefined {
  try {
    const parsed = JSON.parse(message) as { path?: unknown; what?: unknown }
    return typeof parsed.path === 'string' && typeof parsed.what === 'string'
      ? { path: parsed.path, what: parsed.what }
      : undefined
  } catch {
    return undefined
  }
}

function safeString(value: unknown): string {
  try {
    return typeof value === 'string' ? value : (JSON.stringify(value) ?? String(value))
  } catch {
    return String(value)
  }
}

/** The guest's module ran out of memory: the instance goes (`condemn`: and its module). */
export function memoryFailure(condemn = false): InvocationFailure {
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

/**
 * What ended the invocation: the cause, not the guest's reaction to it. A limit it ran out of
 * or memory it exhausted wins over what the guest threw afterwards (a guest may catch the
 * error of a host call cut off by its deadline, or of an allocation, and throw another).
 */
export function outcome(memory: WebAssembly.Memory, r: Running, failure: InvocationFailure): InvocationFailure {
  if (takeExhausted(memory)) r.failure ??= memoryFailure()
  const cause = r.failure ?? limitPassed(r, failure) ?? failure
  // A module a host exception unwound through goes, whatever the cause reported.
  return failure.condemn && !cause.condemn ? new InvocationFailure(cause.error, true, true) : cause
}

/** The wall-clock or CPU limit the invocation is past when `failure` ended it, if any. */
function limitPassed(r: Running, failure: InvocationFailure): InvocationFailure | undefined {
  if (failure.error.code === 'ERR_EXECUTOR_LOST') return undefined
  const next = r.budget.next()
  if (Date.now() >= next.at) return new InvocationFailure(r.budget.error(next.limit), true)
  if (r.budget.cpuBinds() && r.cpu > r.budget.limits.cpuMs) {
    return new InvocationFailure(r.budget.error('cpuMs'), true)
  }
  return undefined
}

/** The running invocation's new record, before the guest runs. */
export function newRunning(
  inv: number,
  limits: InvocationLimits,
  sink: InvocationSink,
  resolve: (outcome: InvokeOutcome) => void,
  reject: (failure: InvocationFailure) => void,
): Running {
  return {
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
}

/** The failure of a call whose result is over `limits.maxResponseBytes`, if it is. */
export function resultTooLarge(result: string | undefined, limit: number): InvocationFailure | undefined {
  if (result === undefined || result.length <= limit) return undefined
  return new InvocationFailure(
    {
      code: 'ERR_RESPONSE_TOO_LARGE',
      message: `result of ${result.length} bytes exceeds limits.maxResponseBytes (${limit})`,
      details: { limit, value: result.length },
    },
    false,
  )
}

/**
 * The memory failure, recorded as `running`'s outcome, if the module ran out (the thread runs one
 * thing at a time, so it was this instance); with `known`, the caller knows it did.
 */
export function exhausted(
  memory: WebAssembly.Memory,
  running: Running | undefined,
  known = false,
): InvocationFailure | undefined {
  if (!takeExhausted(memory) && !known) return undefined
  const failure = memoryFailure()
  if (running) running.failure ??= failure
  return failure
}

/** A host-side exception while driving the guest, as a failure (see {@link asFailure}). */
export function hostFailure(memory: WebAssembly.Memory, err: unknown): InvocationFailure {
  if (!(err instanceof InvocationFailure) && takeExhausted(memory)) return memoryFailure(true)
  return asFailure(err)
}
