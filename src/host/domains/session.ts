/**
 * The data side of one invocation: the guest's `fnbox:host` calls (the registry's operations that
 * guests may call, and `tx`) in the function's scope. A transaction the guest leaves open (it threw past `tx`, or timed out) is
 * rolled back when the invocation ends.
 *
 * Transactions are serializable. One that conflicts with a concurrent one (`ERR_CONFLICT`) is
 * doomed: the database has rolled it back, so a later call in it fails the same way, and its
 * commit rolls back and fails, even when the guest caught the conflict. The guest's `tx` (which
 * owns the callback) then runs it again, up to its bound of attempts; `tx.begin` tells the
 * attempt, so the error of the last one says it gave up.
 *
 * @internal
 * @module
 */
import { FnboxError, isFnboxError } from '../../errors.js'
import type { Deadline } from '../../reliability/deadline.js'
import type { Backend, OpenTransaction } from '../../storage/backend.js'
import { runStorageCall, StorageCall } from '../../storage/call-context.js'
import { operationOf, runOperation, storageCall } from './operations.js'
import { OPERATIONS } from '../registry.js'
import { invalid } from './validate.js'

/**
 * What a failed invocation's data writes did, in `details.writes` of its error: `'none'` (no
 * write started: nothing changed, a retry is safe), `'applied'` (its writes were applied before
 * it failed) or `'unknown'` (a write was running when it ended: it may have been applied).
 *
 * @public
 */
export type WriteOutcome = 'none' | 'applied' | 'unknown'

/** What a data call answers: JSON text (absent for `undefined`) or bytes. */
export interface DataReply {
  json: string | undefined
  bytes: Uint8Array | undefined
}

/** An open transaction. */
interface OpenTx {
  id: number
  t: OpenTransaction
  /** Which try of the guest's `tx` this is, and how many it makes at most. */
  attempt: number
  attempts: number
  /** The database failure that doomed it, thrown again by its later calls and its commit. */
  failed?: FnboxError
}

/**
 * Adds what the host knows to a guest call's arguments before it runs, as `args.context` (the
 * runtime: the version that handles the task of a `jobs.enqueue`).
 */
export type AnnotateCall = (method: string, args: Record<string, unknown>) => void

/** Most tries a guest's `tx` may make (`tx(fn, { attempts })`; 50 unless set). */
const MAX_TX_ATTEMPTS = 100

export class DataSession {
  readonly #backend: () => Promise<Backend>
  readonly #scope: string
  /** The open transaction (one at a time: PGlite has one session, a second would wait forever). */
  #tx: OpenTx | undefined
  #nextTx = 1
  #ended = false
  /** The invocation's writes: those running, and how many were applied or left in doubt. */
  readonly #writes = { running: new Set<StorageCall>(), attempted: 0, applied: 0, inDoubt: 0 }

  readonly #annotate: AnnotateCall | undefined

  constructor(backend: () => Promise<Backend>, scope: string, annotate?: AnnotateCall) {
    this.#backend = backend
    this.#scope = scope
    this.#annotate = annotate
  }

