/**
 * What the pool and an executor hand each other: instance refs, function versions, the limits
 * and handlers of an invocation, and its outcome (see `executor.ts`).
 *
 * @internal
 * @module
 */
import type { FnboxError } from '../errors.js'
import type { SecretRedactor } from '../host/secrets/redact.js'
import type { InvocationBudget, InvocationLimits } from '../reliability/deadline.js'
import type { GuestResponseMeta, LogLevel } from '../sandbox/bridge-types.js'
import type { HostCall, HostReplyValue, SandboxLimits } from '../sandbox/protocol.js'
import type { Snapshot } from '../sandbox/snapshot.js'
import type { Executor } from './executor.js'

/** A warm instance living in an executor thread. */
export interface InstanceRef {
  readonly executor: Executor
  readonly id: number
  readonly key: string
  /** Set when the instance died on its own or with its thread. */
  lost: boolean
}

export interface InvocationHandlers {
  onRespond?(meta: GuestResponseMeta, body: ArrayBuffer | undefined): void
  onChunk?(data: ArrayBuffer): void
  onEnd?(): void
  onLog(level: LogLevel, message: string): void
  onHost(req: HostCall): Promise<HostReplyValue | undefined>
}

/** Where an invocation's handlers and its end go ({@link Executor.start}). */
export interface InvocationSink extends InvocationHandlers {
  /** It ended, with its result or its error: called once, and never after the caller was answered. */
  settle(result: InvocationResult | undefined, error: FnboxError | undefined): void
}

export interface InvocationResult {
  result: string | undefined
  /** The instance was discarded by the thread and must not be reused. */
  discarded: boolean
}

/** The host-call deadline of an invocation, moved later when its response streams. */
export interface ExtendableDeadline {
  extendTo(at: number): void
}

/** The limits of one invocation, and its host-call deadline (moved later when its response streams). */
export interface InvocationBudgetSpec {
  limits: InvocationLimits
  deadline?: ExtendableDeadline
}

export interface FunctionSource {
  key: string
  /** The function's name and version, for events. */
  name: string
  version: string
  code: string
  filename: string
  limits: SandboxLimits
  /** Granted secrets by name, current values (replaced on update, see {@link Executor.updateSecrets}). */
  secrets: Record<string, string>
  /**
   * Every value of its granted secrets since the deploy (a value replaced by a rotation stays
   * secret): what the function's errors and logs are redacted of as they leave the thread.
   */
  redactor: SecretRedactor
  /**
   * The snapshot a thread took of this version: every thread's later instances restore from it
   * (the same shared memory). Dropped when the secrets change.
   */
  snapshot?: Snapshot
}

export interface ExecutorEvents {
  restarted(executor: Executor, reason: string): void
  /** A thread took the snapshot of `source`. */
  snapshot?(executor: Executor, source: FunctionSource, snapshot: Snapshot): void
}

export interface Inflight {
  inv: number
  ref: InstanceRef
  /** The same budget the thread enforces, kept from its messages (head, chunks, end). */
  budget: InvocationBudget
  deadline: ExtendableDeadline | undefined
  handlers: InvocationSink
  /**
   * When (epoch ms) the main thread looks whether the thread is stuck on it (see
   * executor-watch.ts); Infinity: not armed. One timer per thread serves every invocation's.
   */
  checkAt: number
  /** The caller was answered at the deadline; the thread still has to report the end. */
  abandoned: boolean
}

export interface Creating {
  /** The function version, whose secrets its errors are redacted of. */
  key: string
  resolve: (created: { ms: number; restored: boolean; packing: boolean }) => void
  reject: (e: FnboxError) => void
  backstop: NodeJS.Timeout
}
