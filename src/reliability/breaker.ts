/**
 * Circuit breakers on opossum: one per function version (invocations) and one per upstream
 * (guest `fetch`). opossum keeps the rolling window, the thresholds and the decision to open;
 * fnbox decides what a call is allowed to do and what its outcome counts as, because opossum's
 * own `fire()` gets three things wrong for us:
 *
 * - A call's admission and its outcome are far apart (an instance is acquired in between, and a
 *   streamed response ends long after its head), and some outcomes say nothing about the
 *   function (the pool's queue was full, the client went away). So a call is admitted by
 *   {@link CircuitBreaker.admit} before any sandbox is touched, and its outcome is reported to
 *   opossum when it is known, by {@link CircuitBreaker.settle}. Neutral outcomes are not
 *   reported at all (opossum's `errorFilter` would count them as successes, which dilutes the
 *   error rate of a function that fails under load).
 * - Outcomes of calls admitted before the breaker last changed state are dropped: a burst of
 *   failures already in flight when it opened must not re-open it once it is half-open, or a
 *   breaker hit by many simultaneous failures would never get to probe.
 * - opossum's timeout leaves the timed-out action running and its `abortController` option is
 *   shared by every call. {@link CircuitBreaker.execute} gives each call its own signal, aborted
 *   when that call times out.
 *
 * And one thing opossum cannot do: its reset timer (open → half-open) is a global `setTimeout`,
 * which the runtime's clock cannot reach. So opossum's is set never to fire, and the half-open
 * state is fnbox's: a timer on the injected clock enters it, and the probe's outcome closes
 * opossum's breaker (`close()`) or starts another open period.
 *
 * @internal
 * @module
 */
import { EventEmitter } from 'node:events'
import CircuitBreakerImpl from 'opossum'
import { FnboxError, invalidOption } from '../errors.js'
import { systemClock, type Clock, type TimerHandle } from '../clock.js'
import { withTimeout } from './deadline.js'
import { MAX_TIMER_MS, numberOption, optionObject, optionalNumber } from './validate.js'

/**
 * Circuit breaker settings: per runtime (`createRuntime({ breaker })`) and per function
 * (`deploy(name, { breaker })`), and per upstream for guest `fetch`. `false` turns it off.
 *
 * @example
 * ```ts
 * const runtime = await createRuntime({ breaker: { volumeThreshold: 20, resetTimeoutMs: 5_000 } })
 * await runtime.deploy('report', { code, breaker: { timeoutMs: 2_000 } }) // slower calls count as timeouts
 * await runtime.deploy('batch', { code, breaker: false })
 * runtime.on('breaker:open', (e) => console.warn(`${e.name} is failing fast`, e.stats))
 * ```
 * @public
 */
export interface BreakerOptions {
  /** The breaker opens when more than this share of the counted calls in the window failed (1-100). Default 50. */
  errorThresholdPercentage?: number
  /**
   * Counted calls the window must hold before the breaker may open (at least 1: opossum's 0
   * would open on the very first failure). Default 10.
   */
  volumeThreshold?: number
  /** The rolling window the error rate is measured over, in ms (10 buckets). Default 10000. */
  rollingWindowMs?: number
  /** How long the breaker stays open before it lets one probe through (half-open), in ms. Default 10000. */
  resetTimeoutMs?: number
  /**
   * Invocations running longer than this are cancelled and count as timeouts, in ms: it
   * shortens the function's time limit (`limits.timeoutMs` when absent). Not for upstreams, whose
   * attempts time out after their own `timeoutMs`.
   */
  timeoutMs?: number
}

/** A {@link BreakerOptions} with its defaults filled. */
export interface ResolvedBreakerOptions {
  readonly errorThresholdPercentage: number
  readonly volumeThreshold: number
  readonly rollingWindowMs: number
  readonly resetTimeoutMs: number
  readonly timeoutMs: number | undefined
}

/** State of a breaker. @public */
export type BreakerState = 'closed' | 'open' | 'halfOpen'

/** A breaker's figures in `runtime.stats()`. @public */
export interface BreakerStats {
  state: BreakerState
  /** Counted successes in the rolling window. */
  successes: number
  /** Counted failures (timeouts included) in the rolling window. */
  failures: number
  /** `failures / (successes + failures)` in the window, in percent; 0 when empty. */
  errorPercentage: number
  /** Calls refused because the breaker was open or its probe was out, since it was created. */
  rejected: number
  /** Calls that timed out, since it was created. */
  timeouts: number
  /** Times the breaker opened, since it was created. */
  opens: number
  /** While open: ms until it lets a probe through. */
  retryAfterMs: number | undefined
}