  /**
   * Runs one guest data call within the invocation's deadline. A write the deadline cuts short
   * fails with `ERR_TIMEOUT` whose `details.outcome` says `'not-started'` (it was waiting, and now
   * never starts) or `'unknown'` (it was running: it may have been applied).
   */
  async handle(
    method: string,
    argsJson: string,
    bytes: Uint8Array | undefined,
    deadline: Deadline,
  ): Promise<DataReply> {
    if (this.#ended) throw new FnboxError('ERR_CLOSED', 'the invocation has ended')
    let args: Record<string, unknown>
    try {
      const parsed: unknown = JSON.parse(argsJson)
      if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new TypeError()
      args = parsed as Record<string, unknown>
    } catch {
      throw invalid('arguments', 'must be a JSON object')
    }
    const write = method === 'tx.commit' || (args.tx === undefined && OPERATIONS.get(method)?.operation.write === true)
    // Writes, and the begin of a transaction (which waits for the connection), can be cancelled.
    const call = write || method === 'tx.begin' ? new StorageCall(deadline.signal, write) : undefined
    if (call) this.#writes.running.add(call)
    if (write) this.#writes.attempted++
    try {
      const result = await deadline.run(method, () =>
        call ? this.#tracked(call, method, args, bytes) : this.#run(method, args, bytes),
      )
      if (result instanceof Uint8Array) return { json: undefined, bytes: result }
      return { json: result === undefined ? undefined : JSON.stringify(result), bytes: undefined }
    } catch (err) {
      if (call && isFnboxError(err, 'ERR_TIMEOUT') && err.details.reason === 'deadline') {
        throw new FnboxError('ERR_TIMEOUT', err.message, {
          details: { ...err.details, outcome: call.started ? 'unknown' : 'not-started' },
        })
      }
      throw err
    }
  }

  /** Runs a call that may wait for the store, marking when it starts (see `call-context.ts`). */
  async #tracked(call: StorageCall, method: string, args: Record<string, unknown>, bytes: Uint8Array | undefined) {
    try {
      // The store may still be opening (PGlite's first start): the call has not started.
      const backend = await this.#backend()
      const domain = method === 'tx.begin' ? 'tx' : method.slice(0, method.indexOf('.'))
      // Calls of an open transaction use its connection; others wait for one where the backend says so.
      if (args.tx !== undefined || method === 'tx.commit' || !backend.startsOnConnection.has(domain)) call.start()
      const result = await runStorageCall(call, () => this.#run(method, args, bytes))
      // Counted when done, even after the deadline cut its caller short.
      if (call.write) this.#writes.applied++
      return result
    } catch (err) {
      // A failure after the start of a write may hide a half-done change (a connection lost mid-way).
      if (call.started && isFnboxError(err, 'ERR_STORAGE')) this.#writes.inDoubt++
      throw err
    } finally {
      this.#writes.running.delete(call)
    }
  }

  /**
   * Ends the invocation's writes: those still waiting never start. Returns what they did:
   * `'none'` (none started: no data changed), `'applied'` (all that started are done), or
   * `'unknown'` (one is still running, or failed in a way that may have left it applied);
   * `undefined` when it attempted none.
   */
  endWrites(): WriteOutcome | undefined {
    const { running, attempted, applied, inDoubt } = this.#writes
    let inFlight = false
    for (const call of running) {
      const ended = new FnboxError('ERR_CLOSED', 'the invocation has ended')
      if (!call.cancel(ended) && call.write) inFlight = true
    }
    if (attempted === 0) return undefined
    if (inDoubt > 0 || inFlight) return 'unknown'
    return applied > 0 ? 'applied' : 'none'
  }

  async #run(method: string, args: Record<string, unknown>, bytes: Uint8Array | undefined): Promise<unknown> {
    switch (method) {
      case 'tx.begin':
        return this.#begin(args)
      case 'tx.commit': {
        const open = this.#open(args.tx)
        this.#tx = undefined
        if (open.failed) {
          await open.t.rollback().catch(() => undefined)
          throw open.failed
        }
        await this.#inTx(open, () => open.t.commit())
        return undefined
      }
      case 'tx.rollback': {
        // Answers whether the transaction lost to a concurrent one: then the guest's `tx` runs it
        // again, whatever its callback threw.
        const open = this.#open(args.tx)
        this.#tx = undefined
        await storageCall(() => open.t.rollback())
        return isFnboxError(open.failed, 'ERR_CONFLICT')
      }
    }
    const op = operationOf(method)
    if (!op.operation.guest) throw invalid('method', `${JSON.stringify(method)} is not a fnbox:host operation`)
    // What the host adds to a call (a job's enqueuing version): never what the guest sent.
    delete args.context
    this.#annotate?.(method, args)
    if (args.tx !== undefined) {
      if (!op.operation.transaction) throw invalid('method', `${method} cannot run inside a transaction`)
      const open = this.#open(args.tx)
      if (open.failed) throw open.failed
      return this.#inTx(open, () => runOperation(op, open.t.stores, this.#scope, args, bytes))
    }
    const { stores } = await this.#backend()
    return storageCall(() => runOperation(op, stores, this.#scope, args, bytes))
  }

  /** Runs a call of an open transaction; a database failure dooms the transaction. */
  async #inTx<T>(open: OpenTx, run: () => Promise<T>): Promise<T> {
    try {
      return await storageCall(run)
    } catch (err) {
      if (isFnboxError(err, 'ERR_CONFLICT')) {
        open.failed ??= conflict(open, err)
        throw open.failed
      }
      // A failed statement aborts a Postgres transaction, whatever error the store made of it
      // (an incr overflow is ERR_INVALID_ARGUMENT): its commit would silently roll back.
      if (!open.failed && (await open.t.aborted())) open.failed = err as FnboxError
      throw err
    }
  }

  async #begin(args: Record<string, unknown>): Promise<number> {
    if (this.#tx) throw invalid('tx', 'cannot be nested: a transaction is already open in this invocation')
    const attempts = args.attempts === undefined ? 1 : count(args.attempts, 'attempts')
    const attempt = args.attempt === undefined ? 1 : count(args.attempt, 'attempt')
    const backend = await this.#backend()
    const id = this.#nextTx++
    // Claimed before the await, so a second begin in the same tick is refused too.
    const slot: OpenTx = { id, t: undefined as unknown as OpenTransaction, attempt, attempts }
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

  #open(id: unknown): OpenTx {
    const open = this.#tx
    if (!open || open.id !== id || !open.t)
      throw invalid('tx', 'is not open (it was committed, rolled back or never began)')
    return open
  }

  /** Rolls back a transaction left open; writes that have not started never will. */
  close(): void {
    this.#ended = true
    this.endWrites()
    const open = this.#tx
    this.#tx = undefined
    if (open?.t) void open.t.rollback().catch(() => undefined)
  }
}

function count(v: unknown, argument: string): number {
  if (!Number.isInteger(v) || (v as number) < 1 || (v as number) > MAX_TX_ATTEMPTS) {
    throw invalid(argument, `must be an integer from 1 to ${MAX_TX_ATTEMPTS}`)
  }
  return v as number
}

/** The conflict of one try of a transaction: retried by the guest's `tx`, or the last one. */
function conflict(open: OpenTx, cause: FnboxError): FnboxError {
  const last = open.attempt >= open.attempts
  const message = last
    ? `tx gave up after ${open.attempts} attempts: each conflicted with a concurrent transaction (nothing was committed)`
    : `tx attempt ${open.attempt} of ${open.attempts} conflicted with a concurrent transaction (rolled back)`
  return new FnboxError('ERR_CONFLICT', message, { cause, details: { attempts: open.attempt } })
}
