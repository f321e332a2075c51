// crypto.subtle (Web Cryptography API), the part real libraries use: digest (SHA-1/256/384/512),
// HMAC keys (importKey raw/jwk, generateKey, exportKey) with sign and verify. The work runs on
// the host's crypto (native.digest, native.hmac); keys live here as bytes no guest code can read
// unless the key is extractable. Every method returns a promise and rejects (never throws) with
// the DOMException the standard names.
import { native, domException } from './shared.js'
import { internal, tag, viewOf, exactBuffer, isObject } from './util.js'

const HASHES = { 'SHA-1': 64, 'SHA-256': 64, 'SHA-384': 128, 'SHA-512': 128 } // name: block bytes
const USAGES = ['encrypt', 'decrypt', 'sign', 'verify', 'deriveKey', 'deriveBits', 'wrapKey', 'unwrapKey']
const HMAC_USAGES = ['sign', 'verify']
const kKey = internal('key')
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
  const s = key && key[kKey]
  if (!s) throw new TypeError('Illegal invocation')
  return s
}

function newKey(bytes, hash, extractable, usages) {
  constructing = true
  let key
  try {
    key = new CryptoKey()
  } finally {
    constructing = false
  }
  key[kKey] = {
    type: 'secret',
    extractable: !!extractable,
    algorithm: Object.freeze({ name: 'HMAC', hash: Object.freeze({ name: hash }), length: bytes.length * 8 }),
    usages: Object.freeze(usages.slice()),
    bytes,
  }
  return key
}

/** "Normalize an algorithm": a name string or a dictionary with `name`. */
function algorithmName(algorithm) {
  if (typeof algorithm === 'string') return algorithm
  if (isObject(algorithm) && algorithm.name !== undefined) return String(algorithm.name)
  throw new TypeError('Algorithm: name is missing')
}

function hashName(algorithm) {
  const name = algorithmName(algorithm).toUpperCase()
  if (!Object.prototype.hasOwnProperty.call(HASHES, name))
    throw domException('Unrecognized algorithm name', 'NotSupportedError')
  return name
}

function hmacOnly(algorithm) {
  const name = algorithmName(algorithm)
  if (name.toUpperCase() !== 'HMAC') throw domException(`Algorithm ${name} is not supported`, 'NotSupportedError')
}

function bufferSource(value, what) {
  const view = viewOf(value)
  if (!view) throw new TypeError(`${what} must be an ArrayBuffer or ArrayBufferView`)
  return view
}

function usageList(usages) {
  if (!isObject(usages) || typeof usages[Symbol.iterator] !== 'function')
    throw new TypeError('keyUsages must be a sequence')
  const list = Array.from(usages, String)
  for (const u of list) if (!USAGES.includes(u)) throw new TypeError(`'${u}' is not a valid key usage`)
  for (const u of list)
    if (!HMAC_USAGES.includes(u)) throw domException(`Cannot create a key with usage '${u}'`, 'SyntaxError')
  if (list.length === 0) throw domException('Usages cannot be empty when creating a key.', 'SyntaxError')
  return [...new Set(list)]
}

function base64url(bytes) {
  let s = ''
  for (let i = 0; i < bytes.length; i++) s += String.fromCharCode(bytes[i])
  return btoa(s).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '')
}

function fromBase64url(text) {
  const s = atob(String(text).replace(/-/g, '+').replace(/_/g, '/'))
  const out = new Uint8Array(s.length)
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i)
  return out
}

const JWK_ALG = { 'SHA-1': 'HS1', 'SHA-256': 'HS256', 'SHA-384': 'HS384', 'SHA-512': 'HS512' }

