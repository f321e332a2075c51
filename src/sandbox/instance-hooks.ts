/**
 * The host side of one instance's natives (see `natives.ts`): its console output, host timers,
 * response, fetches, bodies and host calls, each counted against the running invocation's limits
 * and passed to its sink (see `invocation.ts`); and the module loader (only the host SDK).
 *
 * @internal
 * @module
 */
// The host SDK's virtual module (its exports come from the prelude's `host` chunk), generated from the domain registry.
import { HOST_MODULE_NAME, HOST_MODULE_SOURCE } from '../host/guest-module.js'
import type { NativeHooks } from './bridge-types.js'
import { clearGuestTimer, setGuestTimer, type GuestTimer } from './guest-time.js'
import type { ModuleCell } from './module-cell.js'
import { GuestError } from './natives.js'
import { InvocationFailure, readAhead, readChunk, type Running } from './invocation.js'
import { transferable } from './protocol.js'

/** Live timers one instance may hold: each is a host timer, so a guest loop must not pile them up. */
export const MAX_TIMERS = 10_000
/** What one console line counts against maxLogBytes beyond its text: empty lines cost too. */
const LOG_LINE_OVERHEAD = 16

/** The host timers an instance armed for its guest, by the id the guest knows them by. */
export class GuestTimers {
  readonly #timers = new Map<number, GuestTimer>()
  #next = 1
  readonly #fire: (id: number) => void

  /** `fire` runs when a timer is due (it is no longer counted by then). */
  constructor(fire: (id: number) => void) {
    this.#fire = fire
  }

  get size(): number {
    return this.#timers.size
  }

  set(ms: number): number {
    if (this.#timers.size >= MAX_TIMERS) {
      throw new GuestError('RangeError', `too many pending timers (limit ${MAX_TIMERS})`)
    }
    const id = this.#next++
    const delay = Math.max(0, Math.min(Number.isFinite(ms) ? ms : 0, 2_147_483_647))
    this.#timers.set(
      id,
      setGuestTimer(() => {
        this.#timers.delete(id)
        this.#fire(id)
      }, delay),
    )
    return id
  }

  clear(id: number): void {
    const t = this.#timers.get(id)
    if (t) clearGuestTimer(t)
    this.#timers.delete(id)
  }

  clearAll(): void {
    for (const t of this.#timers.values()) clearGuestTimer(t)
    this.#timers.clear()
  }
}

/** What the hooks reach of their instance. */
export interface HookedInstance {
  readonly cell: ModuleCell
  /** The invocation running now, if any. */
  running(): Running | undefined
  readonly timers: GuestTimers
  /** Arms the timer and the interrupt for the budget's next wall-clock limit. */
  armBudget(r: Running): void
  /** The stream's progress moved the budget's next limit later: the interrupt follows. */
  budgetMoved(r: Running): void
  /** Interrupts the guest at the engine's next poll (it cannot catch that). */
  interrupt(): void
  pump(): void
}

/**
 * The hooks of one instance. Limits are read from the cell at each call: a prepared blank is bound
 * to a function later.
 */
export function instanceHooks(inst: HookedInstance): NativeHooks {
  const cell = inst.cell
  const running = (): Running => {
    const r = inst.running()
    if (!r) throw new TypeError('no invocation is running')
    return r
  }

  function countResponse(r: Running, bytes: number): void {
    r.responseBytes += bytes
    const limit = cell.limits.maxResponseBytes
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
      inst.interrupt()
      throw r.failure
    }
  }

  return {
    // Guards the module's fixed memory against one host-side copy filling it (that corrupts it);
    // response sizes are checked separately against maxResponseBytes.
    get maxTransferBytes() {
      return Math.floor((cell.limits.memoryMb * 1024 * 1024) / 4)
    },
    log: (level, message) => {
      const r = inst.running()
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
    setTimer: (ms) => inst.timers.set(ms),
    clearTimer: (id) => inst.timers.clear(id),
    respond: (meta, body) => {
      const r = running()
      if (body) countResponse(r, body.byteLength)
      r.sink.respond(meta, body)
      if (meta.stream) {
        // The head is out: the body runs under the stream's budget (see InvocationBudget).
        r.budget.streamStarted(Date.now())
        inst.armBudget(r)
      }
    },
    emitChunk: (chunk) => {
      const r = running()
      countResponse(r, chunk.byteLength)
      r.budget.chunk(Date.now())
      inst.budgetMoved(r)
      return r.sink.chunk(chunk)
    },
    bodyEnd: () => {
      const r = running()
      r.budget.bodyEnded(Date.now())
      inst.budgetMoved(r)
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
      const r = inst.running()
      if (reply.meta.bodyId !== null && r) readAhead(r, reply.meta.bodyId)
      return reply.meta
    },
    fetchAbort: (fetchId) => inst.running()?.sink.hostFire({ op: 'fetchAbort', fetchId }),
    bodyRead: async (bodyId) => {
      const r = running()
      const next = r.ahead?.get(bodyId) ?? readChunk(r, bodyId)
      r.ahead?.delete(bodyId)
      const chunk = await next
      if (chunk !== undefined && inst.running() === r) readAhead(r, bodyId)
      return chunk
    },
    bodyCancel: (bodyId) => {
      const r = inst.running()
      r?.ahead?.delete(bodyId)
      r?.sink.hostFire({ op: 'bodyCancel', bodyId })
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
    secret: (name) => cell.secrets.get(name),
    pump: () => inst.pump(),
  }
}

/** The runtime's module loader: functions import only the host SDK. */
export function loadModule(name: string): string | { error: Error } {
  return name === HOST_MODULE_NAME
    ? HOST_MODULE_SOURCE
    : {
        error: new Error(
          `Cannot find module '${name}': functions can import only '${HOST_MODULE_NAME}' (bundle other dependencies into the function)`,
        ),
      }
}
