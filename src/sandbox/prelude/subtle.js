// crypto.subtle (Web Cryptography API) on the host's WebCrypto (Node's `crypto.webcrypto.subtle`):
// every algorithm Node has (ECDSA, ECDH, Ed25519, X25519, RSASSA-PKCS1-v1_5, RSA-PSS, RSA-OAEP,
// AES-GCM/CBC/CTR/KW, HMAC, PBKDF2, HKDF, SHA digests) with its checks and errors, so a guest gets
// Node's answers. A CryptoKey here holds an id and the key sealed by the host (encrypted under a
// secret of the instance the guest never sees, see web-crypto.ts), in a WeakMap no guest code
// reaches: a non-extractable key's bytes never enter the guest's memory, and a key is freed with
// its CryptoKey, whatever QuickJS's collector does.
//
// The arguments are read here, where guest getters may run, into plain data: JSON, with
// BufferSources copied into ArrayBuffers and CryptoKeys replaced by their ids. The host rebuilds
// them and calls its WebCrypto. Every method returns a promise and rejects (never throws) with
// the DOMException (or TypeError) Node's WebCrypto gives.
import { native, domException } from './shared.js'
import { tag, viewOf, exactBuffer, isObject } from './util.js'

// The members of every algorithm dictionary of the standard (and `public` of ECDH/X25519).
const ALGORITHM_MEMBERS = [
  'additionalData',
  'counter',
  'hash',
  'info',
  'iterations',
  'iv',
  'label',
  'length',
  'modulusLength',
  'namedCurve',
  'public',
  'publicExponent',
  'salt',
  'saltLength',
  'tagLength',
]
// JsonWebKey's members (RFC 7517/7518), as its WebIDL dictionary lists them.
const JWK_MEMBERS = [
  'alg',
  'crv',
  'd',
  'dp',
  'dq',
  'e',
  'ext',
  'k',
  'key_ops',
  'kty',
  'n',
  'oth',
  'p',
  'q',
  'qi',
  'use',
  'x',
  'y',
]

/** CryptoKey -> { id, sealed, type, extractable, algorithm, usages }: unreachable from guest code. */
const keys = new WeakMap()
let constructing = false

export class CryptoKey {
  constructor() {
    if (!constructing) throw new TypeError('Illegal constructor')
  }
  get type() {
    return keyState(this).type
  }
  get extractable() {
    return keyState(this).extractable
  }
  get algorithm() {
    return keyState(this).algorithm
  }
  get usages() {
    return keyState(this).usages
  }
}
tag(CryptoKey, 'CryptoKey')

function keyState(key) {
  const s = isObject(key) ? keys.get(key) : undefined
  if (!s) throw new TypeError('Illegal invocation')
  return s
}

/** A CryptoKey from the host's description (`{ id, type, extractable, algorithm, usages }`). */
function newKey(d, sealed) {
  constructing = true
  let key
  try {
    key = new CryptoKey()
  } finally {
    constructing = false
  }
  const algorithm = { ...d.algorithm }
  if (algorithm.publicExponent) algorithm.publicExponent = new Uint8Array(algorithm.publicExponent)
  if (algorithm.hash) algorithm.hash = Object.freeze({ ...algorithm.hash })
  keys.set(key, {
    id: d.id,
    sealed,
    type: d.type,
    extractable: d.extractable,
    algorithm: Object.freeze(algorithm),
    usages: Object.freeze(d.usages.slice()),
  })
  return key
}

/**
 * Reads guest values into data for the host (see web-crypto.ts): copies of BufferSources go to
 * `buffers`, referred to as `{ $buf: index }`; a CryptoKey becomes `{ $key: id }`; a number JSON
 * cannot hold `{ $num: 'NaN' }`; a dictionary `{ $obj: members }`. Of an object the host did not
 * expect, only its own enumerable members are read, as a WebIDL dictionary conversion would.
 */
class Call {
  buffers = []

