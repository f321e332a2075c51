// URL and URLSearchParams (WHATWG URL standard). URL parsing runs on the host, which sees the
// input exactly as the guest passed it; URLSearchParams' init is converted as WebIDL converts the
// (sequence<sequence<USVString>> or record<USVString, USVString> or USVString) union. Each case
// runs in the guest and in Node.
import { describe, expect, it } from 'vitest'
import { sameAsNode } from '../helpers/same-as-node.js'

describe('URL parsing sees NUL as it is', () => {
  it('refuses NUL in hosts, special or not, and percent-encodes it elsewhere', async () => {
    await sameAsNode(`
      const out = []
      for (const s of ['sc://a b/', 'sc://a\\0b/', 'http://a\\0b/', 'http://a/\\0x', 'non-spec:/\\0/x', '\\0http://h/ \\0', 'http://h/?\\0#\\0']) {
        out.push(URL.canParse(s) ? new URL(s).href : 'refused')
      }
      return out
    `)
  })

  it('setters refuse a host with NUL and keep the URL', async () => {
    await sameAsNode(`
      const out = []
      for (const base of ['http://example.com/', 'sc://x/', 'file:///p']) {
        for (const part of ['hostname', 'host']) {
          const u = new URL(base)
          u[part] = 'te\\0st'
          out.push(u.href)
        }
        const u = new URL(base)
        u.pathname = 'a\\0b'
        u.search = '\\0'
        u.hash = '\\0'
        u.username = '\\0'
        out.push(u.href)
      }
      return out
    `)
  })
})

describe('URLSearchParams: init conversion and iteration', () => {
  it("an object's own @@iterator makes it a sequence of pairs, URLSearchParams included", async () => {
    expect(
      await sameAsNode(`
        const p = new URLSearchParams('a=1')
        p[Symbol.iterator] = function* () { yield ['x', 'y'] }
        return {
          custom: new URLSearchParams(p).toString(),
          copy: new URLSearchParams(new URLSearchParams('a=1&b=%20')).toString(),
          sets: new URLSearchParams([new Set(['k', 'v']), ['\ud800', 'x']]).toString(),
          errors: [[['a']], [1], [['a', 'b', 'c']], { [Symbol()]: 'x' }].map((init) => errorName(() => new URLSearchParams(init))),
          strings: [new URLSearchParams('?a=b').toString(), new URLSearchParams(5).toString()],
        }
      `),
    ).toEqual({
      custom: 'x=y',
      copy: 'a=1&b=+',
      sets: 'k=v&%EF%BF%BD=x',
      errors: ['TypeError', 'TypeError', 'TypeError', 'TypeError'],
      strings: ['a=b', '5='],
    })
  })

  it('a record reads each key once, in [[OwnPropertyKeys]] order', async () => {
    await sameAsNode(`
      const log = []
      const handler = {}
      for (const trap of Object.getOwnPropertyNames(Reflect)) handler[trap] = (...a) => { log.push(trap + ':' + String(a[1])); return Reflect[trap](...a) }
      const p = new URLSearchParams(new Proxy({ b: '2', a: '1', 1: 'x' }, handler))
      return { log, params: p.toString() }
    `)
  })

  it('iterators re-read the list: an entry deleted while iterating is skipped', async () => {
    expect(
      await sameAsNode(`
        const p = new URLSearchParams('a=1&b=2&c=3')
        const seen = []
        for (const [k] of p) { seen.push(k); if (k === 'a') p.delete('b') }
        const it = p.keys()
        const proto = Object.getPrototypeOf(it)
        return { seen, tag: Object.prototype.toString.call(it), next: Object.getOwnPropertyDescriptor(proto, 'next').enumerable, brand: errorName(() => proto.next.call({})) }
      `),
    ).toEqual({ seen: ['a', 'c'], tag: '[object URLSearchParams Iterator]', next: true, brand: 'TypeError' })
  })
})
