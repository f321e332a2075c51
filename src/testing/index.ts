/**
 * `fnbox/testing`: a runtime for unit tests of functions. Memory storage, the production limits,
 * a {@link TestClock} that every timer and timestamp follows (host and guests), guest `fetch`
 * answered by undici's `MockAgent` (no sockets), and the guests' logs and the runtime's events
 * captured. It imports no test framework: it works under vitest, Jest, `node:test` or a script.
 * The conformance suites of the store interfaces, which declare vitest tests, are
 * `fnbox/testing/conformance`.
 *
 * @example
 * ```ts
 * import { createTestRuntime } from 'fnbox/testing'
 *
 * const t = await createTestRuntime()
 * await t.deploy('hello', { code: `export const greet = (name) => 'hi ' + name` })
 * expect(await t.call('hello', 'greet', 'Ada')).toBe('hi Ada')
 * await t.clock.advance('10m')
 * await t.close()
 * ```
 * @module
 */
import { MockAgent } from 'undici'
import type { InvokeEvent, LogEvent, RuntimeEvents } from '../events.js'
import { createRuntime, type Runtime, type RuntimeOptions } from '../runtime.js'
import { TEST_DISPATCHER } from './hooks.js'
import { TestClock } from './test-clock.js'

export { TestClock } from './test-clock.js'

/**
 * Options of {@link createTestRuntime}: those of `createRuntime` (storage defaults to
 * `'memory'`, files to `'memory'`, threads to 1), and where the clock starts.
 *
 * @public
 */
export interface TestRuntimeOptions extends Omit<RuntimeOptions, 'clock'> {
  /** The clock's first time (a `Date` or ms since the epoch), or a clock to share. Default: now. */
  clock?: TestClock | Date | number
}

/** One event the runtime emitted, in order. @public */
export interface CapturedEvent {
  /** The event's name (`'invoke'`, `'log'`, `'breaker:open'`, ...). */
  name: keyof RuntimeEvents
  /** Its payload, as listeners receive it. */
  event: unknown
}

/**
 * A runtime for tests: every method of `Runtime`, and the harness beside them.
 *
 * @public
 */
export interface TestRuntime extends Runtime {
  /** The clock of the runtime and its guests: `await t.clock.advance('10m')`. */
  readonly clock: TestClock
  /**
   * undici's `MockAgent` that every guest `fetch` goes through (after the allow-list); requests
   * with no matching interceptor fail, no socket is ever opened. Declare routes with
   * `t.upstream.get('https://api.example.com').intercept({ path: '/v1/x' }).reply(200, {...})`;
   * assert with `t.upstream.getCallHistory()?.calls()` or `t.upstream.assertNoPendingInterceptors()`.
   */
  readonly upstream: MockAgent
  /** Guest console lines, in order (redacted as in production). */
  readonly logs: LogEvent[]
  /** Finished invocations (`invoke` events), in order. */
  readonly invocations: InvokeEvent[]
  /** Every runtime event, in order. */
  readonly events: CapturedEvent[]
  /** Empties {@link TestRuntime.logs}, {@link TestRuntime.invocations} and {@link TestRuntime.events}. */
  clearCaptured(): void
}

/** The events a test runtime records in {@link TestRuntime.events}. */
const CAPTURED: readonly (keyof RuntimeEvents)[] = [
  'log',
  'invoke',
  'deploy',
  'undeploy',
  'instance:create',
  'snapshot',
  'pool:scale',
  'executor:restart',
  'breaker:open',
  'breaker:halfOpen',
  'breaker:close',
  'upstream:credential',
  'load:level',
]

/**
 * Creates a runtime for unit tests: memory storage, one executor thread, production limits, a
 * {@link TestClock}, guest `fetch` through a `MockAgent`, logs and events captured.
 * `t.close()` (or `await using t = ...`) releases it.
 *
 * @example
 * ```ts
 * const t = await createTestRuntime({ clock: new Date('2026-01-01T00:00:00Z') })
 * t.upstream.get('https://api.example.com').intercept({ path: '/rate' }).reply(200, { eur: 0.9 })
 * await t.deploy('fx', {
 *   code: `export async function rate() { return (await fetch('https://api.example.com/rate')).json() }`,
 * })
 * expect(await t.call('fx', 'rate')).toEqual({ eur: 0.9 })
 * await t.close()
 * ```
 * @public
 */
export async function createTestRuntime(options: TestRuntimeOptions = {}): Promise<TestRuntime> {
  const { clock: start, ...rest } = options
  const clock = start instanceof TestClock ? start : new TestClock(start)
  const upstream = new MockAgent({ enableCallHistory: true })
  upstream.disableNetConnect()
  const runtimeOptions: RuntimeOptions = { threads: 1, storage: 'memory', files: 'memory', ...rest, clock }
  Object.defineProperty(runtimeOptions, TEST_DISPATCHER, { value: upstream })
  let runtime: Runtime
  try {
    runtime = await createRuntime(runtimeOptions)
  } catch (err) {
    await upstream.close()
    throw err
  }
  const logs: LogEvent[] = []
  const invocations: InvokeEvent[] = []
  const events: CapturedEvent[] = []
  for (const name of CAPTURED) {
    runtime.on(name, (event: unknown) => {
      events.push({ name, event })
      if (name === 'log') logs.push(event as LogEvent)
      if (name === 'invoke') invocations.push(event as InvokeEvent)
    })
  }
  const close = runtime.close.bind(runtime)
  let closing: Promise<void> | undefined
  return Object.defineProperties(runtime, {
    clock: { value: clock, enumerable: true },
    upstream: { value: upstream, enumerable: true },
    logs: { value: logs, enumerable: true },
    invocations: { value: invocations, enumerable: true },
    events: { value: events, enumerable: true },
    clearCaptured: {
      value: () => {
        logs.length = 0
        invocations.length = 0
        events.length = 0
      },
    },
    close: {
      value: (...args: Parameters<Runtime['close']>) => (closing ??= close(...args).finally(() => upstream.close())),
    },
  }) as TestRuntime
}