  value(v, depth = 0) {
    if (typeof v === 'number') return Number.isFinite(v) && !Object.is(v, -0) ? v : { $num: String(v) }
    if (typeof v === 'bigint') return { $num: String(v) }
    if (typeof v === 'symbol') throw new TypeError('Cannot convert a Symbol value to a string')
    if (!isObject(v)) return v
    const key = keys.get(v)
    if (key) return this.keyRef(key)
    const view = viewOf(v)
    if (view) return { $buf: this.buffer(exactBuffer(view.slice())) }
    if (depth > 4) return { $obj: {} }
    if (Array.isArray(v)) return Array.from(v, (x) => this.value(x, depth + 1))
    return { $obj: typeof v === 'function' ? {} : this.members(v, Object.keys(v), depth + 1) }
  }

  /** A dictionary's members, each read once, in the given order. */
  members(dict, names, depth = 0) {
    const out = {}
    for (const name of names) {
      const v = dict[name]
      if (v !== undefined) out[name] = this.value(v, depth)
    }
    return out
  }

  /**
   * An AlgorithmIdentifier, checked for `op` first (see normalize): a name, or a dictionary of the
   * standard's members (`hash` nested).
   */
  algorithm(alg, op) {
    if (op) normalize(op, alg)
    if (!isObject(alg)) return String(alg)
    const out = this.members(alg, ['name'])
    for (const name of ALGORITHM_MEMBERS) {
      const v = alg[name]
      if (v === undefined) continue
      out[name] = name === 'hash' && isObject(v) && !keys.has(v) && !viewOf(v) ? this.algorithm(v) : this.value(v)
    }
    return { $obj: out }
  }

  buffer(buf) {
    this.buffers.push(buf)
    return this.buffers.length - 1
  }

  keyRef(state) {
    return { $key: state.id, $sealed: this.buffer(state.sealed) }
  }

  key(key, what) {
    const s = isObject(key) ? keys.get(key) : undefined
    if (!s) throw new TypeError(`${what} is not of type CryptoKey`)
    return this.keyRef(s)
  }

  bytes(source, what) {
    const view = viewOf(source)
    if (!view) throw new TypeError(`${what} is not of type ArrayBuffer, Buffer, TypedArray, or DataView`)
    return this.value(view)
  }

  usages(list) {
    if (!isObject(list) || typeof list[Symbol.iterator] !== 'function') {
      throw new TypeError('keyUsages is not a sequence')
    }
    return Array.from(list, String)
  }

  keyData(format, data) {
    if (format !== 'jwk') return this.bytes(data, 'keyData')
    if (!isObject(data)) throw new TypeError('keyData is not a JsonWebKey')
    const out = {}
    for (const name of JWK_MEMBERS) {
      const v = data[name]
      if (v !== undefined) out[name] = name === 'key_ops' ? this.usages(v) : this.value(v)
    }
    return { $obj: out }
  }

  /** Sends the request: resolves to an ArrayBuffer, a boolean, a CryptoKey (pair) or a JWK. */
  send(op, args) {
    return native.subtle(op, JSON.stringify(args), ...this.buffers).then(fromHost, hostError)
  }
}

/** An ArrayBuffer as it is; else `[json, ...sealed keys]`. */
function fromHost(res) {
  if (!Array.isArray(res)) return res
  const r = JSON.parse(res[0])
  if (r.key) return newKey(r.key, res[1])
  if (r.pair) return { publicKey: newKey(r.pair.publicKey, res[1]), privateKey: newKey(r.pair.privateKey, res[2]) }
  if (r.jwk) return r.jwk
  return r.bool
}

/**
 * The host's error as the guest's own: a DOMException unless it is a TypeError or RangeError (the
 * host passes on no other names than WebCrypto's, see web-crypto.ts).
 */
function hostError(err) {
  if (err && err.name !== 'TypeError' && err.name !== 'RangeError') throw domException(err.message, err.name)
  throw err
}

