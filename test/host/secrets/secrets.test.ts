import { randomBytes } from 'node:crypto'
import { Kysely, PostgresDialect } from 'kysely'
import { describe, expect, it } from 'vitest'
import { createRuntime } from 'fnbox'
import { isFnboxError } from '../../../src/errors.js'
import type { SealedSecretStore } from '../../../src/host/secrets/types.js'
import {
  MAX_SECRET_BYTES,
  MemorySealedSecretStore,
  PostgresSealedSecretStore,
  SECRET_KEY_ENV,
  SecretStore,
  SecretVault,
} from '../../../src/host/secrets/index.js'

// A key whose base64 has both `+` and `/` (so base64url differs): fb efbe → "++++", ff ffff → "////".
const KEY = Buffer.from('fbefbe'.repeat(5) + 'ffffff'.repeat(5) + 'abcd', 'hex')
const HEX = KEY.toString('hex')
const BASE64 = KEY.toString('base64')
const BASE64URL = KEY.toString('base64url')

function thrown(run: () => unknown): Error {
  try {
    run()
  } catch (err) {
    return err as Error
  }
  throw new Error('did not throw')
}

async function rejected(promise: Promise<unknown>): Promise<Error> {
  return promise.then(
    () => {
      throw new Error('did not reject')
    },
    (err: unknown) => err as Error,
  )
}

