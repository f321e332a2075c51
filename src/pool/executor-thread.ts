/**
 * An executor thread as the host starts it, and what crosses between it and the host, judged on
 * the host: the function's own text redacted of its secrets as it enters, and a host call's
 * failure as the guest may see it.
 *
 * @internal
 * @module
 */
import { FnboxError, type SerializedFnboxError } from '../errors.js'
import type { SecretRedactor } from '../host/secrets/redact.js'
import { Worker } from 'node:worker_threads'
import type { Batch } from '../sandbox/batch.js'
import type {
  ExecutorInit,
  FromExecutor,
  HostCall,
  HostCallError,
  HostReplyValue,
  ToExecutor,
} from '../sandbox/protocol.js'

export type Redaction<M> = (msg: M, redactor: SecretRedactor) => M

/**
 * Where each message from an executor thread carries text the function wrote (its exceptions:
 * message, name, stack, every field of details; its console output), and how it is redacted of
 * the function's secrets: here, as it enters the host, so no path that shows it later (errors
 * thrown to callers, `invoke` and `log` events, HTTP answers, deploy errors, source-mapped
 * stacks) can forget to. `undefined`: the message carries the function's deliberate output (a
 * response, a call's result, the requests of its host calls: passed as is) or only what fnbox
 * wrote. A new message type must be placed here to compile.
 */
export const GUEST_TEXT: { [T in FromExecutor['t']]: Redaction<Extract<FromExecutor, { t: T }>> | undefined } = {
  failed: (msg, redactor) => ({ ...msg, error: redactError(msg.error, redactor) }),
  'create-failed': (msg, redactor) => ({ ...msg, error: redactError(msg.error, redactor) }),
  log: (msg, redactor) => ({ ...msg, message: redactor.redact(msg.message) }),
  ready: undefined,
  created: undefined,
  lost: undefined,
  respond: undefined,
  chunk: undefined,
  end: undefined,
  done: undefined,
  host: undefined,
  blank: undefined,
  snapshot: undefined,
  synced: undefined,
}

/** The error's message and details redacted; its code and status are fnbox's. */
function redactError(error: SerializedFnboxError, redactor: SecretRedactor): SerializedFnboxError {
  return { ...error, message: redactor.redact(error.message), details: redactor.redactDeep(error.details) }
}

export function withReason(error: SerializedFnboxError, reason: string): SerializedFnboxError {
  return { ...error, message: `${error.message}; its thread was terminated`, details: { ...error.details, reason } }
}

/** Facts of a FnboxError that may reach the guest: written by fnbox, never host internals. */
const GUEST_DETAILS = ['limit', 'value', 'argument', 'expected', 'attempts', 'outcome'] as const
/** The same for a fetch: the host and why it was refused, never the address it resolved to. */
const FETCH_DETAILS = ['limit', 'value', 'host', 'reason', 'policy'] as const

/** A host call's failure for the guest. Only messages fnbox wrote cross; other errors stay here. */
export function hostCallError(req: HostCall, err: unknown): HostCallError {
  if (err instanceof DOMException && err.name === 'AbortError') {
    return { name: 'AbortError', message: 'The operation was aborted' }
  }
  if (!(err instanceof FnboxError)) {
    return {
      name: req.op === 'fetchStart' ? 'TypeError' : 'Error',
      message: req.op === 'fetchStart' ? 'fetch failed' : 'host call failed',
    }
  }
  const details: Record<string, string | number> = {}
  for (const k of req.op === 'data' ? GUEST_DETAILS : FETCH_DETAILS) {
    const v = err.details[k]
    if (typeof v === 'string' || typeof v === 'number') details[k] = v
  }
  // A failed fetch is a TypeError, as in browsers, with the code to tell why (ERR_HOST_FORBIDDEN, ...).
  if (req.op !== 'data') return { name: 'TypeError', message: err.message, code: err.code, details }
  const name =
    err.code === 'ERR_INVALID_ARGUMENT' || err.code === 'ERR_DIMENSION_MISMATCH'
      ? 'TypeError'
      : err.code === 'ERR_TOO_LARGE'
        ? 'RangeError'
        : 'Error'
  return { name, message: err.message, code: err.code, details }
}

/**
 * Sends the guest the answer of its host call `call` once `answer` settles: the value (its bytes
 * transferred), or the failure as {@link hostCallError} lets the guest see it.
 */
export function replyTo(
  call: number,
  req: HostCall,
  answer: Promise<HostReplyValue | undefined>,
  post: (msg: ToExecutor, transfer?: ArrayBuffer[]) => void,
): void {
  answer
    .then((value) => {
      if (!value) throw new TypeError('host call gave no answer')
      const buffer = value.op === 'bodyRead' ? value.chunk : value.op === 'data' ? value.bytes : undefined
      post({ t: 'reply', call, ok: true, value }, buffer ? [buffer] : undefined)
    })
    .catch((err: unknown) => {
      post({ t: 'reply', call, ok: false, error: hostCallError(req, err) })
    })
}

/** Starts an executor thread; `ready` resolves when it said so, rejects when it failed first. */
export function spawnExecutorThread(url: URL, init: ExecutorInit): { worker: Worker; ready: Promise<void> } {
  const worker = new Worker(url, {
    // QuickJS's stack check counts its shadow stack; wasm frames use about twice as much native
    // stack, so 8 MB leaves room for limits.maxStackKb up to 1024 (see options.ts).
    // The thread's JS mostly carries messages (guests live in wasm memory): what it allocates dies
    // young. V8's default new space grows to 32 MB under traffic and stays resident; a young
    // generation of 4 MB keeps ~25-35 MB less RSS per thread at the end of bench (k), with the same
    // throughput in (a), (b) and (k) and CPU per call (measured: 1, 2, 4, 8, 16 MB, the default).
    resourceLimits: { stackSizeMb: 8, maxYoungGenerationSizeMb: 4 },
    workerData: init,
    stdout: false,
    stderr: false,
  })
  const ready = new Promise<void>((resolve, reject) => {
    const onMessage = (batch: Batch<FromExecutor>): void => {
      if (batch.msgs[0]?.t === 'ready') {
        worker.off('error', onError)
        resolve()
      }
    }
    const onError = (err: Error): void => reject(err)
    worker.once('message', onMessage)
    worker.once('error', onError)
  })
  return { worker, ready }
}
