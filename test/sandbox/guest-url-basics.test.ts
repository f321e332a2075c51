// URL and URLSearchParams in the guest (the URL standard's edge cases are in guest-url.test.ts).
import { describe, expect, it } from 'vitest'
import { guestRunner } from '../helpers/guest-harness.js'

const { run } = guestRunner()

describe('URL', () => {
  it('parses with a base and exposes every component', async () => {
    expect(
      await run(`
        const u = new URL('../x/y?a=1&b=%20#frag', 'https://user:pw@Example.COM:8443/p/q/r')
        return { href: u.href, origin: u.origin, protocol: u.protocol, username: u.username, password: u.password,
          host: u.host, hostname: u.hostname, port: u.port, pathname: u.pathname, search: u.search, hash: u.hash,
          json: JSON.stringify({ u }), str: String(u) }
      `),
    ).toEqual({
      href: 'https://user:pw@example.com:8443/p/x/y?a=1&b=%20#frag',
      origin: 'https://example.com:8443',
      protocol: 'https:',
      username: 'user',
      password: 'pw',
      host: 'example.com:8443',
      hostname: 'example.com',
      port: '8443',
      pathname: '/p/x/y',
      search: '?a=1&b=%20',
      hash: '#frag',
      json: '{"u":"https://user:pw@example.com:8443/p/x/y?a=1&b=%20#frag"}',
      str: 'https://user:pw@example.com:8443/p/x/y?a=1&b=%20#frag',
    })
  })

  it('throws TypeError on invalid input; canParse and parse agree', async () => {
    expect(
      await run(`
        let err
        try { new URL('/relative') } catch (e) { err = e instanceof TypeError }
        return [err, URL.canParse('/relative'), URL.canParse('/relative', 'http://h'), URL.parse('nope'), URL.parse('http://h/a').href]
      `),
    ).toEqual([true, false, true, null, 'http://h/a'])
  })

  it('setters follow the WHATWG rules and keep searchParams in sync', async () => {
    expect(
      await run(`
        const u = new URL('http://example.com/path?x=1#h')
        const params = u.searchParams
        u.pathname = '/a b?'
        u.hash = 'new hash'
        u.port = '8080'
        u.protocol = 'https'
        u.hostname = 'other.example'
        u.username = 'me'
        u.search = '?q=hello world'
        const afterSearch = [params.get('q'), params.has('x')]
        params.append('extra', 'a+b c')
        const afterAppend = u.href
        params.delete('q')
        u.port = '443'
        let hrefError
        try { u.href = 'not a url' } catch (e) { hrefError = e instanceof TypeError }
        u.href = 'http://reset.example/?k=v'
        return { afterSearch, afterAppend, final: u.href, params: [...params], hrefError, same: u.searchParams === params }
      `),
    ).toEqual({
      afterSearch: ['hello world', false],
      afterAppend: 'https://me@other.example:8080/a%20b%3F?q=hello+world&extra=a%2Bb+c#new%20hash',
      final: 'http://reset.example/?k=v',
      params: [['k', 'v']],
      hrefError: true,
      same: true,
    })
  })

  it('handles NUL in input the way the parser would', async () => {
    expect(
      await run(
        `return [new URL('http://a.example/x\\0y').pathname, URL.canParse('http://a\\0b.example/'), new URL('\\0http://h/').href]`,
      ),
    ).toEqual(['/x%00y', false, 'http://h/'])
  })
})

describe('URLSearchParams', () => {
  it('encodes like browsers (space, +, %, unicode, reserved)', async () => {
    expect(
      await run(`
        const p = new URLSearchParams()
        p.append('a b', 'c+d')
        p.append('pct', '100%')
        p.append('uni', 'é😀')
        p.append('safe', "*-._~!'()")
        p.append('lone', '\\uD800')
        return p.toString()
      `),
    ).toBe('a+b=c%2Bd&pct=100%25&uni=%C3%A9%F0%9F%98%80&safe=*-._%7E%21%27%28%29&lone=%EF%BF%BD')
  })

  it('parses strings, records and iterables', async () => {
    expect(
      await run(`
        const s = new URLSearchParams('?a=1&a=2&b=x+y&c=%zz&d=%E2%82%AC&e=%FF&&=v&f')
        return {
          all: s.getAll('a'), b: s.get('b'), c: s.get('c'), d: s.get('d'), e: s.get('e'), empty: s.get(''), f: s.get('f'),
          missing: s.get('nope'), size: s.size,
          record: [...new URLSearchParams({ x: '1', y: 2 })],
          pairs: new URLSearchParams([['k', 'v'], ['k', 'w']]).toString(),
          copy: new URLSearchParams(new URLSearchParams('z=1')).toString(),
        }
      `),
    ).toEqual({
      all: ['1', '2'],
      b: 'x y',
      c: '%zz',
      d: '€',
      e: '\ufffd',
      empty: 'v',
      f: '',
      missing: null,
      size: 8,
      record: [
        ['x', '1'],
        ['y', '2'],
      ],
      pairs: 'k=v&k=w',
      copy: 'z=1',
    })
  })

  it('set, delete with value, has with value, sort, iteration and forEach', async () => {
    expect(
      await run(`
        const p = new URLSearchParams('b=2&a=1&b=3&c=4')
        p.set('b', '9')
        const afterSet = p.toString()
        p.append('a', '0')
        p.delete('a', '1')
        const has = [p.has('a'), p.has('a', '1'), p.has('a', '0')]
        p.sort()
        const seen = []
        p.forEach((v, k) => seen.push(k + v))
        let err
        try { p.append('only one') } catch (e) { err = e instanceof TypeError }
        return { afterSet, has, sorted: p.toString(), keys: [...p.keys()], values: [...p.values()], seen, err }
      `),
    ).toEqual({
      afterSet: 'b=9&a=1&c=4',
      has: [true, false, true],
      sorted: 'a=0&b=9&c=4',
      keys: ['a', 'b', 'c'],
      values: ['0', '9', '4'],
      seen: ['a0', 'b9', 'c4'],
      err: true,
    })
  })
})
