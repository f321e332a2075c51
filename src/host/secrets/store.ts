/**
 * The secrets domain as the runtime uses it: names and values checked, values sealed by a
 * {@link SecretVault} before they reach a {@link SealedSecretStore}, opened on the way out.
 *
 * @module
 */
import { FnboxError, isFnboxError } from '../../errors.js'
import type { SealedSecretStore } from './types.js'
import type { SecretVault } from './vault.js'

/** What a secret's name must look like: an environment-variable-style identifier. */
export const SECRET_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,127}$/
/** Largest secret value, in UTF-8 bytes. */
export const MAX_SECRET_BYTES = 64 * 1024

const LONE_SURROGATE = /\p{Cs}/u

/**
 * Secrets by name, encrypted at rest. No error this class raises carries a secret's value: sizes
 * and types only. A backend error that is not a `FnboxError` becomes `ERR_STORAGE`.
 *
 * @public
 */
export class SecretStore {
  constructor(
    private readonly vault: SecretVault,
    private readonly sealed: SealedSecretStore,
  ) {}

  /** The secret's value, or `undefined` if there is none. `ERR_STORAGE` if it cannot be decrypted. */
  async get(name: string): Promise<string | undefined> {
    checkName(name)
    const sealed = await backend('read', () => this.sealed.get(name))
    return sealed === undefined ? undefined : this.vault.open(name, sealed)
  }

  /** Creates or replaces the secret. */
  async set(name: string, value: string): Promise<void> {
    checkName(name)
    checkValue(name, value)
    const sealed = this.vault.seal(name, value)
    await backend('write', () => this.sealed.set(name, sealed))
  }

  /** True if the secret existed. */
  async delete(name: string): Promise<boolean> {
    checkName(name)
    return backend('delete', () => this.sealed.delete(name))
  }

  /** Every secret's name, in code-point order; never a value. */
  list(): Promise<string[]> {
    return backend('list', () => this.sealed.list())
  }
}

function checkName(name: unknown): asserts name is string {
  if (typeof name !== 'string' || !SECRET_NAME.test(name)) {
    const got = typeof name === 'string' ? `${name.length} characters` : typeof name
    throw new FnboxError(
      'ERR_INVALID_ARGUMENT',
      `secret name must be a letter or "_" then up to 127 letters, digits or "_" (got ${got})`,
      { details: { argument: 'name' } },
    )
  }
}

function checkValue(name: string, value: unknown): asserts value is string {
  if (typeof value !== 'string') {
    throw new FnboxError('ERR_INVALID_ARGUMENT', `secret "${name}" must be a string (got ${typeof value})`, {
      details: { argument: 'value' },
    })
  }
  // An unpaired surrogate would be sealed as U+FFFD and come back changed.
  if (LONE_SURROGATE.test(value)) {
    throw new FnboxError('ERR_INVALID_ARGUMENT', `secret "${name}" must be well-formed Unicode`, {
      details: { argument: 'value' },
    })
  }
  const size = Buffer.byteLength(value, 'utf8')
  if (size > MAX_SECRET_BYTES) {
    throw new FnboxError(
      'ERR_TOO_LARGE',
      `secret "${name}" is ${size} bytes, over the ${MAX_SECRET_BYTES}-byte limit`,
      {
        details: { limit: MAX_SECRET_BYTES, value: size },
      },
    )
  }
}

async function backend<T>(operation: string, run: () => Promise<T>): Promise<T> {
  try {
    return await run()
  } catch (err) {
    if (isFnboxError(err)) throw err
    throw new FnboxError('ERR_STORAGE', `could not ${operation} secrets`, { cause: err })
  }
}
