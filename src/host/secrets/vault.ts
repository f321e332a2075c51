/**
 * Sealing secrets for storage: AES-256-GCM under one host key, so the database (or whatever
 * `SealedSecretStore` holds them) never sees a secret in clear, and a blob that was altered,
 * or moved to another secret's name, fails to open instead of decrypting to something else.
 *
 * @module
 */
import { type KeyObject, createCipheriv, createDecipheriv, createSecretKey, randomBytes } from 'node:crypto'
import { FnboxError } from '../../errors.js'

/** The environment variable {@link SecretVault.fromKey} reads when no key is given. */
export const SECRET_KEY_ENV = 'FNBOX_SECRET_KEY'

const KEY_BYTES = 32
const VERSION = 1
const IV_BYTES = 12
const TAG_BYTES = 16
const HEADER_BYTES = 1 + IV_BYTES + TAG_BYTES
const HEX_KEY = /^[0-9a-fA-F]{64}$/
// Standard or URL-safe alphabet, padding optional: 43 characters, or 44 ending in `=`.
const BASE64_KEY = /^[A-Za-z0-9+/_-]{43}=?$/
const EXPECTED = `32 bytes: 64 hex digits, base64 (standard or URL-safe) or a Uint8Array`

/**
 * Seals and opens secrets with one 256-bit key.
 *
 * A sealed secret is `version (1 byte, 1) | IV (12 random bytes) | GCM tag (16) | ciphertext`,
 * with the secret's name (UTF-8) as additional authenticated data: the name is not stored in the
 * blob but bound to it. A random 96-bit IV per seal stays clear of GCM's IV-reuse limit for far
 * more writes than a secret store sees (2^32 seals per key).
 *
 * @public
 */
export class SecretVault {
  readonly #key: KeyObject

  private constructor(key: Uint8Array) {
    this.#key = createSecretKey(key) // its own copy: the caller may wipe its buffer
  }

  /**
   * A vault for `key`: 64 hex digits, or base64 / base64url (padding optional) of 32 bytes, or
   * the 32 bytes themselves; surrounding whitespace in a string is ignored (a key read from a
   * file often ends with a newline). `undefined` reads the `FNBOX_SECRET_KEY` environment
   * variable. Anything else fails with `ERR_INVALID_OPTION`, whose message describes the key's
   * type, length and format and never shows the key itself.
   *
   * Generate a key with `node -e "console.log(crypto.randomBytes(32).toString('base64'))"`.
   */
  static fromKey(key: string | Uint8Array | undefined, optionName = 'secrets.key'): SecretVault {
    const source = key === undefined ? process.env[SECRET_KEY_ENV] : key
    const label = key === undefined ? `${optionName} (or ${SECRET_KEY_ENV})` : optionName
    const problem = keyProblem(source)
    if (typeof problem === 'string') {
      // Not `invalidOption`: it would quote the value, and the value is key material.
      const hint = `; make one with: node -e "console.log(require('node:crypto').randomBytes(32).toString('hex'))"`
      throw new FnboxError('ERR_INVALID_OPTION', `${label} must be ${EXPECTED} (got ${problem})${hint}`, {
        details: { option: optionName },
      })
    }
    return new SecretVault(problem)
  }

  /** Encrypts `plaintext` for the secret `name`; every call gives a different blob. */
  seal(name: string, plaintext: string): Uint8Array {
    const iv = randomBytes(IV_BYTES)
    const cipher = createCipheriv('aes-256-gcm', this.#key, iv, { authTagLength: TAG_BYTES })
    cipher.setAAD(Buffer.from(name, 'utf8'))
    const ciphertext = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()])
    const sealed = new Uint8Array(HEADER_BYTES + ciphertext.byteLength)
    sealed[0] = VERSION
    sealed.set(iv, 1)
    sealed.set(cipher.getAuthTag(), 1 + IV_BYTES)
    sealed.set(ciphertext, HEADER_BYTES)
    return sealed
  }

  /**
   * Decrypts a blob sealed for `name`. A wrong key, a changed byte, an unknown version or a blob
   * sealed for another name all fail alike, with `ERR_STORAGE`: the stored data is unusable.
   */
  open(name: string, sealed: Uint8Array): string {
    if (sealed.byteLength < HEADER_BYTES || sealed[0] !== VERSION) throw undecryptable(name)
    const iv = sealed.subarray(1, 1 + IV_BYTES)
    const tag = sealed.subarray(1 + IV_BYTES, HEADER_BYTES)
    try {
      const decipher = createDecipheriv('aes-256-gcm', this.#key, iv, { authTagLength: TAG_BYTES })
      decipher.setAAD(Buffer.from(name, 'utf8'))
      decipher.setAuthTag(tag)
      const plaintext = Buffer.concat([decipher.update(sealed.subarray(HEADER_BYTES)), decipher.final()])
      return plaintext.toString('utf8')
    } catch (cause) {
      throw undecryptable(name, cause)
    }
  }
}

/** The key's 32 bytes, or what is wrong with it, described by type, length and format only. */
function keyProblem(key: unknown): Uint8Array | string {
  if (key instanceof Uint8Array) return key.byteLength === KEY_BYTES ? key : `${key.byteLength} bytes`
  if (key === undefined) return 'nothing'
  if (typeof key !== 'string') return describeType(key)
  const text = key.trim()
  if (HEX_KEY.test(text)) return Buffer.from(text, 'hex')
  if (BASE64_KEY.test(text)) return Buffer.from(text, 'base64') // Node decodes both alphabets
  if (text === '') return 'an empty string'
  const format = /^[0-9a-fA-F]+$/.test(text) ? 'hex digits' : /^[A-Za-z0-9+/_-]+=*$/.test(text) ? 'base64' : 'text'
  return `${text.length} characters of ${format}`
}

function undecryptable(name: string, cause?: unknown): FnboxError {
  return new FnboxError('ERR_STORAGE', `secret "${name}" could not be decrypted (wrong key or tampered)`, {
    cause,
  })
}

function describeType(value: unknown): string {
  if (value === null) return 'null'
  if (Array.isArray(value)) return 'an array'
  const type = typeof value
  return `${type === 'object' || type === 'undefined' ? 'an' : 'a'} ${type}`
}
