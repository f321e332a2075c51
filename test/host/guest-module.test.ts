import { createHash } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createRuntime, type Runtime } from 'fnbox'

let runtime: Runtime

beforeAll(async () => {
  runtime = await createRuntime({ threads: 1 })
  await runtime.deploy('sdk', {
    code: `import { utils } from 'fnbox:host'
      import host from 'fnbox:host'
      export const uuids = (n) => Array.from({ length: n }, () => utils.uuid())
      export const hash = (text, algorithm) => utils.hash(text, algorithm)
      export const hashBytes = (list) => utils.hash(new Uint8Array(list))
      export const sameObject = () => host.utils === utils && Object.isFrozen(utils)
      export function badInput() { try { utils.hash(42) } catch (e) { return e.name + ': ' + e.message } }
      export function badAlgorithm() { try { utils.hash('x', 'crc32') } catch (e) { return e.name + ': ' + e.message } }`,
  })
})
afterAll(async () => {
  await runtime.close()
})

describe("import from 'fnbox:host'", () => {
  it('gives utils.uuid(): RFC 9562 version 7, time-ordered, unique', async () => {
    const before = Date.now()
    const ids = await runtime.call<string[]>('sdk', 'uuids', 200)
    const after = Date.now()
    expect(new Set(ids).size).toBe(200)
    for (const id of ids) {
      expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/)
      const ms = parseInt(id.replace(/-/g, '').slice(0, 12), 16)
      expect(ms).toBeGreaterThanOrEqual(before)
      expect(ms).toBeLessThanOrEqual(after)
    }
    const prefixes = ids.map((id) => id.slice(0, 13))
    expect([...prefixes].sort()).toEqual(prefixes) // the time part never goes back
  })

  it('gives utils.hash(): hex digests equal to node:crypto, of text (UTF-8) and bytes', async () => {
    const text = 'héllo wörld ✓'
    expect(await runtime.call('sdk', 'hash', text)).toBe(createHash('sha256').update(text).digest('hex'))
    for (const algorithm of ['sha384', 'sha512', 'sha1', 'md5']) {
      expect(await runtime.call('sdk', 'hash', text, algorithm)).toBe(createHash(algorithm).update(text).digest('hex'))
    }
    expect(await runtime.call('sdk', 'hashBytes', [0, 1, 255])).toBe(
      createHash('sha256')
        .update(Buffer.from([0, 1, 255]))
        .digest('hex'),
    )
  })

  it('refuses bad input with guest TypeErrors', async () => {
    expect(await runtime.call('sdk', 'badInput')).toBe(
      'TypeError: utils.hash takes a string, an ArrayBuffer or a typed array',
    )
    expect(await runtime.call('sdk', 'badAlgorithm')).toMatch(/^TypeError: unsupported hash algorithm/)
    expect(await runtime.call('sdk', 'sameObject')).toBe(true)
  })

  it('fails the deploy of a function importing anything else, naming the module', async () => {
    await expect(runtime.deploy('npmImport', { code: `import _ from 'lodash'; export const a = 1` })).rejects.toThrow(
      /Cannot find module 'lodash': functions can import only 'fnbox:host'/,
    )
    await expect(
      runtime.deploy('relative', { code: `import x from './x.js'; export const a = 1` }),
    ).rejects.toMatchObject({ code: 'ERR_DEPLOY_FAILED' })
  })
})
