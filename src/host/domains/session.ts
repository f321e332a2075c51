/**
 * The data side of one invocation: the guest's `fnbox:host` calls (kv, vector, files, tx) in the
 * function's scope. A transaction the guest leaves open (it threw past `tx`, or timed out) is
 * rolled back when the invocation ends.
 *
 * @internal
 * @module
 */
import { FnboxError } from '../../errors.js'
import type { Backend } from '../../storage/backend.js'
import { OPERATIONS, storageCall, transactional, type DataStores } from './operations.js'
import type { StorageTransaction } from './types.js'
import { invalid } from './validate.js'

/** What guests may call (the host API has more: index management). */
const GUEST_METHODS: ReadonlySet<string> = new Set([
  'kv.get',
  'kv.set',
  'kv.delete',
  'kv.list',
  'kv.incr',
  'kv.compareAndSet',
  'vector.upsert',
  'vector.query',
  'vector.get',
  'vector.delete',
  'files.read',
  'files.write',
  'files.stat',
  'files.delete',
  'files.list',
])

/** What a data call answers: JSON text (absent for `undefined`) or bytes. */
export interface DataReply {
  json: string | undefined
  bytes: Uint8Array | undefined
}

export class DataSession {
  readonly #backend: () => Promise<Backend>
  readonly #scope: string
  /** The open transaction (one at a time: PGlite has one session, a second would wait forever). */
  #tx: { id: number; t: StorageTransaction } | undefined
  #nextTx = 1
  #ended = false

  constructor(backend: () => Promise<Backend>, scope: string) {
    this.#backend = backend
    this.#scope = scope
  }

  async handle(method: string, argsJson: string, bytes: Uint8Array | undefined): Promise<DataReply> {
    if (this.#ended) throw new FnboxError('ERR_CLOSED', 'the invocation has ended')
    let args: Record<string, unknown>
    try {
      const parsed: unknown = JSON.parse(argsJson)
      if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new TypeError()
      args = parsed as Record<string, unknown>
    } catch {
      throw invalid('arguments', 'must be a JSON object')
    }
    const result = await this.#run(method, args, bytes)
    if (result instanceof Uint8Array) return { json: undefined, bytes: result }
    return { json: result === undefined ? undefined : JSON.stringify(result), bytes: undefined }
  }

  async #run(method: string, args: Record<string, unknown>, bytes: Uint8Array | undefined): Promise<unknown> {
    switch (method) {
      case 'tx.begin':
        return this.#begin()
      case 'tx.commit':
      case 'tx.rollback': {
        const open = this.#open(args.tx)
        this.#tx = undefined
        if (method === 'tx.commit') await storageCall(() => open.t.commit())
        else await storageCall(() => open.t.rollback())
        return undefined
      }
    }
    const op = GUEST_METHODS.has(method) ? OPERATIONS[method] : undefined
    if (!op) throw invalid('method', `${JSON.stringify(method)} is not a fnbox:host operation`)
    let stores: DataStores
    if (args.tx !== undefined) {
      if (!transactional(method)) throw invalid('method', `${method} cannot run inside a transaction`)
      const { t } = this.#open(args.tx)
      stores = { kv: t.kv, vector: t.vector, files: (await this.#backend()).files }
    } else {
      stores = await this.#backend()
    }
    return storageCall(() => op(stores, this.#scope, args, bytes))
  }

  async #begin(): Promise<number> {
    if (this.#tx) throw invalid('tx', 'cannot be nested: a transaction is already open in this invocation')
    const backend = await this.#backend()
    const id = this.#nextTx++
    // Claimed before the await, so a second begin in the same tick is refused too.
    const slot = { id, t: undefined as unknown as StorageTransaction }
    this.#tx = slot
    try {
      slot.t = await storageCall(() => backend.transaction())
    } catch (err) {
      this.#tx = undefined
      throw err
    }
    if (this.#ended) {
      // The invocation ended while the transaction was opening.
      this.#tx = undefined
      await slot.t.rollback().catch(() => undefined)
      throw new FnboxError('ERR_CLOSED', 'the invocation has ended')
    }
    return id
  }

  #open(id: unknown): { id: number; t: StorageTransaction } {
    const open = this.#tx
    if (!open || open.id !== id || !open.t)
      throw invalid('tx', 'is not open (it was committed, rolled back or never began)')
    return open
  }

  /** Rolls back a transaction left open. */
  close(): void {
    this.#ended = true
    const open = this.#tx
    this.#tx = undefined
    if (open?.t) void open.t.rollback().catch(() => undefined)
  }
}