/** What one call's end counts as. `neutral`: not counted (it says nothing about health). */
export type Outcome = 'success' | 'failure' | 'timeout' | 'neutral'

/** Defaults of {@link BreakerOptions}. @public */
export const DEFAULT_BREAKER: Readonly<Required<Omit<BreakerOptions, 'timeoutMs'>>> = Object.freeze({
  errorThresholdPercentage: 50,
  volumeThreshold: 10,
  rollingWindowMs: 10_000,
  resetTimeoutMs: 10_000,
})

const BREAKER_KEYS = ['errorThresholdPercentage', 'volumeThreshold', 'rollingWindowMs', 'resetTimeoutMs', 'timeoutMs']
const BUCKETS = 10

/**
 * Validates breaker options over `base` (the runtime's, for a deploy). `false` → undefined (off);
 * `undefined` → `base`.
 */
export function resolveBreaker(
  value: unknown,
  name: string,
  base: ResolvedBreakerOptions | undefined,
): ResolvedBreakerOptions | undefined {
  if (value === false) return undefined
  if (value === true) throw invalidOption(name, 'an object or false', value)
  const given = optionObject(value, name, BREAKER_KEYS)
  if (!given) return base
  const from = base ?? { ...DEFAULT_BREAKER, timeoutMs: undefined }
  return Object.freeze({
    errorThresholdPercentage: numberOption(
      given.errorThresholdPercentage,
      `${name}.errorThresholdPercentage`,
      from.errorThresholdPercentage,
      { min: 1, max: 100, fractional: true },
    ),
    volumeThreshold: numberOption(given.volumeThreshold, `${name}.volumeThreshold`, from.volumeThreshold, {
      min: 1,
      max: 1_000_000,
    }),
    rollingWindowMs: numberOption(given.rollingWindowMs, `${name}.rollingWindowMs`, from.rollingWindowMs, {
      min: BUCKETS,
      max: MAX_TIMER_MS,
    }),
    resetTimeoutMs: numberOption(given.resetTimeoutMs, `${name}.resetTimeoutMs`, from.resetTimeoutMs, {
      min: 1,
      max: MAX_TIMER_MS,
    }),
    timeoutMs:
      'timeoutMs' in given
        ? optionalNumber(given.timeoutMs, `${name}.timeoutMs`, { min: 1, max: MAX_TIMER_MS })
        : from.timeoutMs,
  })
}

/**
 * Turns the buckets of many breakers' windows with one timer per bucket length, on the injected
 * clock (opossum would start two intervals per breaker, on the global timers).
 */
export class BucketRotation {
  readonly #clock: Clock
  readonly #wheels = new Map<number, { emitter: EventEmitter; timer: TimerHandle | undefined }>()

  constructor(clock: Clock = systemClock) {
    this.#clock = clock
  }

  /** The rotate-event source for windows of `windowMs`. */
  controller(windowMs: number): EventEmitter {
    const interval = Math.max(1, Math.floor(windowMs / BUCKETS))
    let wheel = this.#wheels.get(interval)
    if (!wheel) {
      const emitter = new EventEmitter()
      emitter.setMaxListeners(0)
      wheel = { emitter, timer: undefined }
      this.#wheels.set(interval, wheel)
    }
    if (wheel.timer === undefined) this.#arm(interval, wheel)
    return wheel.emitter
  }

  #arm(interval: number, wheel: { emitter: EventEmitter; timer: TimerHandle | undefined }): void {
    wheel.timer = this.#clock.setTimeout(() => {
      wheel.timer = undefined
      wheel.emitter.emit('rotate')
      // Idle once every breaker on it was shut down; controller() starts it again.
      if (wheel.emitter.listenerCount('rotate') > 0) this.#arm(interval, wheel)
    }, interval)
  }

  close(): void {
    for (const wheel of this.#wheels.values()) {
      if (wheel.timer !== undefined) this.#clock.clearTimeout(wheel.timer)
      wheel.timer = undefined
      wheel.emitter.removeAllListeners()
    }
    this.#wheels.clear()
  }
}

/** One admitted call, until {@link CircuitBreaker.settle}. */
export interface BreakerTicket {
  readonly generation: number
  readonly probe: boolean
  settled: boolean
}

/** A reason opossum records a failure with; never shown to anyone. */
const COUNTED_FAILURE = new Error('counted failure')
const SETTLED = Promise.resolve()

export interface BreakerDeps {
  clock?: Clock
  rotation: BucketRotation
  /** Called on every state change. */
  onState?: (state: BreakerState, stats: BreakerStats) => void
}