const DIGESTS = ['SHA-1', 'SHA-256', 'SHA-384', 'SHA-512']
const AES = ['AES-CTR', 'AES-CBC', 'AES-GCM']
const RSA = ['RSASSA-PKCS1-v1_5', 'RSA-PSS', 'RSA-OAEP']
const PAIRS = [...RSA, 'ECDSA', 'ECDH', 'Ed25519', 'Ed448', 'X25519', 'X448']
const SIGN = ['RSASSA-PKCS1-v1_5', 'RSA-PSS', 'ECDSA', 'Ed25519', 'Ed448', 'HMAC']
/**
 * The standard's algorithm registry, per operation (Node's names): what "normalize an algorithm"
 * recognizes. `keyLength` is deriveKey's derived key type; `wrapKey` covers unwrapKey.
 */
const REGISTRY = {
  digest: DIGESTS,
  encrypt: ['RSA-OAEP', ...AES],
  decrypt: ['RSA-OAEP', ...AES],
  sign: SIGN,
  verify: SIGN,
  generateKey: [...PAIRS, ...AES, 'AES-KW', 'HMAC'],
  importKey: [...PAIRS, ...AES, 'AES-KW', 'HMAC', 'HKDF', 'PBKDF2'],
  deriveBits: ['ECDH', 'X25519', 'X448', 'HKDF', 'PBKDF2'],
  keyLength: [...AES, 'AES-KW', 'HMAC', 'HKDF', 'PBKDF2'],
  wrapKey: ['RSA-OAEP', ...AES, 'AES-KW'],
}
/** The algorithms whose dictionaries require a `hash`, per operation, with those dictionaries' names. */
const HASHED = {
  generateKey: { HMAC: 'HmacKeyGenParams', ...Object.fromEntries(RSA.map((n) => [n, 'RsaHashedKeyGenParams'])) },
  importKey: { HMAC: 'HmacImportParams', ...Object.fromEntries(RSA.map((n) => [n, 'RsaHashedImportParams'])) },
  sign: { ECDSA: 'EcdsaParams' },
  verify: { ECDSA: 'EcdsaParams' },
  deriveBits: { HKDF: 'HkdfParams', PBKDF2: 'Pbkdf2Params' },
  keyLength: { HMAC: 'HmacImportParams' },
}

function recognized(op, name) {
  const upper = name.toUpperCase()
  const found = REGISTRY[op].find((n) => n.toUpperCase() === upper)
  if (!found) throw domException('Unrecognized algorithm name', 'NotSupportedError')
  return found
}

/**
 * The part of "normalize an algorithm" that rejects at once, before any host work, as Node does:
 * a missing name (TypeError), a name (or hash name) the registry lacks (NotSupportedError), a
 * required hash missing. The members are checked by the host. Returns the registered name.
 */
function normalize(op, algorithm) {
  if (!isObject(algorithm)) return recognized(op, String(algorithm))
  const name = algorithm.name
  if (name === undefined) {
    throw new TypeError(
      "Failed to normalize algorithm: passed algorithm can not be converted to 'Algorithm' because 'name' is required in 'Algorithm'.",
    )
  }
  const found = recognized(op, String(name))
  const dict = HASHED[op] && HASHED[op][found]
  if (dict) {
    const hash = algorithm.hash
    if (hash === undefined) {
      throw new TypeError(
        `Failed to normalize algorithm: passed algorithm can not be converted to '${dict}' because 'hash' is required in '${dict}'.`,
      )
    }
    normalize('digest', hash)
  }
  return found
}

export class SubtleCrypto {
  constructor() {
    throw new TypeError('Illegal constructor')
  }
}

/**
 * The methods: each checks its receiver and argument count as Node does, reads its arguments into
 * a Call and sends it; `length` is the number of required arguments.
 */
