/**
 * What `createTestRuntime` passes to a runtime beside its public options, under symbol keys
 * (so option checks, which list string keys, never see them).
 *
 * @internal
 * @module
 */
import type { Dispatcher } from 'undici'

/** The undici dispatcher guest `fetch` goes through (fnbox/testing's MockAgent). */
export const TEST_DISPATCHER: unique symbol = Symbol.for('fnbox.testDispatcher') as never

export function testDispatcherOf(options: unknown): Dispatcher | undefined {
  if (typeof options !== 'object' || options === null) return undefined
  return (options as { [TEST_DISPATCHER]?: Dispatcher })[TEST_DISPATCHER]
}
