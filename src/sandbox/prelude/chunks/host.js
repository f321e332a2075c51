// Chunk "host": the guest side of the `fnbox:host` virtual module (see instance.ts' module
// loader): kv, vector, jobs, files, secrets, tx and utils. Every data call crosses to the host as one
// JSON object (`native.hostData`), where it is validated before any store sees it; failures come
// back as errors with a `code` (ERR_INVALID_ARGUMENT, ERR_TOO_LARGE, ...) and `details`.
import { native, provide } from '../shared.js'

const HEX = '0123456789abcdef'

/** A UUID v7 (RFC 9562): 48-bit Unix milliseconds, then random bits, so ids sort by creation time. */
function uuid() {
  const b = new Uint8Array(16)
  crypto.getRandomValues(b)
  let ms = Date.now()
  for (let i = 5; i >= 0; i--) {
    b[i] = ms % 256
    ms = Math.floor(ms / 256)
  }
  b[6] = 0x70 | (b[6] & 0x0f) // version 7
  b[8] = 0x80 | (b[8] & 0x3f) // variant 10
  let out = ''
  for (let i = 0; i < 16; i++) {
    if (i === 4 || i === 6 || i === 8 || i === 10) out += '-'
    out += HEX[b[i] >> 4] + HEX[b[i] & 15]
  }
  return out
}

/** Bytes of a string (UTF-8), ArrayBuffer or view, as a fresh ArrayBuffer the host may take. */
function toBuffer(data, what) {
  if (typeof data === 'string') return new TextEncoder().encode(data).buffer
  if (data instanceof ArrayBuffer) return data.slice(0)
  if (ArrayBuffer.isView(data)) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength).slice().buffer
  throw new TypeError(`${what} takes a string, an ArrayBuffer or a typed array`)
}

/** Hex digest of a string (UTF-8) or bytes; `algorithm`: sha256 (default), sha384, sha512, sha1, md5. */
function hash(data, algorithm = 'sha256') {
  return native.hash(String(algorithm), toBuffer(data, 'utils.hash'))
}

/** One data call: `args` as JSON (undefined fields drop out: "absent" stays absent). */
function call(method, args, bytes) {
  return native
    .hostData(method, JSON.stringify(args), bytes)
    .then((res) => (typeof res === 'string' ? JSON.parse(res) : res))
}

/** A JSON value, or a TypeError naming what is wrong (undefined, functions, symbols, BigInt). */
function jsonArg(value, what) {
  if (value === undefined || typeof value === 'function' || typeof value === 'symbol') {
    throw new TypeError(`${what} must be a JSON value (got ${typeof value})`)
  }
  return value
}

function makeKv(tx) {
  return Object.freeze({
    /** The value, or null when the key is absent or expired. */
    get: (key) => call('kv.get', { key, tx }).then((v) => (v === undefined ? null : v)),
    set: (key, value, options) => call('kv.set', { key, value: jsonArg(value, 'kv.set value'), options, tx }),
    delete: (key) => call('kv.delete', { key, tx }),
    list: (options) => call('kv.list', { options, tx }),
    incr: (key, by) => call('kv.incr', { key, by, tx }),
    /** `expected` undefined or null-ish absent: use `undefined` for "the key must not exist". */
    compareAndSet: (key, expected, value, options) =>
      call('kv.compareAndSet', { key, expected, value: jsonArg(value, 'kv.compareAndSet value'), options, tx }),
  })
}

function makeVector(tx) {
  return Object.freeze({
    upsert: (index, items) => call('vector.upsert', { index, items, tx }),
    query: (index, query) => call('vector.query', { index, query, tx }),
    get: (index, ids) => call('vector.get', { index, ids, tx }),
    delete: (index, ids) => call('vector.delete', { index, ids, tx }),
  })
}

/**
 * Durable background jobs: `enqueue(task, payload, { runAt, delayMs, key, priority, maxAttempts,
 * timeoutMs })` resolves with `{ id, deduplicated }` once the job is stored (inside `tx`: it
 * commits with the transaction, or not at all).
 */
function makeJobs(tx) {
  return Object.freeze({
    enqueue: (task, payload, options) => {
      const opts = options?.runAt instanceof Date ? { ...options, runAt: options.runAt.toISOString() } : options
      return call('jobs.enqueue', { task, payload: payload === undefined ? null : payload, options: opts, tx })
    },
  })
}

const files = Object.freeze({
  /** The file's bytes as an ArrayBuffer, or null when there is no such file. */
  read: (path) => call('files.read', { path }).then((v) => (v === undefined ? null : v)),
  /** Creates or replaces a file; a string is written as UTF-8. Resolves with its FileInfo. */
  write: (path, data) => call('files.write', { path }, toBuffer(data, 'files.write')),
  stat: (path) => call('files.stat', { path }).then((v) => (v === undefined ? null : v)),
  delete: (path) => call('files.delete', { path }),
  list: (options) => call('files.list', { options }),
})

const secrets = Object.freeze({
  /** The secret's value if it was granted to this function (deploy option `secrets`), else undefined. */
  get: (name) => {
    if (typeof name !== 'string') throw new TypeError('secrets.get takes a secret name')
    return native.secretGet(name)
  },
})

/**
 * Tries of a transaction that keeps conflicting with concurrent ones, before `ERR_CONFLICT`. On
 * one hot key every round has one winner; the invocation's deadline is the other bound. (With
 * 100 concurrent increments of one key on server Postgres, the unluckiest took 24 tries.)
 */
const TX_ATTEMPTS = 50

/** Waits before the next try: exponential with full jitter, from up to 10 ms to up to 250 ms. */
function txBackoff(attempt) {
  return new Promise((resolve) => setTimeout(resolve, Math.random() * Math.min(250, 5 * 2 ** attempt)))
}

/**
 * Runs `fn(t)` in one serializable database transaction: `t.kv` and `t.vector` writes commit
 * together when `fn` resolves, and roll back when it throws (or the invocation times out). When it
 * conflicts with a concurrent transaction, it is rolled back and `fn` runs again (so effects of
 * `fn` outside `t`, a fetch or a log line, may happen more than once), up to `attempts` times
 * (default TX_ATTEMPTS); then `ERR_CONFLICT`.
 */
async function tx(fn, options) {
  if (typeof fn !== 'function') throw new TypeError('tx takes an async function')
  const attempts = options?.attempts ?? TX_ATTEMPTS
  for (let attempt = 1; ; attempt++) {
    // The host checks `attempts` (an integer from 1 to 100) and names it in its errors.
    const id = await call('tx.begin', { attempt, attempts })
    const t = Object.freeze({ kv: makeKv(id), vector: makeVector(id), jobs: makeJobs(id) })
    let result
    try {
      result = await fn(t)
    } catch (err) {
      // The host tells whether the transaction lost to a concurrent one (`fn` may have caught
      // that error and thrown another): then it runs again.
      const conflicted = await call('tx.rollback', { tx: id }).catch(() => false)
      if (conflicted !== true || attempt >= attempts) throw err
      await txBackoff(attempt)
      continue
    }
    try {
      await call('tx.commit', { tx: id })
      return result
    } catch (err) {
      if (err?.code !== 'ERR_CONFLICT' || attempt >= attempts) throw err
    }
    await txBackoff(attempt)
  }
}

const utils = Object.freeze({ uuid, hash })

provide('host', {
  host: Object.freeze({
    kv: makeKv(undefined),
    vector: makeVector(undefined),
    jobs: makeJobs(undefined),
    files,
    secrets,
    tx,
    utils,
  }),
})
