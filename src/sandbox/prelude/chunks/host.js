// Chunk "host": the guest side of the `fnbox:host` virtual module (see instance.ts' module
// loader): each domain's guest client (src/host/<domain>/guest.js, listed by the registry), tx,
// utils and trace (spans in the host's OpenTelemetry trace: observability/tracing.ts). Every data call crosses to the host as one JSON object (`native.hostData`), where it
// is validated before any store sees it; failures come back as errors with a `code` (ERR_INVALID_ARGUMENT, ERR_TOO_LARGE, ...) and `details`.
import { GUEST_DOMAINS } from '../../../host/guest-clients.js'
import { toBuffer } from '../../../host/guest-support.js'
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

/**
 * The domains' exports (see the registry, src/host/registry.ts): all of them for the module, or
 * only those that join transactions, inside transaction `tx`. Indexed loops: guest code may have
 * replaced the iterator protocol before this chunk loads.
 */
function domainClients(tx) {
  const clients = {}
  for (let i = 0; i < GUEST_DOMAINS.length; i++) {
    const domain = GUEST_DOMAINS[i]
    if (tx === undefined || domain.transactional) clients[domain.name] = domain.client({ call, native, tx })
  }
  return clients
}

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
 * Runs `fn(t)` in one serializable database transaction: writes through `t`'s domains commit
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
    const t = Object.freeze(domainClients(id))
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

/**
 * A child span of the invocation's (or of `parent`, a span id) around `fn(span)`, recorded by the
 * host's OpenTelemetry tracer; the attributes set on `span` are sent when it ends. Without a
 * tracer registered on the host, `fn` just runs.
 */
async function runSpan(name, fn, parent) {
  if (typeof name !== 'string' || name.length === 0) throw new TypeError('trace.span takes a name (a string)')
  if (typeof fn !== 'function') throw new TypeError('trace.span takes an async function')
  const id = await call('trace.start', { name, parent })
  const attributes = {}
  const span = Object.freeze({
    setAttribute(key, value) {
      attributes[String(key)] = value
      return span
    },
    setAttributes(values) {
      for (const key of Object.keys(values || {})) attributes[key] = values[key]
      return span
    },
    /** A child span of this one. */
    span: (childName, childFn) => runSpan(childName, childFn, id),
  })
  let error
  try {
    return await fn(span)
  } catch (err) {
    error = {
      type: String((err && err.name) || 'Error'),
      message: String(err && err.message !== undefined ? err.message : err),
    }
    throw err
  } finally {
    if (id !== undefined) {
      let args
      try {
        args = { id, attributes: JSON.parse(JSON.stringify(attributes)), error }
      } catch {
        args = { id, error } // attributes that are not JSON (BigInt, cycles) are dropped
      }
      await call('trace.end', args).catch(() => {})
    }
  }
}

const trace = Object.freeze({ span: (name, fn) => runSpan(name, fn, undefined) })

provide('host', {
  host: Object.freeze({ ...domainClients(undefined), tx, utils, trace }),
})