describe('SecretVault.fromKey', () => {
  const vault = SecretVault.fromKey(KEY)
  const sealed = vault.seal('NAME', 'value')

  it.each([
    ['hex', HEX],
    ['upper-case hex', HEX.toUpperCase()],
    ['base64', BASE64],
    ['base64 without padding', BASE64.replace(/=+$/, '')],
    ['base64url', BASE64URL],
    ['base64url with padding', BASE64URL + '='],
    ['a string with a trailing newline', HEX + '\n'],
    ['bytes', new Uint8Array(KEY)],
    ['a Buffer', Buffer.from(KEY)],
  ])('takes the key as %s', (_format, key) => {
    expect(BASE64).toMatch(/\+.*\//)
    expect(SecretVault.fromKey(key).open('NAME', sealed)).toBe('value')
  })

  it('copies a key given as bytes', () => {
    const bytes = new Uint8Array(KEY)
    const copy = SecretVault.fromKey(bytes)
    bytes.fill(0)
    expect(copy.open('NAME', sealed)).toBe('value')
  })

  it(`falls back to ${SECRET_KEY_ENV}`, () => {
    const saved = process.env[SECRET_KEY_ENV]
    try {
      process.env[SECRET_KEY_ENV] = BASE64
      expect(SecretVault.fromKey(undefined).open('NAME', sealed)).toBe('value')
      delete process.env[SECRET_KEY_ENV]
      const err = thrown(() => SecretVault.fromKey(undefined))
      expect(err).toMatchObject({ code: 'ERR_INVALID_OPTION', details: { option: 'secrets.key' } })
      expect(err.message).toContain(SECRET_KEY_ENV)
      expect(err.message).toContain('got nothing')
    } finally {
      if (saved === undefined) delete process.env[SECRET_KEY_ENV]
      else process.env[SECRET_KEY_ENV] = saved
    }
  })

  it.each([
    ['31 bytes of hex', randomBytes(31).toString('hex'), '62 characters of hex digits'],
    ['33 bytes of hex', randomBytes(33).toString('hex'), '66 characters of hex digits'],
    ['16 bytes of base64', randomBytes(16).toString('base64'), '24 characters of base64'],
    ['48 bytes of base64', randomBytes(48).toString('base64url'), '64 characters of base64'],
    ['a passphrase', 'correct horse battery staple, shh!', '34 characters of text'],
    ['hex with a stray character', HEX.slice(0, 63) + 'g', '64 characters of base64'],
    ['an empty string', '', 'an empty string'],
    ['16 bytes', new Uint8Array(16), '16 bytes'],
    ['33 bytes', new Uint8Array(randomBytes(33)), '33 bytes'],
    ['a number', 42, 'a number'],
    ['an object', { key: HEX }, 'an object'],
  ])('refuses %s, describing it without showing it', (_what, key, described) => {
    const err = thrown(() => SecretVault.fromKey(key as string, 'options.secrets.key'))
    expect(isFnboxError(err, 'ERR_INVALID_OPTION')).toBe(true)
    expect(err).toMatchObject({ details: { option: 'options.secrets.key' } })
    expect(err.message).toContain(`(got ${described})`)
    expect(err.message).toMatch(/^options\.secrets\.key must be 32 bytes/)
    if (typeof key === 'string') {
      for (let i = 0; i + 6 <= key.length; i++) expect(err.message).not.toContain(key.slice(i, i + 6))
    }
  })
})

describe('SecretVault seal and open', () => {
  const vault = SecretVault.fromKey(randomBytes(32))

  it.each([
    ['empty', ''],
    ['ascii', 'sk_live_abc123'],
    ['unicode', '🔑 ключ 秘密 é\u0000\uffff'],
    ['64 KiB', 'x'.repeat(MAX_SECRET_BYTES)],
  ])('round-trips a %s value', (_what, value) => {
    const sealed = vault.seal('API_KEY', value)
    expect(sealed[0]).toBe(1)
    expect(sealed.byteLength).toBe(1 + 12 + 16 + Buffer.byteLength(value))
    expect(vault.open('API_KEY', sealed)).toBe(value)
  })

  it('never seals the same way twice', () => {
    const a = vault.seal('N', 'same')
    const b = vault.seal('N', 'same')
    expect(Buffer.from(a).equals(Buffer.from(b))).toBe(false)
    expect(Buffer.from(a.subarray(1, 13)).equals(Buffer.from(b.subarray(1, 13)))).toBe(false)
  })

  const plaintext = 'the plaintext value'
  const sealed = vault.seal('DB_PASSWORD', plaintext)
  const undecryptable = (err: Error) => {
    expect(err).toMatchObject({ code: 'ERR_STORAGE' })
    expect(err.message).toBe('secret "DB_PASSWORD" could not be decrypted (wrong key or tampered)')
    expect(err.message).not.toContain(plaintext)
  }

  it.each([
    ['the version', 0],
    ['the IV', 1],
    ['the IV end', 12],
    ['the tag', 13],
    ['the tag end', 28],
    ['the ciphertext', 29],
    ['the last byte', sealed.byteLength - 1],
  ])('detects a flipped bit in %s', (_where, offset) => {
    for (const bit of [0x01, 0x80]) {
      const tampered = new Uint8Array(sealed)
      tampered[offset] = (tampered[offset] as number) ^ bit
      undecryptable(thrown(() => vault.open('DB_PASSWORD', tampered)))
    }
  })

  it('detects truncation and extension', () => {
    for (const blob of [new Uint8Array(), sealed.subarray(0, 29), sealed.subarray(0, sealed.byteLength - 1)]) {
      undecryptable(thrown(() => vault.open('DB_PASSWORD', blob)))
    }
    undecryptable(thrown(() => vault.open('DB_PASSWORD', Buffer.concat([sealed, Buffer.from([0])]))))
  })

  it('binds a blob to its name', () => {
    for (const other of ['DB_PASSWORD2', 'db_password', 'DB_PASSWOR', '']) {
      const err = thrown(() => vault.open(other, sealed))
      expect(err).toMatchObject({ code: 'ERR_STORAGE' })
      expect(err.message).not.toContain(plaintext)
    }
  })

  it('fails with another key', () => {
    undecryptable(thrown(() => SecretVault.fromKey(randomBytes(32)).open('DB_PASSWORD', sealed)))
  })
})

describe('PostgresSealedSecretStore', () => {
  it('reports a database failure as ERR_STORAGE, keeping the cause', async () => {
    const down = new Error('database down')
    const pool = { connect: () => Promise.reject(down), end: () => Promise.resolve() }
    const store = new PostgresSealedSecretStore(new Kysely({ dialect: new PostgresDialect({ pool }) }))
    for (const [call, message] of [
      [() => store.get('A'), 'could not read secret "A"'],
      [() => store.set('A', new Uint8Array([1])), 'could not write secret "A"'],
      [() => store.delete('A'), 'could not delete secret "A"'],
      [() => store.list(), 'could not list secrets'],
    ] as const) {
      const err = await rejected(call())
      expect(err).toMatchObject({ code: 'ERR_STORAGE', message })
      expect(err.cause).toBe(down)
    }
  })
})

describe('SecretStore', () => {
  const vault = SecretVault.fromKey(randomBytes(32))
  const sealed = new MemorySealedSecretStore()
  const secrets = new SecretStore(vault, sealed)

  it('sets, gets, lists and deletes', async () => {
    await secrets.set('B_TOKEN', 'b')
    await secrets.set('A_TOKEN', 'a')
    await secrets.set('A_TOKEN', 'a2')
    expect(await secrets.get('A_TOKEN')).toBe('a2')
    expect(await secrets.get('MISSING')).toBeUndefined()
    expect(await secrets.list()).toEqual(['A_TOKEN', 'B_TOKEN'])
    expect(await secrets.delete('A_TOKEN')).toBe(true)
    expect(await secrets.delete('A_TOKEN')).toBe(false)
    expect(await secrets.list()).toEqual(['B_TOKEN'])
  })

  it.each([[''], ['1ABC'], ['A-B'], ['A B'], ['É'], ['A'.repeat(129)], [42], [undefined]])(
    'refuses the name %j',
    async (name) => {
      for (const call of [
        () => secrets.get(name as string),
        () => secrets.set(name as string, 'v'),
        () => secrets.delete(name as string),
      ]) {
        await expect(call()).rejects.toMatchObject({ code: 'ERR_INVALID_ARGUMENT', details: { argument: 'name' } })
      }
    },
  )

  it.each([['_'], ['a'], ['A'.repeat(128)], ['_9_x']])('accepts the name %j', async (name) => {
    await secrets.set(name, 'v')
    expect(await secrets.get(name)).toBe('v')
    await secrets.delete(name)
  })

  it('refuses values over 64 KiB of UTF-8, without showing them', async () => {
    await secrets.set('BIG', 'v'.repeat(MAX_SECRET_BYTES))
    for (const [value, size] of [
      ['v'.repeat(MAX_SECRET_BYTES + 1), MAX_SECRET_BYTES + 1],
      ['é'.repeat(MAX_SECRET_BYTES / 2 + 1), MAX_SECRET_BYTES + 2],
    ] as const) {
      const err = await rejected(secrets.set('BIG', value))
      expect(err).toMatchObject({ code: 'ERR_TOO_LARGE', details: { limit: MAX_SECRET_BYTES, value: size } })
      expect(err.message).not.toContain(value.slice(0, 8))
    }
    expect(await secrets.get('BIG')).toHaveLength(MAX_SECRET_BYTES)
  })

  it('refuses values that are not well-formed strings', async () => {
    for (const value of [42, undefined, { secret: 'shh-do-not-print' }, 'ok\ud800']) {
      const err = await rejected(secrets.set('V', value as string))
      expect(err).toMatchObject({ code: 'ERR_INVALID_ARGUMENT', details: { argument: 'value' } })
      expect(err.message).not.toContain('shh')
    }
  })

  it('fails to read a tampered or moved blob, without showing it', async () => {
    await secrets.set('MOVED', 'the-moved-value')
    await sealed.set('OTHER', (await sealed.get('MOVED')) as Uint8Array)
    const err = await rejected(secrets.get('OTHER'))
    expect(err).toMatchObject({ code: 'ERR_STORAGE' })
    expect(err.message).not.toContain('the-moved-value')
  })

  it('wraps a backend failure as ERR_STORAGE', async () => {
    const failing: SealedSecretStore = {
      get: () => Promise.reject(new Error('connection refused')),
      set: () => Promise.reject(new Error('connection refused')),
      delete: () => Promise.reject(new Error('connection refused')),
      list: () => Promise.reject(new Error('connection refused')),
    }
    const store = new SecretStore(vault, failing)
    for (const call of [
      () => store.get('A'),
      () => store.set('A', 'value'),
      () => store.delete('A'),
      () => store.list(),
    ]) {
      const err = await rejected(call())
      expect(err).toMatchObject({ code: 'ERR_STORAGE' })
      expect((err.cause as Error).message).toBe('connection refused')
    }
  })
})

describe('a bad secrets key', () => {
  it('fails createRuntime before any database starts, saying how to make a key', async () => {
    const started = Date.now()
    // The folder cannot be created: had the database been started, the error would be that.
    const err = (await createRuntime({
      secrets: { key: 'too-short' },
      storage: { pglite: '/proc/fnbox-never/pglite' },
    }).catch((e: unknown) => e)) as Error & { code?: string }
    expect(err.code).toBe('ERR_INVALID_OPTION')
    expect(err.message).toMatch(/^options\.secrets\.key must be 32 bytes/)
    expect(err.message).toContain(`node -e "console.log(require('node:crypto').randomBytes(32).toString('hex'))"`)
    expect(err.message).not.toContain('too-short')
    expect(Date.now() - started).toBeLessThan(10_000)
  })

  it('in FNBOX_SECRET_KEY fails createRuntime the same way', async () => {
    const previous = process.env.FNBOX_SECRET_KEY
    process.env.FNBOX_SECRET_KEY = 'nope'
    try {
      const err = (await createRuntime({ storage: 'memory' }).catch((e: unknown) => e)) as Error & { code?: string }
      expect(err.code).toBe('ERR_INVALID_OPTION')
      expect(err.message).toMatch(/FNBOX_SECRET_KEY/)
    } finally {
      if (previous === undefined) delete process.env.FNBOX_SECRET_KEY
      else process.env.FNBOX_SECRET_KEY = previous
    }
  })
})
