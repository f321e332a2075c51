/**
 * Entry point of an executor thread. Guests run here, never on the host's event loop; a guest
 * stuck in a builtin that ignores the interrupt blocks only this thread until the main thread
 * terminates it.
 *
 * @internal
 * @module
 */
import { readlinkSync } from 'node:fs'
import { getPriority, setPriority } from 'node:os'
import { parentPort, workerData } from 'node:worker_threads'
import { FnboxError, isFnboxError } from '../errors.js'
import { createBatcher, type Batch } from './batch.js'
import { Engine } from './engine.js'
import { setGuestSlot } from './guest-slot.js'
import { clearGuestTimers, fireDueGuestTimers, nextGuestTimer, setGuestTime } from './guest-time.js'
import { InvocationFailure, type InvocationSink } from './instance.js'
import { GuestError } from './natives.js'
import type { GuestResponseMeta, LogLevel } from './bridge-types.js'
import {
  transferable,
  type ExecutorInit,
  type FromExecutor,
  type HostCall,
  type HostReplyValue,
  type ToExecutor,
} from './protocol.js'

const port = parentPort
if (!port) throw new Error('fnbox executor must run in a worker thread')

/** How much lower than the host's main thread executor threads run (see {@link lowerPriority}). */
const EXECUTOR_NICE = 10

/** Chunks the guest may send ahead of the host's credits. */
const CHUNK_WINDOW = 8

const send = createBatcher<FromExecutor>((batch, transfer) => port.postMessage(batch, transfer))

/** Running invocation id → instance id, for cancel. */
const running = new Map<number, number>()

const init = workerData as ExecutorInit
setGuestSlot(init.guestSlot)
setGuestTime(init.guestTime)
lowerPriority()

/**
 * Lowers this thread's CPU priority below the host's event loop (nice +10, capped at 19).
 * Guests that compute (a loop running to its time limit, a builtin wedged until the thread is
 * replaced, a new thread compiling its engine) otherwise take the cores from the host's main
 * thread: measured on 2 cores, its event loop then waited up to 55-65 ms on the run queue to
 * run timers of 0.1-0.5 ms of work. Linux only (a thread's nice is its own there); elsewhere,
 * or when not permitted, the thread keeps the process's priority.
 */
function lowerPriority(): void {
  if (process.platform !== 'linux') return
  try {
    const tid = Number(readlinkSync('/proc/thread-self').split('/').pop())
    if (Number.isInteger(tid) && tid > 0) setPriority(tid, Math.min(19, getPriority(tid) + EXECUTOR_NICE))
  } catch {
    // Not available (no /proc) or not permitted: run at the process's priority.
  }
}
const engine = new Engine(
  {
    lost: (ids, reason) => {
      for (const id of ids) send({ t: 'lost', id, reason })
    },
    blank: (ready) => send({ t: 'blank', ready }),
    snapshot: (key, snapshot) => send({ t: 'snapshot', key, snapshot }),
  },
  init.blankMemoryMb,
  init.blanks,
  () => running.size > 0,
)

let nextCall = 1
const pendingCalls = new Map<number, { resolve: (v: HostReplyValue) => void; reject: (e: Error) => void }>()
/** Per invocation: chunks not yet credited, and who waits for room. */
const windows = new Map<number, { unacked: number; waiters: (() => void)[] }>()

/** Where one invocation's output goes: messages to the host, tagged with the invocation. */
class Sink implements InvocationSink {
  constructor(readonly inv: number) {}

  respond(meta: GuestResponseMeta, body: Uint8Array | undefined): void {
    const buf = body ? transferable(body) : undefined
    send({ t: 'respond', inv: this.inv, meta, body: buf }, buf ? [buf] : undefined)
  }

  chunk(data: Uint8Array): Promise<void> {
    const inv = this.inv
    const buf = transferable(data)
    send({ t: 'chunk', inv, data: buf }, [buf])
    const w = windows.get(inv) ?? { unacked: 0, waiters: [] }
    windows.set(inv, w)
    w.unacked++
    if (w.unacked < CHUNK_WINDOW) return Promise.resolve()
    return new Promise((resolve) => w.waiters.push(resolve))
  }

  end(): void {
    send({ t: 'end', inv: this.inv })
  }

  log(level: LogLevel, message: string): void {
    send({ t: 'log', inv: this.inv, level, message })
  }

  host(req: HostCall): Promise<HostReplyValue> {
    const call = nextCall++
    return new Promise<HostReplyValue>((resolve, reject) => {
      pendingCalls.set(call, { resolve, reject })
      const body = req.op === 'fetchStart' ? req.body : req.op === 'data' ? req.bytes : undefined
      const transfer = body ? [body] : undefined
      // Network calls wait on the other side's I/O: they leave now, not at the end of the task.
      send({ t: 'host', inv: this.inv, call, req }, transfer, req.op === 'fetchStart' || req.op === 'bodyRead')
    })
  }