/** Something that admits calls and learns their outcomes; a real breaker or {@link OPEN_DOOR}. */
export interface Breaker {
  admit(): BreakerTicket
  settle(ticket: BreakerTicket, outcome: Outcome): void
  /**
   * Runs `work` as one call: admitted (or `ERR_CIRCUIT_OPEN`), given a signal of its own that
   * aborts when `timeoutMs` passes (the call then rejects with `timeoutError()` and counts as a
   * timeout), its outcome judged by `judge`.
   */
  execute<T>(work: (signal: AbortSignal) => Promise<T>, options: ExecuteOptions<T>): Promise<T>
  stats(): BreakerStats | null
}

export interface ExecuteOptions<T> {
  timeoutMs?: number | undefined
  timeoutError: () => unknown
  /** What a result or an error counts as. Errors default to `failure`, results to `success`. */
  judge?: (result: { value: T } | { error: unknown }) => Outcome
  parent?: AbortSignal
  /** A result that arrived after the timeout: release it. */
  onLate?: (value: T) => void
  clock?: Clock
}

function run<T>(breaker: Breaker, work: (signal: AbortSignal) => Promise<T>, options: ExecuteOptions<T>): Promise<T> {
  let ticket: BreakerTicket
  try {
    ticket = breaker.admit()
  } catch (err) {
    return Promise.reject(err)
  }
  let timedOut = false
  const timeoutError = (): unknown => {
    timedOut = true
    return options.timeoutError()
  }
  return withTimeout(work, options.timeoutMs, timeoutError, {
    clock: options.clock,
    parent: options.parent,
    onLate: options.onLate,
  }).then(
    (value) => {
      breaker.settle(ticket, options.judge?.({ value }) ?? 'success')
      return value
    },
    (error: unknown) => {
      breaker.settle(ticket, timedOut ? 'timeout' : (options.judge?.({ error }) ?? 'failure'))
      throw error
    },
  )
}

/** A breaker that is turned off: admits everything, counts nothing. */
export const OPEN_DOOR: Breaker = Object.freeze({
  admit: (): BreakerTicket => ({ generation: 0, probe: false, settled: false }),
  settle: (): void => undefined,
  execute<T>(work: (signal: AbortSignal) => Promise<T>, options: ExecuteOptions<T>): Promise<T> {
    return run(OPEN_DOOR, work, options)
  },
  stats: (): null => null,
})

/**
 * A circuit breaker. `name` appears in its `ERR_CIRCUIT_OPEN` messages (`function hello`,
 * `upstream api.openai.com`).
 */
export class CircuitBreaker implements Breaker {
  readonly name: string
  readonly options: ResolvedBreakerOptions
  readonly #clock: Clock
  readonly #cb: CircuitBreakerImpl<[Outcome], void>
  readonly #onState: BreakerDeps['onState']
  /** Bumped on every state change; outcomes of calls admitted before it are dropped. */
  #generation = 0
  #probing = false
  /** fnbox's half-open state (opossum's breaker stays open meanwhile). */
  #halfOpen = false
  /** Ends the open period, on the clock. */
  #resetTimer: TimerHandle | undefined
  #openedAt = 0
  #rejected = 0
  #timeouts = 0
  #opens = 0
  /** The last counted failure's code and message, for the open breaker's refusals. */
  #lastFailure: { code: string; message: string } | undefined

