/**
 * Messages between the host's main thread and an executor thread. Plain structured-clone data;
 * bodies travel as transferred `ArrayBuffer`s.
 *
 * @internal
 * @module
 */
import type { SerializedFnboxError } from '../errors.js'
import type { InvocationLimits } from '../reliability/deadline.js'
import type { GuestFetchMeta, GuestFetchResponseMeta, GuestResponseMeta, LogLevel } from './bridge-types.js'
import type { Snapshot } from './snapshot.js'

/**
 * An ArrayBuffer holding exactly `bytes`, to transfer with a message: its own buffer when the view
 * covers all of it, else a copy. Only for bytes the caller owns (a transferred buffer is detached).
 */
export function transferable(bytes: Uint8Array): ArrayBuffer {
  if (bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength && bytes.buffer instanceof ArrayBuffer) {
    return bytes.buffer
  }
  return bytes.slice().buffer as ArrayBuffer
}

/** Time to evaluate the prelude or a function's top-level code, in ms. */
export const INIT_TIMEOUT_MS = 10_000

/** Limits enforced inside the executor thread, per instance. */
export interface SandboxLimits {
  memoryMb: number
  maxStackKb: number
  maxResponseBytes: number
  maxLogBytes: number
  /** Instances of one function version sharing one module (and its `memoryMb`). */
  instancesPerModule: number
}

/** Passed as `workerData` when an executor thread starts. */
export interface ExecutorInit {
  threadId: number
  /** Memory of the blank engines kept ready on the thread (the runtime's default memoryMb). */
  blankMemoryMb: number
  /** How many blank engines the thread keeps ready (they count in the pool budget). */
  blanks: number
  /** Where the thread marks the guest code it runs (see guest-slot.ts). */
  guestSlot: SharedArrayBuffer
  /** A manual clock's time, when guests follow one (see guest-time.ts). */
  guestTime?: SharedArrayBuffer
}

export type ToExecutor =
  /**
   * The runtime closed and keeps the thread warm for the next one (pool/warm-threads.ts): drop
   * everything of it. `adopt` then starts the thread's service of another runtime, which it
   * answers with `ready` as a new thread does.
   */
  | { t: 'release' }
  | { t: 'adopt'; init: ExecutorInit }
  | {
      t: 'load'
      /** Function version key: `${name}@${version}`. */
      key: string
      code: string
      filename: string
      limits: SandboxLimits
      /** The secrets granted to the function, by name (read by `secrets.get` in the guest). */
      secrets: Record<string, string>
    }
  /** New values of a function version's granted secrets (replace the whole set). */
  | { t: 'secrets'; key: string; secrets: Record<string, string> }
  | { t: 'unload'; key: string }
  /** A snapshot of `key` taken on another thread: new instances restore from it (shared memory). */
  | { t: 'snapshot'; key: string; snapshot: Snapshot }
  | { t: 'create'; id: number; key: string }
  | { t: 'destroy'; id: number }
  | {
      t: 'invoke'
      inv: number
      id: number
      /** Its time limits, counted from the same `startedAt` as on the main thread. */
      limits: InvocationLimits
      call:
        /** `meta` is `GuestRequestMeta` as JSON: one string clones faster than a header list. */
        | { kind: 'fetch'; meta: string; body: ArrayBuffer | undefined }
        | { kind: 'call'; exportName: string; argsJson: string }
    }
  | { t: 'cancel'; inv: number; reason: 'client' | 'timeout' }
  /** The host wrote the previous chunk of `inv`'s body; the guest may send the next. */
  | { t: 'credit'; inv: number }
  | { t: 'reply'; call: number; ok: true; value: HostReplyValue }
  | { t: 'reply'; call: number; ok: false; error: HostCallError }
  /** The manual clock moved (or a test waits for quiet): fire due guest timers, then answer `synced`. */
  | { t: 'sync'; id: number }

/**
 * A host call's failure as the guest sees it: every field written by fnbox for the guest. `code`
 * and `details` (limit, value, argument, expected) come from a {@link FnboxError}.
 */
export interface HostCallError {
  name: string
  message: string
  code?: string
  details?: Record<string, string | number>
}

export type HostReplyValue =
  | { op: 'fetchStart'; meta: GuestFetchResponseMeta }
  | { op: 'bodyRead'; chunk: ArrayBuffer | undefined }
  /** `json`: the result as JSON (absent for `undefined`); `bytes`: a binary result (files.read). */
  | { op: 'data'; json: string | undefined; bytes: ArrayBuffer | undefined }

export type HostCall =
  | { op: 'fetchStart'; meta: GuestFetchMeta; body: ArrayBuffer | undefined }
  | { op: 'bodyRead'; bodyId: number }
  | { op: 'bodyCancel'; bodyId: number }
  | { op: 'fetchAbort'; fetchId: number }
  /**
   * A data-domain call of `fnbox:host` (`kv.get`, `vector.query`, `tx.begin`, ...): `args` is the
   * JSON of one object, `bytes` a binary argument (files.write). Validated on the host.
   */
  | { op: 'data'; method: string; args: string; bytes: ArrayBuffer | undefined }

export type FromExecutor =
  | { t: 'ready' }
  /** `restored`: from the function's snapshot, not by evaluating its code. */
  /** `packing`: a snapshot of the function was copied and follows in a moment (a `snapshot` message). */
  | { t: 'created'; id: number; ms: number; restored: boolean; packing: boolean }
  | { t: 'create-failed'; id: number; error: SerializedFnboxError }
  /** An instance died on its own (its module was discarded); the pool must forget it. */
  | { t: 'lost'; id: number; reason: string }
  | { t: 'respond'; inv: number; meta: GuestResponseMeta; body: ArrayBuffer | undefined }
  | { t: 'chunk'; inv: number; data: ArrayBuffer }
  /** The streamed body of `inv` is complete; `done` may follow later (waitUntil work). */
  | { t: 'end'; inv: number }
  | { t: 'done'; inv: number; result: string | undefined; discarded: boolean }
  | { t: 'failed'; inv: number; error: SerializedFnboxError; discarded: boolean }
  | { t: 'log'; inv: number; level: LogLevel; message: string }
  /** `call` is 0 for fire-and-forget calls. */
  | { t: 'host'; inv: number; call: number; req: HostCall }
  /** How many blank engines the thread has ready now (one became ready, or was taken). */
  | { t: 'blank'; ready: number }
  /** This thread took a snapshot of `key` (its memory is shared, not copied). */
  | { t: 'snapshot'; key: string; snapshot: Snapshot }
  /** Answers `sync` once the thread is idle; `next`: when its next manual guest timer is due. */
  | { t: 'synced'; id: number; next: number }
