import { describe, expect, it } from 'vitest'
import { isFnboxError } from '../../src/errors.js'
import { resolveStorageOption } from '../../src/storage/backend.js'

const refused = (value: unknown): { option: unknown; message: string } => {
  try {
    resolveStorageOption(value)
  } catch (err) {
    if (isFnboxError(err, 'ERR_INVALID_OPTION')) return { option: err.details.option, message: err.message }
    throw err
  }
  throw new Error('accepted')
}

describe('options.storage', () => {
  it('takes memory, a PGlite folder, or server Postgres with an optional unlogged kv', () => {
    expect(resolveStorageOption('memory')).toBe('memory')
    expect(resolveStorageOption({ pglite: 'data' })).toEqual({ pglite: 'data' })
    expect(resolveStorageOption({ postgres: 'postgres://db.invalid/app' })).toEqual({
      postgres: 'postgres://db.invalid/app',
    })
    expect(resolveStorageOption({ postgres: 'postgres://db.invalid/app', kv: { unlogged: true } })).toEqual({
      postgres: 'postgres://db.invalid/app',
      kv: { unlogged: true },
    })
    expect(resolveStorageOption({ postgres: 'postgres://db.invalid/app', kv: {} })).toEqual({
      postgres: 'postgres://db.invalid/app',
      kv: { unlogged: false },
    })
  })

  it('refuses an unlogged kv on the embedded database, where every crash of the host would empty it', () => {
    expect(refused({ pglite: 'data', kv: { unlogged: true } })).toMatchObject({ option: 'options.storage.kv' })
    expect(refused({ kv: { unlogged: true } })).toMatchObject({ option: 'options.storage.kv' })
  })

  it('names what is wrong', () => {
    expect(refused({ postgres: 'x', kv: { unlogged: 'yes' } })).toMatchObject({
      option: 'options.storage.kv.unlogged',
      message: 'options.storage.kv.unlogged must be a boolean (got "yes")',
    })
    expect(refused({ postgres: 'x', kv: { logged: false } })).toMatchObject({ option: 'options.storage.kv.logged' })
    expect(refused({ postgres: 42 })).toMatchObject({ option: 'options.storage.postgres' })
    expect(refused({ pglite: '' })).toMatchObject({ option: 'options.storage.pglite' })
    expect(refused('disk')).toMatchObject({ option: 'options.storage' })
    expect(refused(null)).toMatchObject({ option: 'options.storage' })
  })
})