const METHODS = {
  // Digests run synchronously on the host (no key, no state).
  digest: [
    2,
    (r, algorithm, data) => {
      const bytes = r.bytes(data, 'data')
      const name = normalize('digest', algorithm)
      return native.digest(name, r.buffers[bytes.$buf])
    },
  ],
  encrypt: [3, (r, algorithm, key, data) => cipher(r, 'encrypt', algorithm, key, data)],
  decrypt: [3, (r, algorithm, key, data) => cipher(r, 'decrypt', algorithm, key, data)],
  sign: [3, (r, algorithm, key, data) => cipher(r, 'sign', algorithm, key, data)],
  verify: [
    4,
    (r, algorithm, key, signature, data) => {
      const args = [r.key(key, 'key'), r.bytes(signature, 'signature'), r.bytes(data, 'data')]
      return r.send('verify', [r.algorithm(algorithm, 'verify'), ...args])
    },
  ],
  generateKey: [
    3,
    (r, algorithm, extractable, usages) => {
      const list = r.usages(usages)
      return r.send('generateKey', [r.algorithm(algorithm, 'generateKey'), !!extractable, list])
    },
  ],
  deriveKey: [
    5,
    (r, algorithm, baseKey, derivedKeyType, extractable, usages) => {
      const key = r.key(baseKey, 'baseKey')
      const list = r.usages(usages)
      const alg = r.algorithm(algorithm, 'deriveBits')
      return r.send('deriveKey', [alg, key, r.algorithm(derivedKeyType, 'keyLength'), !!extractable, list])
    },
  ],
  deriveBits: [
    3,
    (r, algorithm, baseKey, length) => {
      const key = r.key(baseKey, 'baseKey')
      return r.send('deriveBits', [r.algorithm(algorithm, 'deriveBits'), key, length == null ? null : r.value(length)])
    },
  ],
  importKey: [
    5,
    (r, format, keyData, algorithm, extractable, usages) => {
      const f = String(format)
      const data = r.keyData(f, keyData)
      const list = r.usages(usages)
      return r.send('importKey', [f, data, r.algorithm(algorithm, 'importKey'), !!extractable, list])
    },
  ],
  exportKey: [2, (r, format, key) => r.send('exportKey', [String(format), r.key(key, 'key')])],
  wrapKey: [
    4,
    (r, format, key, wrappingKey, wrapAlgorithm) => {
      const args = [String(format), r.key(key, 'key'), r.key(wrappingKey, 'wrappingKey')]
      return r.send('wrapKey', [...args, r.algorithm(wrapAlgorithm, 'wrapKey')])
    },
  ],
  unwrapKey: [
    7,
    (r, format, wrappedKey, unwrappingKey, unwrapAlgorithm, unwrappedKeyAlgorithm, extractable, usages) => {
      const args = [String(format), r.bytes(wrappedKey, 'wrappedKey'), r.key(unwrappingKey, 'unwrappingKey')]
      const list = r.usages(usages)
      const wrap = r.algorithm(unwrapAlgorithm, 'wrapKey')
      return r.send('unwrapKey', [...args, wrap, r.algorithm(unwrappedKeyAlgorithm, 'importKey'), !!extractable, list])
    },
  ],
}

/** encrypt, decrypt and sign: (algorithm, key, data). */
function cipher(r, op, algorithm, key, data) {
  const args = [r.key(key, 'key'), r.bytes(data, 'data')]
  return r.send(op, [r.algorithm(algorithm, op), ...args])
}

for (const name of Object.keys(METHODS)) {
  const [length, body] = METHODS[name]
  const method = {
    [name](...args) {
      return new Promise((resolve) => {
        if (this !== subtle) throw new TypeError('Illegal invocation')
        if (args.length < length) {
          throw new TypeError(
            `Failed to execute '${name}' on 'SubtleCrypto': ${length} arguments required, but only ${args.length} present.`,
          )
        }
        resolve(body(new Call(), ...args))
      })
    },
  }[name]
  Object.defineProperty(method, 'length', { value: length })
  Object.defineProperty(SubtleCrypto.prototype, name, {
    value: method,
    writable: true,
    enumerable: true,
    configurable: true,
  })
}
tag(SubtleCrypto, 'SubtleCrypto')

export const subtle = Object.create(SubtleCrypto.prototype)