  hostFire(req: HostCall): void {
    send({ t: 'host', inv: this.inv, call: 0, req })
  }
}

function serialize(err: unknown) {
  if (err instanceof InvocationFailure) return err.error
  if (isFnboxError(err)) return err.toJSON()
  return new FnboxError('ERR_INTERNAL', 'executor failure').toJSON()
}

async function invoke(msg: Extract<ToExecutor, { t: 'invoke' }>): Promise<void> {
  const instance = engine.instance(msg.id)
  if (!instance) {
    send({
      t: 'failed',
      inv: msg.inv,
      error: { code: 'ERR_EXECUTOR_LOST', message: 'the sandbox instance is gone' },
      discarded: true,
    })
    return
  }
  running.set(msg.inv, msg.id)
  try {
    const out = await instance.invoke(msg.inv, msg.call, msg.limits, new Sink(msg.inv))
    send({ t: 'done', inv: msg.inv, result: out.result, discarded: false })
  } catch (err) {
    const discarded = !instance.alive || (err instanceof InvocationFailure && err.discard)
    if (discarded) {
      instance.dispose()
      engine.forget(msg.id)
    }
    send({ t: 'failed', inv: msg.inv, error: serialize(err), discarded })
  } finally {
    running.delete(msg.inv)
    // Answered (the batch goes out in a microtask): a snapshot waiting to be packed goes next.
    if (running.size === 0 && engine.packing) setImmediate(packWhenIdle)
    const w = windows.get(msg.inv)
    windows.delete(msg.inv)
    for (const wake of w?.waiters ?? []) wake()
  }
}

function packWhenIdle(): void {
  if (running.size === 0) engine.packSnapshots()
}

port.on('message', (batch: Batch<ToExecutor>) => {
  for (const msg of batch.msgs) receive(msg)
})

/**
 * The runtime closed with nothing in flight here: everything of it goes (functions, instances,
 * snapshots, blank engines, guest timers, the clock it shared) before the thread waits, warm, for
 * another runtime.
 */
function release(): void {
  engine.reset(0, 0)
  clearGuestTimers()
  setGuestTime(undefined)
  running.clear()
  for (const pending of pendingCalls.values()) pending.reject(new Error('the runtime closed'))
  pendingCalls.clear()
  windows.clear()
}

function receive(msg: ToExecutor): void {
  switch (msg.t) {
    case 'release':
      release()
      break
    case 'adopt':
      release()
      setGuestSlot(msg.init.guestSlot)
      setGuestTime(msg.init.guestTime)
      engine.reset(msg.init.blankMemoryMb, msg.init.blanks)
      send({ t: 'ready' })
      engine.refillBlank()
      break
    case 'load':
      engine.load(msg.key, msg.code, msg.filename, msg.limits, msg.secrets)
      break
    case 'secrets':
      engine.setSecrets(msg.key, msg.secrets)
      break
    case 'unload':
      engine.unload(msg.key)
      break
    case 'snapshot':
      engine.adoptSnapshot(msg.key, msg.snapshot)
      break
    case 'create':
      engine.create(msg.id, msg.key).then(
        ({ ms, restored, packing }) => send({ t: 'created', id: msg.id, ms, restored, packing }),
        (err: unknown) => send({ t: 'create-failed', id: msg.id, error: serialize(err) }),
      )
      break
    case 'destroy':
      engine.destroy(msg.id)
      break
    case 'invoke':
      void invoke(msg)
      break
    case 'cancel': {
      const id = running.get(msg.inv)
      if (id !== undefined) engine.instance(id)?.cancel(msg.reason)
      break
    }
    case 'credit': {
      const w = windows.get(msg.inv)
      if (!w) break
      w.unacked--
      if (w.unacked < CHUNK_WINDOW) w.waiters.shift()?.()
      break
    }
    case 'sync':
      fireDueGuestTimers()
      // After the pumps and sends the timers (and earlier messages) scheduled.
      setImmediate(() => send({ t: 'synced', id: msg.id, next: nextGuestTimer() }))
      break
    case 'reply': {
      const pending = pendingCalls.get(msg.call)
      if (!pending) break
      pendingCalls.delete(msg.call)
      if (msg.ok) pending.resolve(msg.value)
      // Messages of host-call failures are written by fnbox for the guest (no host detail): pass them on.
      else pending.reject(new GuestError(msg.error.name, msg.error.message, msg.error.code, msg.error.details))
      break
    }
  }
}

send({ t: 'ready' })
engine.refillBlank()