  constructor(name: string, options: ResolvedBreakerOptions, deps: BreakerDeps) {
    this.name = name
    this.options = options
    this.#clock = deps.clock ?? systemClock
    this.#onState = deps.onState
    this.#cb = new CircuitBreakerImpl<[Outcome], void>(
      (outcome) => {
        // Thrown synchronously: opossum then opens the breaker in this same tick.
        if (outcome !== 'success') throw COUNTED_FAILURE
        return SETTLED
      },
      {
        name,
        timeout: false,
        errorThresholdPercentage: options.errorThresholdPercentage,
        volumeThreshold: options.volumeThreshold,
        // Never fires: the half-open state runs on the injected clock (see the module header).
        resetTimeout: MAX_TIMER_MS,
        rollingCountTimeout: options.rollingWindowMs,
        rollingCountBuckets: BUCKETS,
        rollingPercentilesEnabled: false,
        enableSnapshots: false,
        rotateBucketController: deps.rotation.controller(options.rollingWindowMs),
      },
    )
    this.#cb.on('open', () => this.#opened())
    this.#cb.on('close', () => this.#changed('closed'))
  }

  /** An open period starts: refused calls until the clock lets one probe through. */
  #opened(): void {
    this.#halfOpen = false
    this.#openedAt = this.#clock.wallNow()
    this.#opens++
    if (this.#resetTimer !== undefined) this.#clock.clearTimeout(this.#resetTimer)
    this.#resetTimer = this.#clock.setTimeout(() => {
      this.#resetTimer = undefined
      this.#halfOpen = true
      this.#changed('halfOpen')
    }, this.options.resetTimeoutMs)
    this.#changed('open')
  }

  #changed(state: BreakerState): void {
    this.#generation++
    this.#probing = false
    this.#onState?.(state, this.stats())
  }

  get state(): BreakerState {
    return this.#halfOpen ? 'halfOpen' : this.#cb.opened ? 'open' : 'closed'
  }

  /**
   * Lets a call through, or refuses it with `ERR_CIRCUIT_OPEN` (503, `Retry-After`): always while
   * open; while half-open, all but the one probe.
   */
  admit(): BreakerTicket {
    if (this.#halfOpen) {
      if (this.#probing) throw this.#refusal(1000)
      this.#probing = true
      return { generation: this.#generation, probe: true, settled: false }
    }
    if (this.#cb.opened) throw this.#refusal(this.#retryAfterMs())
    return { generation: this.#generation, probe: false, settled: false }
  }

  /**
   * Reports how an admitted call ended. Idempotent per ticket. Counted at once; a half-open
   * probe's outcome closes the breaker or opens it again at once.
   */
  settle(ticket: BreakerTicket, outcome: Outcome, cause?: { code: string; message: string }): void {
    if (ticket.settled) return
    ticket.settled = true
    if (outcome === 'failure' || outcome === 'timeout') {
      this.#lastFailure = cause ? { code: cause.code, message: cause.message.slice(0, 300) } : undefined
    }
    if (outcome === 'timeout') this.#timeouts++
    if (ticket.generation !== this.#generation) return // admitted under an earlier state
    if (ticket.probe) this.#probing = false
    if (outcome === 'neutral') return // a neutral probe: the next call probes instead
    if (ticket.probe) {
      // Counted in the window like any call; then the probe decides: closed, or open again.
      this.#cb.emit('fire', [])
      if (outcome === 'success') {
        this.#cb.emit('success', undefined, 0)
        this.#halfOpen = false
        this.#cb.close()
      } else {
        this.#cb.emit('failure', COUNTED_FAILURE, 0)
        this.#opened()
      }
      return
    }
    if (outcome === 'success' && !ticket.probe && this.#cb.closed) {
      // All a success does to a closed breaker is count: opossum counts on its own 'fire' and
      // 'success' events. Emitting them costs ~0.4 us; fire() ~7-10 us (promises, semaphore).
      this.#cb.emit('fire', [])
      this.#cb.emit('success', undefined, 0)
      return
    }
    this.#cb.fire(outcome).catch(() => undefined)
  }

  execute<T>(work: (signal: AbortSignal) => Promise<T>, options: ExecuteOptions<T>): Promise<T> {
    return run(this, work, { clock: this.#clock, ...options })
  }

  #retryAfterMs(): number {
    return Math.max(0, this.#openedAt + this.options.resetTimeoutMs - this.#clock.wallNow())
  }

  #refusal(retryAfterMs: number): FnboxError {
    this.#rejected++
    const seconds = Math.max(1, Math.ceil(retryAfterMs / 1000))
    const last = this.#lastFailure
    // Why it opened: the failure a person debugging needs, not only that calls are refused.
    const shown = `the circuit breaker of ${this.name} is open (retry in ${seconds} s)`
    const why = last ? `; the last failure: ${last.code}: ${last.message}` : ''
    return new FnboxError('ERR_CIRCUIT_OPEN', shown + why, {
      retryAfterSeconds: seconds,
      // HTTP clients get the first part only: the failure's text is the host's to read.
      details: { breaker: this.name, retryAfterMs, lastFailure: last, publicMessage: shown },
    })
  }

  stats(): BreakerStats {
    const { successes, failures } = this.#cb.stats
    const counted = successes + failures
    const state = this.state
    return {
      state,
      successes,
      failures,
      errorPercentage: counted === 0 ? 0 : Math.round((failures / counted) * 1000) / 10,
      rejected: this.#rejected,
      timeouts: this.#timeouts,
      opens: this.#opens,
      retryAfterMs: state === 'open' ? this.#retryAfterMs() : undefined,
    }
  }

  /** Stops its timers; the breaker is not used again. */
  shutdown(): void {
    if (this.#resetTimer !== undefined) this.#clock.clearTimeout(this.#resetTimer)
    this.#resetTimer = undefined
    this.#cb.shutdown()
  }
}
