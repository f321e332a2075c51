/**
 * What the runtime's parts (deployments, invocations, stats) share: the engine the facade
 * wires together at start. Each part takes this one object instead of a list of arguments.
 *
 * @internal
 * @module
 */
import type { EventEmitter } from 'eventemitter3'
import type { RuntimeEvents } from '../events.js'
import type { Observability } from '../observability/index.js'
import type { Executor } from '../pool/executor.js'
import type { PoolManager } from '../pool/pool-manager.js'
import type { BreakerState, BucketRotation } from '../reliability/breaker.js'
import type { Egress } from '../reliability/egress.js'
import type { LoadShedder } from '../reliability/shedding.js'
import type { Backend } from '../storage/backend.js'
import type { ResolvedRuntimeOptions } from './runtime-options.js'

export interface RuntimeContext {
  /** The runtime itself: where events go. */
  readonly events: EventEmitter<RuntimeEvents>
  /** The runtime's options, checked and filled: the defaults of every deploy. */
  readonly defaults: ResolvedRuntimeOptions
  readonly executors: readonly Executor[]
  readonly pools: PoolManager
  readonly egress: Egress
  /** Rotates the buckets of every breaker's rolling window on one timer. */
  readonly rotation: BucketRotation
  /** Undefined when shedding is off. */
  readonly shedder: LoadShedder | undefined
  /** Metrics, spans, structured logs. */
  readonly obs: Observability
  /** The storage backend, opened on first use; rejects with `ERR_CLOSED` once closed. */
  storage(): Promise<Backend>
  /** Throws `ERR_CLOSED` once `close()` has begun. */
  assertOpen(): void
}

/** Emits a breaker's change of state as `breaker:open`, `breaker:halfOpen` or `breaker:close`. */
export function emitBreakerEvent(
  events: EventEmitter<RuntimeEvents>,
  state: BreakerState,
  event: Parameters<RuntimeEvents['breaker:open']>[0],
): void {
  const name = state === 'open' ? 'breaker:open' : state === 'halfOpen' ? 'breaker:halfOpen' : 'breaker:close'
  events.emit(name, event)
}
