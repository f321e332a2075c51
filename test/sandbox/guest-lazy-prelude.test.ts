// The lazy prelude: a global's code loads (as a chunk) on its first read, and until then costs
// little; what a guest does first (assign, delete, patch builtins) wins, and no chunk leaks a native.
import { describe, expect, it } from 'vitest'
import { guestRunner } from '../helpers/guest-harness.js'

const { harness, run } = guestRunner()
const decode = (b: Uint8Array | undefined): string => new TextDecoder().decode(b)

describe('lazy prelude', () => {
  // The globals that load a chunk on first read (self, performance and navigator are made eagerly).
  const LAZY = [
    'console',
    'DOMException',
    'Event',
    'EventTarget',
    'CustomEvent',
    'ErrorEvent',
    'PromiseRejectionEvent',
    'AbortController',
    'AbortSignal',
    'setTimeout',
    'clearTimeout',
    'setInterval',
    'clearInterval',
    'queueMicrotask',
    'reportError',
    'TextEncoder',
    'TextDecoder',
    'atob',
    'btoa',
    'URL',
    'URLSearchParams',
    'Headers',
    'Request',
    'Response',
    'fetch',
    'crypto',
    'Crypto',
    'structuredClone',
    'ReadableStream',
    'ReadableStreamDefaultReader',
    'ReadableStreamBYOBReader',
    'ReadableStreamBYOBRequest',
    'ReadableByteStreamController',
    'ReadableStreamDefaultController',
    'TransformStream',
    'TransformStreamDefaultController',
    'WritableStream',
    'WritableStreamDefaultWriter',
    'WritableStreamDefaultController',
    'ByteLengthQueuingStrategy',
    'CountQueuingStrategy',
    'TextEncoderStream',
    'TextDecoderStream',
    'SubtleCrypto',
    'CryptoKey',
    'Blob',
    'File',
    'FormData',
    'URLPattern',
    'CompressionStream',
    'DecompressionStream',
    'Intl',
  ]
  const stillLazy = `LAZY.filter((k) => typeof Object.getOwnPropertyDescriptor(globalThis, k).get === 'function')`

  it('globals are accessors until first read, then plain data properties', async () => {
    const r = await run(`
      const LAZY = ${JSON.stringify(LAZY)}
      const before = ${stillLazy}
      const keys = Object.keys(globalThis)
      const types = LAZY.map((k) => typeof globalThis[k])
      const after = ${stillLazy}
      const descriptors = LAZY.map((k) => Object.getOwnPropertyDescriptor(globalThis, k))
      return {
        before: before.length, keys, after,
        types: [...new Set(types)].sort(),
        plain: descriptors.every((d) => 'value' in d && d.writable && d.configurable && !d.enumerable),
        names: [setTimeout.name, fetch.name, atob.name, structuredClone.name, URL.name, ReadableStream.name, TextDecoderStream.name],
        eager: ['self', 'performance', 'navigator'].map((k) => 'value' in Object.getOwnPropertyDescriptor(globalThis, k)),
        underscored: Object.getOwnPropertyNames(globalThis).filter((k) => k.startsWith('__')),
      }
    `)
    expect(r).toEqual({
      before: LAZY.length,
      keys: [],
      after: [],
      types: ['function', 'object'],
      plain: true,
      names: ['setTimeout', 'fetch', 'atob', 'structuredClone', 'URL', 'ReadableStream', 'TextDecoderStream'],
      eager: [true, true, true],
      underscored: [],
    })
  })

  it('an assignment or delete before the first read wins over the chunk, which keeps its own classes', async () => {
    expect(
      await run(`
        globalThis.URL = 1
        delete globalThis.URLSearchParams
        globalThis.Headers = function Fake() {}
        const request = new Request('https://a.example/p?q=1', { headers: { 'x-a': '1' } }) // loads url and fetch
        const response = new Response('hi', { headers: { 'x-b': '2' } })
        return {
          url: URL, searchParams: 'URLSearchParams' in globalThis, headers: Headers.name,
          request: [request.url, request.headers.get('x-a')], response: [await response.text(), response.headers.get('x-b')],
        }
      `),
    ).toEqual({
      url: 1,
      searchParams: false,
      headers: 'Fake',
      request: ['https://a.example/p?q=1', '1'],
      response: ['hi', '2'],
    })
  })

  it('a JSON call loads no chunk; an HTTP call loads only what it needs', async () => {
    const h = await harness()
    await h.loadModule(`
      export function echo(x) { return x }
      export default { fetch: () => new Response('ok') }
    `)
    const lazy = `(() => { const LAZY = ${JSON.stringify(LAZY)}; return ${stillLazy} })()`
    const memory = h.memoryUsed()
    expect(await h.entry('call', ['echo', '[{"a":[1,2]}]'])).toBe('{"a":[1,2]}')
    expect(h.evalSync(lazy)).toEqual(LAZY)
    expect(h.memoryUsed() - memory).toBeLessThan(2000)
    await h.entry('fetch', [JSON.stringify({ method: 'GET', url: 'https://fn.example/', headers: [] })])
    expect(decode(h.responses[0]!.body)).toBe('ok')
    // Headers, Request, Response and fetch share the "fetch" chunk; the signal, the console and
    // the streams stay unloaded.
    expect(h.evalSync(lazy)).toEqual(LAZY.filter((k) => !['Headers', 'Request', 'Response', 'fetch'].includes(k)))
  })

  it('costs little memory per context before a global is used', async () => {
    const bare = await harness({ prelude: false })
    const h = await harness()
    expect(h.memoryUsed() - bare.memoryUsed()).toBeLessThan(60_000)
  })

  it('builtins patched by guest code before a chunk loads see neither the natives nor the registry', async () => {
    const r = await run(`
      const seen = []
      const apply = Reflect.apply
      const push = Array.prototype.push
      let busy = false
      const record = (...values) => {
        if (busy) return
        busy = true
        for (let i = 0; i < values.length; i++) {
          const v = values[i]
          if ((typeof v === 'object' && v !== null) || typeof v === 'function') apply(push, seen, [v])
        }
        busy = false
      }
      const wrap = (obj, key) => {
        const original = obj[key]
        obj[key] = function (...args) { apply(record, null, [this, ...args]); return apply(original, this, args) }
      }
      for (const key of ['defineProperty', 'defineProperties', 'keys', 'freeze', 'create', 'getOwnPropertyDescriptor', 'getPrototypeOf', 'assign']) wrap(Object, key)
      wrap(Set.prototype, 'add'); wrap(Set.prototype, 'has'); wrap(Map.prototype, 'set'); wrap(Map.prototype, 'get')
      wrap(Array.prototype, 'push'); wrap(Array.prototype, 'forEach'); wrap(Function.prototype, 'call'); wrap(Function.prototype, 'apply')
      for (const key of ['native', 'load', 'peek', 'provide', 'chunk', 'shared', 'internal', 'markPlatform', 'then']) {
        Object.defineProperty(Object.prototype, key, { get() { record(this) }, set(v) { record(this, v) }, configurable: true })
      }
      try {
        for (const k of Object.getOwnPropertyNames(globalThis)) globalThis[k]
        console.log(new URL('https://a.example/?q=1').searchParams.get('q'))
        new Response(new ReadableStream({ start(c) { c.enqueue(new TextEncoder().encode('x')); c.close() } }))
        structuredClone({ a: new Map([[1, 2]]) })
        new AbortController().abort()
        setTimeout(() => {}, 0)
        crypto.randomUUID()
        try { await fetch('https://example.com/') } catch {}
      } finally {
        for (const key of ['native', 'load', 'peek', 'provide', 'chunk', 'shared', 'internal', 'markPlatform', 'then']) delete Object.prototype[key]
      }
      const has = (o, k) => Reflect.getOwnPropertyDescriptor(o, k) !== undefined
      const leaks = seen.filter((o) => has(o, 'provide') || has(o, 'load') || has(o, 'peek') || has(o, 'randomBytes') || has(o, 'chunk'))
      return { recorded: seen.length > 100, leaks: leaks.length }
    `)
    expect(r).toEqual({ recorded: true, leaks: 0 })
  })

  it('the chunk native refuses unknown chunks', async () => {
    const h = await harness({ prelude: false })
    expect(
      h.evalSync(`
        const tryIt = (f) => { try { f(); return 'no error' } catch (e) { return [e instanceof TypeError, e.message] } }
        [tryIt(() => __fnbox_native.chunk(1)), tryIt(() => __fnbox_native.chunk('nope')), tryIt(() => __fnbox_native.chunk('__proto__'))]
      `),
    ).toEqual([
      [true, 'name must be a string'],
      [true, 'unknown prelude chunk'],
      [true, 'unknown prelude chunk'],
    ])
  })
})
