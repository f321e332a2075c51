/**
 * The host side of the guest's `crypto.subtle` (see `prelude/subtle.js`): requests the guest
 * prelude has read into data are rebuilt and run on Node's WebCrypto, so the guest gets Node's
 * algorithms, checks and errors.
 *
 * Keys. A guest CryptoKey holds an id and a sealed copy of its key: the key's DER (or raw) bytes
 * with its algorithm, extractability and usages, encrypted and authenticated (AES-256-GCM) under
 * a secret of its instance that never leaves the host. So a non-extractable key's bytes never
 * enter the guest's memory, no other instance or function can use a sealed key, and guest code
 * cannot make a key extractable or widen its usages. The host keeps recently used keys in a small
 * per-instance cache by id and unseals the others when they are used again: a guest may make keys
 * by the thousand (a JWT library imports its key per request) without the host keeping any of
 * them, and QuickJS collects a CryptoKey without telling anyone (its FinalizationRegistry runs
 * only in its rare full collections).
 *
 * Request format (JSON, made by the prelude): values are JSON, except tagged objects:
 * `{ $buf: i }` the i-th ArrayBuffer argument, `{ $key: id, $sealed: i }` a CryptoKey whose sealed
 * copy is the i-th buffer, `{ $num: 'NaN' }` a number JSON cannot hold, `{ $obj: {...} }` a
 * dictionary. Nothing else is taken as an object, so guest data never poses as a key or a buffer.
 *
 * @internal
 * @module
 */
import { createCipheriv, createDecipheriv, KeyObject, randomBytes, randomUUID, webcrypto } from 'node:crypto'

type WebCryptoKey = webcrypto.CryptoKey

/** Keys an instance's cache holds; older ones are unsealed again when used. */
const CACHED_KEYS = 64
const MAX_DEPTH = 8
const OPS = new Set([
  'encrypt',
  'decrypt',
  'sign',
  'verify',
  'deriveBits',
  'deriveKey',
  'generateKey',
  'importKey',
  'exportKey',
  'wrapKey',
  'unwrapKey',
])
/** The DOMException names WebCrypto rejects with; any other failure becomes an OperationError. */
const DOM_ERRORS = new Set([
  'NotSupportedError',
  'InvalidAccessError',
  'DataError',
  'OperationError',
  'SyntaxError',
  'InvalidStateError',
  'QuotaExceededError',
])

/** A failure whose name and message may be shown to the guest. */
export class WebCryptoFailure {
  constructor(
    readonly name: string,
    readonly message: string,
  ) {}
}

/** What the guest learns of a key: its id, its sealed copy and the CryptoKey attributes. */
interface KeyDescription {
  id: string
  type: string
  extractable: boolean
  algorithm: Record<string, unknown>
  usages: string[]
}

/** What a sealed key holds besides its bytes: enough to import it again as it was. */
interface SealedHeader {
  format: 'raw' | 'spki' | 'pkcs8'
  algorithm: Record<string, unknown>
  extractable: boolean
  usages: KeyUsage[]
}

type KeyUsage = webcrypto.KeyUsage

const IV_BYTES = 12
const TAG_BYTES = 16

/** One instance's keys: the sealing secret and a cache of recently used keys by id. */
export class KeyTable {
  readonly #secret = randomBytes(32)
  readonly #cache = new Map<string, WebCryptoKey>()

