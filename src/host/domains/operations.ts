/**
 * Running the data operations behind `fnbox:host` and the host API (`runtime.kv`, ...): each
 * domain's `operations.ts` validates the arguments, then calls the adapter (the registry lists
 * them by method name). Guest calls arrive as JSON objects; the host API passes the same objects,
 * so both get the same checks and the same typed errors. Adapter failures become typed here.
 *
 * @internal
 * @module
 */
import { FnboxError, isFnboxError } from '../../errors.js'
import type { Stores } from '../../storage/backend.js'
import { OPERATIONS, type RegisteredOperation } from '../registry.js'
import { invalid } from './validate.js'

/** The operation of a method (`vector.query`), or `ERR_INVALID_ARGUMENT` naming it. */
export function operationOf(method: string): RegisteredOperation {
  const found = OPERATIONS.get(method)
  if (!found) throw invalid('method', `${JSON.stringify(method)} is not a fnbox:host operation`)
  return found
}

/** Runs an operation on its domain's store among `stores` (a backend's, or a transaction's). */
export function runOperation(
  { domain, operation }: RegisteredOperation,
  stores: Stores,
  scope: string,
  args: Record<string, unknown>,
  bytes: Uint8Array | undefined,
): Promise<unknown> {
  return operation.run(stores.get(domain.name), scope, args, bytes)
}

/**
 * SQLSTATEs of a transaction that lost to a concurrent one and was rolled back, which a retry
 * may win: serialization_failure and deadlock_detected.
 */
const CONFLICT_STATES = new Set(['40001', '40P01'])

/** Whether `err` (or its cause, as the stores wrap driver errors) is such a conflict. */
function isConflict(err: unknown): boolean {
  for (let e = err, depth = 0; e && typeof e === 'object' && depth < 4; e = (e as Error).cause, depth++) {
    const code = (e as { code?: unknown }).code
    if (typeof code === 'string' && CONFLICT_STATES.has(code)) return true
  }
  return false
}

/**
 * Typed errors pass, but a conflict with a concurrent transaction becomes `ERR_CONFLICT`; anything
 * else from an adapter becomes `ERR_STORAGE` (its cause stays on the host).
 */
export async function storageCall<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn()
  } catch (err) {
    if (isConflict(err)) {
      throw new FnboxError(
        'ERR_CONFLICT',
        'the write conflicted with a concurrent transaction; nothing of it was applied',
        {
          cause: err,
        },
      )
    }
    if (isFnboxError(err)) throw err
    throw new FnboxError('ERR_STORAGE', 'the storage backend failed', { cause: err })
  }
}
