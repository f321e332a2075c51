/**
 * What every conformance suite takes: a function that opens the store under test.
 *
 * @module
 */
import { afterAll, beforeAll } from 'vitest'

/** A store under test, with what closes it (a database, a temporary folder) after the suite. */
export interface StoreHarness<S> {
  store: S
  close?(): Promise<void>
}

/**
 * Opens the store a suite tests, once before its tests: the store itself, or a
 * {@link StoreHarness} when something must be closed after them. Tests work in scopes (or
 * names) of their own, so the store may hold other data, but it must start without these.
 *
 * @public
 */
export type OpenStore<S> = () => S | StoreHarness<S> | Promise<S | StoreHarness<S>>

/** Options of every conformance suite. @public */
export interface ConformanceOptions {
  /** Added to the suite's name (`KvStore conformance: my-redis`). */
  name?: string
}

/** The title of a suite. */
export const suiteName = (contract: string, options: ConformanceOptions | undefined) =>
  options?.name ? `${contract} conformance: ${options.name}` : `${contract} conformance`

/**
 * Opens the store before the suite's tests and closes it after them; `current()` is the store.
 * Call inside the suite's `describe`.
 */
export function useStore<S>(open: OpenStore<S>): () => S {
  let harness: StoreHarness<S> | undefined
  beforeAll(async () => {
    const opened = await open()
    harness = isHarness<S>(opened) ? opened : { store: opened }
  })
  afterAll(() => harness?.close?.())
  return () => {
    if (!harness) throw new Error('the store is not open (its open function failed, or the suite has ended)')
    return harness.store
  }
}

function isHarness<S>(value: S | StoreHarness<S>): value is StoreHarness<S> {
  return (
    typeof value === 'object' &&
    value !== null &&
    Object.hasOwn(value, 'store') &&
    Object.keys(value).every((key) => key === 'store' || key === 'close')
  )
}
