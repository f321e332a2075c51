/**
 * Every way a guest can exhaust its memory ends as ERR_MEMORY_LIMIT, with its instance discarded:
 * never as the guest exception QuickJS's error (or the `null` it throws when it cannot allocate
 * one) would make of it, nor as ERR_INTERNAL, whatever the guest does with the error.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createRuntime, isFnboxError, type Runtime } from 'fnbox'

let runtime: Runtime

/** A 16 MiB function (the smallest module) with a fresh-instance probe and the bomb `run`. */
function fn(run: string): string {
  return `import { kv, files } from 'fnbox:host'
let calls = 0
export const count = () => ++calls
export default { async fetch() { ${run} } }
export async function run() { ${run} }`
}

const BOMBS: Record<string, string> = {
  'a promise chain': `let p = Promise.resolve(); for (;;) p = p.then(() => {})`,
  'a growing array of arrays': `const a = []; for (;;) a.push(new Array(1e5).fill(1.5))`,
  'strings kept in an array': `const a = []; for (let i = 0; ; i++) a.push('x'.repeat(1 << 16) + i)`,
  'one huge string': `return 'x'.repeat(1e9).length`,
  'concatenating a string in a loop': `let s = ''; for (let i = 0; ; i++) s += String(i).padStart(64, '0') + s.length`,
  'typed arrays': `const a = []; for (;;) a.push(new Uint8Array(1 << 20))`,
  'one ArrayBuffer past the memory': `return new ArrayBuffer(256 * 1024 * 1024).byteLength`,
  'a Map': `const m = new Map(); for (let i = 0; ; i++) m.set(i, { i })`,
  'a Set': `const s = new Set(); for (let i = 0; ; i++) s.add({ i })`,
  closures: `const fns = []; for (let i = 0; ; i++) fns.push(() => i)`,
  'a deep object graph': `let o = {}; for (;;) o = { next: o, pad: [o, o, o] }`,
  'JSON.parse of a big input': `return JSON.parse('[' + '{"a":[1,2,3]},'.repeat(400000) + '{}]').length`,
  'a regexp match with millions of results': `return 'ab'.repeat(3e6).match(/./g).length`,
  'TextEncoder output (a host copy into the sandbox)': `const big = 'x'.repeat(1 << 20); const a = []; for (;;) a.push(new TextEncoder().encode(big))`,
  'a stream queue': `const rs = new ReadableStream({ start(c) { for (;;) c.enqueue(new Uint8Array(1 << 16)) } }); await rs.getReader().read()`,
  'a host call result copied in (files.read)': `const a = []; for (;;) a.push(await files.read('big.bin'))`,
  'a host call result copied in (kv.get)': `const a = []; for (;;) a.push(await kv.get('big'))`,
  'an async continuation': `await new Promise((r) => setTimeout(r, 1)); const a = []; for (;;) a.push(new Array(1e5).fill(1))`,
  'a timer callback': `return new Promise(() => setTimeout(() => { const a = []; for (;;) a.push(new Array(1e5).fill(1)) }, 1))`,
  'a caught error rethrown as another': `try { const a = []; for (;;) a.push(new Array(1e5).fill(1)) } catch { throw new Error('something else') }`,
  'a caught error swallowed': `let a = []; try { for (;;) a.push(new Array(1e5).fill(1)) } catch { a = null } return 'recovered'`,
  'a caught null (the error QuickJS could not allocate)': `try { let p = Promise.resolve(); for (;;) p = p.then(() => {}) } catch (e) { throw new Error('caught ' + e) }`,
}

beforeAll(async () => {
  runtime = await createRuntime({
    threads: 1,
    storage: 'memory',
    limits: { memoryMb: 16, timeoutMs: 20_000 },
    pool: { blankEngines: 0 },
  })
  await runtime.files.write('big.bin', new Uint8Array(1 << 20).fill(7))
  await runtime.kv.set('big', 'y'.repeat(1 << 19))
})
afterAll(async () => {
  await runtime.close()
})

describe('running out of memory', () => {
  it.each(Object.entries(BOMBS))('ends as ERR_MEMORY_LIMIT: %s', async (name, bomb) => {
    const id = `m${Object.keys(BOMBS).indexOf(name)}`
    await runtime.deploy(id, { code: fn(bomb), pool: { max: 1 } })
    expect(await runtime.call(id, 'count')).toBe(1)
    const err = await runtime.call(id, 'run').catch((e: unknown) => e)
    expect(isFnboxError(err) && { code: err.code, message: err.message }).toEqual({
      code: 'ERR_MEMORY_LIMIT',
      message: 'the function ran out of memory (limits.memoryMb)',
    })
    // The instance was discarded: the next call meets a fresh one.
    expect(await runtime.call(id, 'count')).toBe(1)
    const res = await runtime.fetch(new Request(`http://x/${id}`))
    expect(res.status).toBe(500)
    expect(await res.json()).toMatchObject({ error: { code: 'ERR_MEMORY_LIMIT' } })
    await runtime.undeploy(id)
  })

  it.each([
    ['top-level code', `const a = []; for (;;) a.push(new Array(1e5).fill(1))`],
    [
      'top-level code that catches it',
      `try { const a = []; for (;;) a.push(new Array(1e5).fill(1)) } catch { throw new Error('nope') }`,
    ],
    ['top-level await', `await Promise.resolve(); let p = Promise.resolve(); for (;;) p = p.then(() => {})`],
  ])('fails a deploy with ERR_MEMORY_LIMIT when %s exhausts it', async (_name, top) => {
    const err = await runtime.deploy('topLevel', { code: `${top}\nexport const ok = () => 1` }).catch((e: unknown) => e)
    expect(err).toMatchObject({ code: 'ERR_MEMORY_LIMIT' })
    await runtime.deploy('after', { code: 'export const ok = () => 1' })
    expect(await runtime.call('after', 'ok')).toBe(1)
  })

  it('leaves the guest its own errors: a thrown null or a string too long stay guest exceptions', async () => {
    await runtime.deploy('own', {
      code: `export function nul() { throw null }
             export function long() { let s = 'x'; for (;;) s += s }`,
    })
    await expect(runtime.call('own', 'nul')).rejects.toMatchObject({ code: 'ERR_GUEST_EXCEPTION' })
    // QuickJS's strings share their halves, so doubling one reaches its length cap, not the memory's.
    await expect(runtime.call('own', 'long')).rejects.toMatchObject({
      code: 'ERR_GUEST_EXCEPTION',
      details: { guestMessage: 'string too long' },
    })
  })
})
