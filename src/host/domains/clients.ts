// The host's own access to the data stores (`runtime.kv` & co., each in its domain's `client.ts`),
// so the host app can seed what functions read and read what they write: what they share.
// Arguments are validated exactly as a guest's are. The public types are interfaces; the classes
// implementing them stay internal.
import type { Backend } from '../../storage/backend.js'
import { operationOf, runOperation, storageCall } from './operations.js'
import { text } from './validate.js'

export type BackendRef = () => Promise<Backend>

/** The data scope functions use unless deployed with `scope`. @public */
export const DEFAULT_SCOPE = 'default'

export function checkScope(scope: unknown, argument = 'scope'): string {
  return text(scope, argument, 128)
}

/** A client of one domain's store in one data scope: its calls run the domain's operations. */
export abstract class ScopedClient {
  protected readonly backend: BackendRef
  readonly scopeName: string

  constructor(backend: BackendRef, scope: string) {
    this.backend = backend
    this.scopeName = scope
  }

  protected async run<T>(method: string, args: Record<string, unknown>, bytes?: Uint8Array): Promise<T> {
    const backend = await this.backend()
    const op = operationOf(method)
    return (await storageCall(() => runOperation(op, backend.stores, this.scopeName, args, bytes))) as T
  }
}
