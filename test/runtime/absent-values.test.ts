/**
 * Host and guest agree on absent values: every read that can miss answers `undefined`, on the
 * host (`runtime.kv`, `runtime.files`, `runtime.jobs`, `runtime.vector`) as in the guest
 * (`kv`, `files`, `secrets` of `fnbox:host`, and `kv` inside `tx`). Not `null`: a kv key can
 * hold `null`, and `undefined` is the one value JSON never stores, so it cannot be confused.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createRuntime, type Runtime } from 'fnbox'

let runtime: Runtime
beforeAll(async () => {
  runtime = await createRuntime({ threads: 1, storage: 'memory', files: 'memory', secrets: { key: 'ab'.repeat(32) } })
  await runtime.deploy('reader', {
    secrets: ['NEVER_SET'],
    code: `
      import { files, kv, secrets, tx } from 'fnbox:host'
      const kind = (v) => (v === undefined ? 'undefined' : v === null ? 'null' : typeof v)
      export async function absent() {
        return {
          kvGet: kind(await kv.get('missing')),
          filesRead: kind(await files.read('missing.txt')),
          filesStat: kind(await files.stat('missing.txt')),
          secretsGet: kind(secrets.get('NEVER_SET')),
          txKvGet: await tx(async (t) => kind(await t.kv.get('missing'))),
        }
      }
      export async function storedNull() {
        await kv.set('nothing', null)
        return kind(await kv.get('nothing'))
      }
    `,
  })
})
afterAll(() => runtime.close())

describe('a read of something absent', () => {
  it('is undefined in the guest: kv.get, files.read, files.stat, secrets.get, kv.get in tx', async () => {
    expect(await runtime.call('reader', 'absent')).toEqual({
      kvGet: 'undefined',
      filesRead: 'undefined',
      filesStat: 'undefined',
      secretsGet: 'undefined',
      txKvGet: 'undefined',
    })
  })

  it('is undefined on the host: kv.get, files.read, files.stat, jobs.get, vector.describeIndex', async () => {
    expect(await runtime.kv.get('missing')).toBeUndefined()
    expect(await runtime.files.read('missing.txt')).toBeUndefined()
    expect(await runtime.files.stat('missing.txt')).toBeUndefined()
    expect(await runtime.jobs.get('00000000-0000-7000-8000-000000000000')).toBeUndefined()
    expect(await runtime.vector.describeIndex('missing')).toBeUndefined()
  })

  it('differs from a stored null, in the guest and on the host', async () => {
    expect(await runtime.call('reader', 'storedNull')).toBe('null')
    expect(await runtime.kv.get('nothing')).toBeNull()
  })
})