function importHmac(format, keyData, algorithm, extractable, usages) {
  hmacOnly(algorithm)
  if (!isObject(algorithm) || algorithm.hash === undefined) throw new TypeError('HmacImportParams: hash is missing')
  const hash = hashName(algorithm.hash)
  const list = usageList(usages)
  let bytes
  if (format === 'raw') {
    bytes = bufferSource(keyData, 'keyData').slice()
  } else if (format === 'jwk') {
    if (!isObject(keyData)) throw new TypeError('keyData must be a JsonWebKey')
    if (keyData.kty !== 'oct') throw domException("The JWK's kty must be 'oct'", 'DataError')
    if (typeof keyData.k !== 'string') throw domException("The JWK's k is missing", 'DataError')
    if (keyData.alg !== undefined && keyData.alg !== JWK_ALG[hash]) {
      throw domException(`The JWK's alg does not match ${hash}`, 'DataError')
    }
    if (keyData.ext === false && extractable) throw domException('The JWK is not extractable', 'DataError')
    try {
      bytes = fromBase64url(keyData.k)
    } catch {
      throw domException("The JWK's k is not base64url", 'DataError')
    }
  } else {
    throw domException(`Unsupported key format ${format} for HMAC`, 'NotSupportedError')
  }
  if (bytes.length === 0) throw domException('The key is empty', 'DataError')
  if (algorithm.length !== undefined) {
    const length = Number(algorithm.length)
    if (length > bytes.length * 8 || length <= (bytes.length - 1) * 8) {
      throw domException('The key length does not match its data', 'DataError')
    }
  }
  return newKey(bytes, hash, extractable, list)
}

function usable(key, usage, algorithm) {
  const s = keyState(key)
  hmacOnly(algorithm)
  if (!s.usages.includes(usage)) throw domException(`The key does not allow ${usage}`, 'InvalidAccessError')
  return s
}

function mac(s, data) {
  return native.hmac(s.algorithm.hash.name, exactBuffer(s.bytes), exactBuffer(bufferSource(data, 'data')))
}

/** Runs `fn` as the body of an async method: synchronous throws become rejections. */
function async(fn) {
  return new Promise((resolve) => resolve(fn()))
}

export class SubtleCrypto {
  constructor() {
    throw new TypeError('Illegal constructor')
  }

  digest(algorithm, data) {
    return async(() => native.digest(hashName(algorithm), exactBuffer(bufferSource(data, 'data'))))
  }

  importKey(format, keyData, algorithm, extractable, keyUsages) {
    return async(() => importHmac(String(format), keyData, algorithm, extractable, keyUsages))
  }

  generateKey(algorithm, extractable, keyUsages) {
    return async(() => {
      hmacOnly(algorithm)
      const hash = hashName(algorithm.hash)
      const bits = algorithm.length === undefined ? HASHES[hash] * 8 : Number(algorithm.length)
      if (!(bits > 0 && bits % 8 === 0))
        throw domException('HMAC key length must be a positive multiple of 8', 'OperationError')
      const bytes = new Uint8Array(bits / 8)
      crypto.getRandomValues(bytes)
      return newKey(bytes, hash, extractable, usageList(keyUsages))
    })
  }

  exportKey(format, key) {
    return async(() => {
      const s = keyState(key)
      if (!s.extractable) throw domException('key is not extractable', 'InvalidAccessError')
      if (format === 'raw') return s.bytes.slice().buffer
      if (format === 'jwk') {
        return {
          kty: 'oct',
          k: base64url(s.bytes),
          alg: JWK_ALG[s.algorithm.hash.name],
          key_ops: s.usages.slice(),
          ext: true,
        }
      }
      throw domException(`Unsupported key format ${format} for HMAC`, 'NotSupportedError')
    })
  }

  sign(algorithm, key, data) {
    return async(() => mac(usable(key, 'sign', algorithm), data))
  }

  verify(algorithm, key, signature, data) {
    return async(() => {
      const s = usable(key, 'verify', algorithm)
      const expected = new Uint8Array(mac(s, data))
      const given = bufferSource(signature, 'signature')
      if (given.length !== expected.length) return false
      let diff = 0 // every byte compared, whatever the first mismatch
      for (let i = 0; i < expected.length; i++) diff |= expected[i] ^ given[i]
      return diff === 0
    })
  }
}
tag(SubtleCrypto, 'SubtleCrypto')

export const subtle = Object.create(SubtleCrypto.prototype)
