/**
 * The runtime answers a failed invocation with a `Response` (its HTTP mapping and request id);
 * for its own mounts it also marks that response with the error, so the mount tells its
 * `onError` about guest exceptions and timeouts (and lets it replace the answer) before sending.
 *
 * @internal
 * @module
 */
import type { FnboxError } from '../../errors.js'

const failures = new WeakMap<Response, FnboxError>()

export function markFailed(response: Response, error: FnboxError): void {
  failures.set(response, error)
}

/** The error a response answers, when the runtime marked it. */
export function failureOf(response: Response): FnboxError | undefined {
  return failures.get(response)
}