  /** Caches a new key; its description and sealed copy go to the guest. */
  register(key: WebCryptoKey): { description: KeyDescription; sealed: Uint8Array } {
    const id = randomUUID()
    this.#remember(id, key)
    // Rebuilt member by member: only data of the known members crosses.
    const a = key.algorithm as unknown as Record<string, unknown>
    const algorithm: Record<string, unknown> = { name: String(a.name) }
    for (const m of ['length', 'namedCurve', 'modulusLength']) {
      if (typeof a[m] === 'number' || typeof a[m] === 'string') algorithm[m] = a[m]
    }
    if (a.publicExponent instanceof Uint8Array) algorithm.publicExponent = Array.from(a.publicExponent)
    const hash = a.hash as { name?: unknown } | undefined
    if (hash && typeof hash === 'object') algorithm.hash = { name: String(hash.name) }
    const description = { id, type: key.type, extractable: key.extractable, algorithm, usages: [...key.usages] }
    return { description, sealed: this.#seal(id, key, algorithm) }
  }

  /** The key `id`, from the cache or unsealed from `sealed` (which must be its own). */
  async resolve(id: unknown, sealed: Uint8Array | undefined): Promise<WebCryptoKey> {
    if (typeof id !== 'string' || !sealed) throw notAKey()
    const cached = this.#cache.get(id)
    if (cached) {
      this.#remember(id, cached)
      return cached
    }
    const { header, bytes } = this.#unseal(id, sealed)
    const key = await webcrypto.subtle.importKey(
      header.format,
      bytes,
      header.algorithm as unknown as webcrypto.AlgorithmIdentifier,
      header.extractable,
      header.usages,
    )
    this.#remember(id, key)
    return key
  }

  clear(): void {
    this.#cache.clear()
  }

  #remember(id: string, key: WebCryptoKey): void {
    this.#cache.delete(id)
    this.#cache.set(id, key)
    if (this.#cache.size > CACHED_KEYS) this.#cache.delete(this.#cache.keys().next().value!)
  }

  /** `iv | AES-256-GCM(header length (4 bytes) | header JSON | key bytes) | tag`, bound to the id. */
  #seal(id: string, key: WebCryptoKey, algorithm: Record<string, unknown>): Uint8Array {
    const object = KeyObject.from(key)
    const format = key.type === 'secret' ? 'raw' : key.type === 'public' ? 'spki' : 'pkcs8'
    const bytes =
      format === 'raw'
        ? object.export()
        : object.export({ type: format, format: 'der' } as { type: 'pkcs8'; format: 'der' })
    const header: SealedHeader = { format, algorithm, extractable: key.extractable, usages: [...key.usages] }
    const json = Buffer.from(JSON.stringify(header))
    const length = Buffer.alloc(4)
    length.writeUInt32BE(json.length)
    const iv = randomBytes(IV_BYTES)
    const cipher = createCipheriv('aes-256-gcm', this.#secret, iv)
    cipher.setAAD(Buffer.from(id))
    const body = Buffer.concat([cipher.update(length), cipher.update(json), cipher.update(bytes), cipher.final()])
    return Buffer.concat([iv, body, cipher.getAuthTag()])
  }

  #unseal(id: string, sealed: Uint8Array): { header: SealedHeader; bytes: Buffer } {
    if (sealed.length < IV_BYTES + TAG_BYTES + 4) throw notAKey()
    let plain: Buffer
    try {
      const decipher = createDecipheriv('aes-256-gcm', this.#secret, sealed.subarray(0, IV_BYTES))
      decipher.setAAD(Buffer.from(id))
      decipher.setAuthTag(sealed.subarray(sealed.length - TAG_BYTES))
      plain = Buffer.concat([decipher.update(sealed.subarray(IV_BYTES, sealed.length - TAG_BYTES)), decipher.final()])
    } catch {
      throw notAKey()
    }
    const length = plain.readUInt32BE(0)
    const header = JSON.parse(plain.subarray(4, 4 + length).toString()) as SealedHeader
    return { header, bytes: plain.subarray(4 + length) }
  }
}

function notAKey(): WebCryptoFailure {
  return new WebCryptoFailure('TypeError', 'key is not of type CryptoKey')
}

type Keys = ReadonlyMap<string, WebCryptoKey>

/** Resolves the keys a request names (`{ $key, $sealed }`), by id. */
async function requestKeys(value: unknown, buffers: readonly Uint8Array[], table: KeyTable): Promise<Keys> {
  const found = new Map<string, number>()
  const walk = (v: unknown, depth: number): void => {
    if (depth > MAX_DEPTH) throw new WebCryptoFailure('TypeError', 'the request is nested too deeply')
    if (Array.isArray(v)) for (const x of v) walk(x, depth + 1)
    else if (v !== null && typeof v === 'object') {
      const o = v as Record<string, unknown>
      if ('$key' in o) found.set(String(o.$key), typeof o.$sealed === 'number' ? o.$sealed : -1)
      else if ('$obj' in o && o.$obj !== null && typeof o.$obj === 'object') {
        for (const x of Object.values(o.$obj)) walk(x, depth + 1)
      }
    }
  }
  walk(value, 0)
  const keys = new Map<string, WebCryptoKey>()
  for (const [id, sealed] of found) keys.set(id, await table.resolve(id, buffers[sealed]))
  return keys
}

/** Rebuilds a request value (see the module doc). */
function decode(value: unknown, buffers: readonly Uint8Array[], keys: Keys, depth = 0): unknown {
  if (depth > MAX_DEPTH) throw new WebCryptoFailure('TypeError', 'the request is nested too deeply')
  if (Array.isArray(value)) return value.map((v) => decode(v, buffers, keys, depth + 1))
  if (value === null || typeof value !== 'object') return value
  const o = value as Record<string, unknown>
  if ('$buf' in o) {
    const buf = typeof o.$buf === 'number' ? buffers[o.$buf] : undefined
    if (!buf) throw new WebCryptoFailure('TypeError', 'the request names a missing buffer')
    return buf
  }
  if ('$key' in o) return keys.get(String(o.$key))
  if ('$num' in o) return Number(o.$num)
  if ('$obj' in o && o.$obj !== null && typeof o.$obj === 'object' && !Array.isArray(o.$obj)) {
    const out: Record<string, unknown> = {}
    for (const [k, v] of Object.entries(o.$obj)) out[k] = decode(v, buffers, keys, depth + 1)
    return out
  }
  throw new WebCryptoFailure('TypeError', 'the request holds an unknown value')
}

// Node has no CryptoKey on `webcrypto` before 22, only as a global.
const CryptoKeyClass = (globalThis as unknown as { CryptoKey: typeof webcrypto.CryptoKey }).CryptoKey

function isKey(value: unknown): value is WebCryptoKey {
  return value instanceof CryptoKeyClass
}

/** What {@link runSubtle} gives the guest. */
export type SubtleResult =
  | { bytes: Uint8Array }
  /** JSON of `{ bool }`, `{ key }`, `{ pair: { publicKey, privateKey } }` or `{ jwk }`; keys' sealed copies in `sealed`, in order. */
  | { json: string; sealed: Uint8Array[] }

/**
 * Runs `op` of Node's SubtleCrypto on the request's arguments (see the module doc). Rejects with
 * a {@link WebCryptoFailure}.
 */
export async function runSubtle(
  op: string,
  json: string,
  buffers: readonly Uint8Array[],
  table: KeyTable,
): Promise<SubtleResult> {
  let result: unknown
  try {
    if (!OPS.has(op)) throw new WebCryptoFailure('TypeError', 'unknown SubtleCrypto operation')
    const request = JSON.parse(json) as unknown
    const args = decode(request, buffers, await requestKeys(request, buffers, table))
    if (!Array.isArray(args)) throw new WebCryptoFailure('TypeError', 'the request must be a list of arguments')
    const method = (webcrypto.subtle as unknown as Record<string, (...a: unknown[]) => Promise<unknown>>)[op]!
    result = await method.apply(webcrypto.subtle, args)
  } catch (err) {
    throw failure(err)
  }
  if (result instanceof ArrayBuffer) return { bytes: new Uint8Array(result) }
  if (typeof result === 'boolean') return { json: JSON.stringify({ bool: result }), sealed: [] }
  if (isKey(result)) {
    const { description, sealed } = table.register(result)
    return { json: JSON.stringify({ key: description }), sealed: [sealed] }
  }
  const r = result as { publicKey?: unknown; privateKey?: unknown }
  if (isKey(r.publicKey) && isKey(r.privateKey)) {
    const publicKey = table.register(r.publicKey)
    const privateKey = table.register(r.privateKey)
    const pair = { publicKey: publicKey.description, privateKey: privateKey.description }
    return { json: JSON.stringify({ pair }), sealed: [publicKey.sealed, privateKey.sealed] }
  }
  // exportKey('jwk'): a plain object of strings, booleans and string arrays.
  return { json: JSON.stringify({ jwk: result }), sealed: [] }
}

/** Node's error as one the guest may see: WebCrypto's names and Node's messages, nothing else. */
function failure(err: unknown): WebCryptoFailure {
  if (err instanceof WebCryptoFailure) return err
  if (err instanceof SyntaxError) return new WebCryptoFailure('TypeError', 'the request is not JSON')
  const e = err as { name?: unknown; message?: unknown } | null
  let name = typeof e?.name === 'string' ? e.name : ''
  // Node 20 names one of its errors wrongly (exportKey of a non-extractable key).
  if (name === 'InvalidAccessException') name = 'InvalidAccessError'
  const message = typeof e?.message === 'string' ? e.message.slice(0, 1000) : ''
  if (name === 'TypeError' || name === 'RangeError' || DOM_ERRORS.has(name)) return new WebCryptoFailure(name, message)
  return new WebCryptoFailure('OperationError', 'The operation failed for an operation-specific reason')
}
