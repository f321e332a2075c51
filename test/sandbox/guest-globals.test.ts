import { afterEach, describe, expect, it } from 'vitest'
import { GuestHarness, GuestRejection, type HarnessOptions } from '../helpers/guest-harness.js'

const open: GuestHarness[] = []

afterEach(() => {
  for (const h of open.splice(0)) h.dispose()
})

async function harness(options?: HarnessOptions): Promise<GuestHarness> {
  const h = await GuestHarness.create(options)
  open.push(h)
  return h
}

/** Runs an async function body in a fresh sandbox and returns its JSON result. */
async function run<T = unknown>(body: string, options?: HarnessOptions): Promise<T> {
  return (await harness(options)).evalAsync<T>(body)
}

/** Runs guest code expected to reject; returns the guest error's name and message. */
async function failure(body: string, options?: HarnessOptions): Promise<{ name: string; message: string }> {
  try {
    await run(body, options)
  } catch (err) {
    if (err instanceof GuestRejection) return { name: err.guest.name, message: err.guest.message }
    throw err
  }
  throw new Error('expected the guest code to reject')
}

const decode = (b: Uint8Array | undefined): string => new TextDecoder().decode(b)

describe('security', () => {
  it('copies only the bytes of a host Buffer into the guest, never the rest of its shared pool', async () => {
    const r = await run<number[]>(
      `const res = await fetch('https://example.com/')
      const { value } = await res.body.getReader().read()
      return [value.byteLength, value.buffer.byteLength, value.byteOffset]`,
      {
        onFetch: () => ({ body: [] }),
        // Buffer.from of a short string is a view into Node's 8 KB pool, beside other host data.
        hooks: { bodyRead: () => Promise.resolve(Buffer.from('chunk')) },
      },
    )
    expect(r).toEqual([5, 5, 0])
  })

  it('hides the natives and has no Node globals', async () => {
    const r = await run(`return {
      native: typeof __fnbox_native, entry: typeof __fnbox_entry, process: typeof process,
      require: typeof require, Buffer: typeof Buffer, global: typeof global, module: typeof module,
      self: self === globalThis,
      enumerable: Object.keys(globalThis).filter((k) => k !== 'onabort'),
    }`)
    expect(r).toEqual({
      native: 'undefined',
      entry: 'undefined',
      process: 'undefined',
      require: 'undefined',
      Buffer: 'undefined',
      global: 'undefined',
      module: 'undefined',
      self: true,
      enumerable: [],
    })
  })

  it('natives reject wrong argument types with guest TypeErrors', async () => {
    const h = await harness({ prelude: false })
    const r = await h.evalAsync(`
      const n = __fnbox_native
      const tryIt = (f) => { try { f(); return 'no error' } catch (e) { return [e instanceof TypeError, e.name, e.message] } }
      const asyncTry = async (f) => { try { await f(); return 'no error' } catch (e) { return [e instanceof TypeError, e.name, e.message] } }
      return {
        log: tryIt(() => n.log('log', 42)),
        level: tryIt(() => n.log('shout', 'x')),
        timer: tryIt(() => n.setTimer('10')),
        encode: tryIt(() => n.utf8Encode({})),
        decode: tryIt(() => n.utf8Decode(new Uint8Array(2), false)),
        decodeStr: tryIt(() => n.utf8Decode('abc', false)),
        respond: tryIt(() => n.respond('{"status":"200"}')),
        respondJson: tryIt(() => n.respond('not json')),
        url: tryIt(() => n.urlParse(1)),
        random: tryIt(() => n.randomBytes(1e9)),
        emit: await asyncTry(() => n.emitChunk('text')),
        fetch: await asyncTry(() => n.fetchStart('{"fetchId":1}')),
      }
    `)
    expect(r).toEqual({
      log: [true, 'TypeError', 'message must be a string'],
      level: [true, 'TypeError', 'level must be a log level'],
      timer: [true, 'TypeError', 'ms must be a number'],
      encode: [true, 'TypeError', 'text must be a string'],
      decode: [true, 'TypeError', 'bytes must be an ArrayBuffer'],
      decodeStr: [true, 'TypeError', 'bytes must be an ArrayBuffer'],
      respond: [true, 'TypeError', 'meta.status must be a number'],
      respondJson: [true, 'TypeError', 'meta must be JSON'],
      url: [true, 'TypeError', 'input must be a string'],
      random: [false, 'RangeError', 'length must be an integer from 0 to 65536'],
      emit: [true, 'TypeError', 'chunk must be an ArrayBuffer'],
      fetch: [true, 'TypeError', 'meta.redirect must be a string'],
    })
    expect(h.responses).toEqual([])
  })

  it('RangeErrors from natives are real RangeErrors', async () => {
    const h = await harness({ prelude: false })
    expect(h.evalSync(`try { __fnbox_native.randomBytes(-1) } catch (e) { e instanceof RangeError }`)).toBe(true)
  })

  it('host failures reach the guest without host messages, paths or stacks', async () => {
    const r = await run(`
      try { await fetch('https://example.com/') } catch (e) {
        return { isTypeError: e instanceof TypeError, name: e.name, message: e.message, stack: String(e.stack), cause: String(e.cause) }
      }
    `)
    expect(r).toMatchObject({ isTypeError: true, name: 'TypeError', message: 'fetch failed' })
    expect(JSON.stringify(r)).not.toMatch(/secret|ECONNREFUSED|network\.js|fnbox:native/)
  })

  it('a throwing hook becomes the native generic error', async () => {
    const r = await run(`try { console.log('x') } catch (e) { return [e.name, e.message] }`, {
      hooks: {
        log: () => {
          throw new Error('/home/app/node_modules/secret.js exploded')
        },
      },
    })
    expect(r).toEqual(['Error', 'internal error'])
  })

  it('refuses to copy more than maxTransferBytes into the guest', async () => {
    const r = await run(
      `try { new TextEncoder().encode('x'.repeat(2000)); return 'copied' } catch (e) { return [e instanceof RangeError, e.message] }`,
      { maxTransferBytes: 1000 },
    )
    expect(r).toEqual([true, 'data of 2000 bytes exceeds the transfer limit (1000)'])
  })

  it('strings with NUL survive the FFI in both directions', async () => {
    expect(
      await run(`
        const text = 'é\\0'.repeat(100) + 'end'
        const bytes = new TextEncoder().encode(text)
        const back = new TextDecoder().decode(bytes)
        const binary = Array.from({ length: 300 }, (_, i) => String.fromCharCode(i % 256)).join('')
        return { same: back === text, length: back.length, nulBytes: bytes.filter((b) => b === 0).length, b64: atob(btoa(binary)) === binary }
      `),
    ).toEqual({ same: true, length: 203, nulBytes: 100, b64: true })
  })

  it('a fetched chunk larger than maxTransferBytes fails the read with RangeError', async () => {
    const r = await run(
      `const res = await fetch('https://big.example/'); try { await res.text() } catch (e) { return [e instanceof RangeError, e.message] }`,
      { maxTransferBytes: 100_000, onFetch: () => ({ body: [new Uint8Array(200_000)] }) },
    )
    expect(r).toEqual([true, 'data of 200000 bytes exceeds the transfer limit (100000)'])
  })

  it('disposing with host calls still pending does not abort the runtime', async () => {
    const h = await GuestHarness.create({ onFetch: () => ({ delayMs: 50 }) })
    h.evalSync(`fetch('https://slow.example/'); fetch('https://slow.example/'); 1`)
    h.pump()
    expect(h.fetches).toHaveLength(2)
    h.dispose() // would abort in JS_FreeRuntime if the deferred promises were leaked
    await new Promise((r) => setTimeout(r, 80)) // the host promises settle after disposal: ignored
  })
})

describe('console', () => {
  async function logs(body: string): Promise<string[]> {
    const h = await harness()
    await h.evalAsync(body)
    return h.logs.map((l) => `${l.level}|${l.message}`)
  }

  it('formats placeholders like util.format', async () => {
    expect(
      await logs(`
        console.log('%s is %d years and %i days', 'Ann', 42.5, 7.9)
        console.log('%f %j %% %c|', '1.5', { a: [1] }, 'color: red')
        console.log('%o', { a: { b: { c: { d: { e: 1 } } } } })
        console.log('%O', { a: { b: { c: { d: 1 } } } })
        console.log('%s', { toString() { return 'custom' } }, 'extra', 5)
        console.log('%s', -0, 10n, Symbol('s'))
        console.log('%d', '0x10', 'left %s')
        console.log('no args %s')
      `),
    ).toEqual([
      'log|Ann is 42.5 years and 7 days',
      'log|1.5 {"a":[1]} % |',
      'log|{ a: { b: { c: { d: { e: 1 } } } } }',
      'log|{ a: { b: { c: [Object] } } }',
      'log|custom extra 5',
      'log|-0 10n Symbol(s)',
      'log|16 left %s',
      'log|no args %s',
    ])
  })

  it('inspects values compactly and survives cycles', async () => {
    expect(
      await logs(`
        const a = { name: 'a', list: [1, 'two', null, undefined] }
        a.self = a
        console.log(a)
        console.info([1, , 3], new Map([['k', { v: 1 }]]), new Set([1]), new Date(0))
        console.warn(new Uint8Array([1, 2]), /x/g, function named() {}, () => {}, class K {})
        console.error(Object.create(null), new (class Point { constructor() { this.x = 1 } })(), 'it\\'s')
        console.debug(['it\\'s'], { 'a-b': 1, [Symbol('s')]: 2 }, new ArrayBuffer(2))
        const e = new TypeError('bad'); console.log({ e })
      `),
    ).toEqual([
      "log|<ref *1> { name: 'a', list: [ 1, 'two', null, undefined ], self: [Circular *1] }",
      "info|[ 1, <1 empty item>, 3 ] Map(1) { 'k' => { v: 1 } } Set(1) { 1 } 1970-01-01T00:00:00.000Z",
      'warn|Uint8Array(2) [ 1, 2 ] /x/g [Function: named] [Function (anonymous)] [class K]',
      "error|[Object: null prototype] {} Point { x: 1 } it's",
      `debug|[ "it's" ] { 'a-b': 1, [Symbol(s)]: 2 } ArrayBuffer { [Uint8Contents]: <00 00>, byteLength: 2 }`,
      'log|{ e: [TypeError: bad] }',
    ])
  })

  it('prints errors with their stack, and platform objects readably', async () => {
    const out = await logs(`
      function thrower() { throw new RangeError('out of range') }
      try { thrower() } catch (e) { console.error(e) }
      console.log(new Headers({ 'X-A': '1' }), new URL('https://a.example/p?q=1'))
    `)
    expect(out[0]).toMatch(/^error\|RangeError: out of range\n {4}at thrower/)
    expect(out[1]).toContain("Headers { 'x-a': '1' }")
    expect(out[1]).toContain("href: 'https://a.example/p?q=1'")
  })

  it('has trace, assert, count, time and group', async () => {
    const out = await logs(`
      console.trace('here')
      console.assert(1 === 2, 'math is %s', 'broken')
      console.assert(true, 'silent')
      console.count(); console.count(); console.count('x')
      console.group('G'); console.log('inside'); console.groupEnd(); console.log('outside')
      console.time('t'); console.timeEnd('t')
      console.table([1]); console.dir({ a: 'b' })
    `)
    expect(out[0]).toMatch(/^log\|Trace: here\n/)
    expect(out.slice(1, 9)).toEqual([
      'error|Assertion failed: math is broken',
      'info|default: 1',
      'info|default: 2',
      'info|x: 1',
      'log|G',
      'log|  inside',
      'log|outside',
      expect.stringMatching(/^info\|t: \d+\.\d{3}ms$/),
    ])
    expect(out.slice(9)).toEqual(['log|[ 1 ]', "log|{ a: 'b' }"])
  })

  it('keeps text after NUL characters', async () => {
    expect(await logs(`console.log('a\\0b')`)).toEqual(['log|a\\u0000b'])
  })
})

describe('timers', () => {
  it('fires in order of due time, with arguments, and clearTimeout cancels', async () => {
    // Armed in the reverse of their due order. A due time counts from the moment setTimeout is
    // called (as in Node and browsers), so each is noted: on a loaded machine the guest may be
    // paused between two calls for longer than their delays differ.
    const r = await run<{ order: string[]; due: Record<string, number> }>(`
      const order = []
      const due = {}
      const arm = (name, ms, fn, ...args) => {
        due[name] = performance.now() + Math.max(1, ms)
        return setTimeout(fn, ms, ...args)
      }
      await new Promise((resolve) => {
        arm('c', 30, (x) => order.push(x), 'c')
        arm('a', 0, (x) => order.push(x), 'a')
        arm('b', 10, () => order.push('b'))
        clearTimeout(arm('never', 5, () => order.push('never')))
        arm('resolve', 50, resolve)
      })
      return { order, due }
    `)
    expect([...r.order].sort()).toEqual(['a', 'b', 'c'])
    // Each fired before every timer due later (2 ms of slack: host timers count whole ms). With
    // no pause between the calls, the usual case, that is a, b, c.
    r.order.forEach((name, i) => {
      for (const later of r.order.slice(i + 1)) {
        expect(r.due[name]!, `${name} fired before ${later}`).toBeLessThan(r.due[later]! + 2)
      }
    })
  })

  it('runs intervals until cleared, even from inside the callback', async () => {
    expect(
      await run(`
        let n = 0
        await new Promise((resolve) => {
          const id = setInterval(() => { if (++n === 3) { clearInterval(id); setTimeout(resolve, 20) } }, 1)
        })
        return n
      `),
    ).toBe(3)
  })

  it('queueMicrotask runs before timers; thrown errors go to console.error', async () => {
    const h = await harness()
    const r = await h.evalAsync(`
      const order = []
      setTimeout(() => order.push('timeout'), 0)
      queueMicrotask(() => order.push('micro'))
      setTimeout(() => { throw new Error('boom in timer') }, 0)
      queueMicrotask(() => { throw new Error('boom in microtask') })
      await new Promise((r) => setTimeout(r, 10))
      return order
    `)
    expect(r).toEqual(['micro', 'timeout'])
    const errors = h.logs.filter((l) => l.level === 'error').map((l) => l.message.split('\n')[0])
    expect(errors).toEqual(['Uncaught Error: boom in microtask', 'Uncaught Error: boom in timer'])
  })

  it('needs a handler (a string handler runs as a script: see sandbox/guest-timers.test.ts)', async () => {
    expect(await failure(`setTimeout()`)).toMatchObject({ name: 'TypeError' })
  })
})

describe('TextEncoder / TextDecoder', () => {
  it('round-trips unicode, lone surrogates and NUL', async () => {
    expect(
      await run(`
        const enc = new TextEncoder()
        return {
          bytes: Array.from(enc.encode('é€😀')),
          lone: Array.from(enc.encode('a\\uD800b')),
          nul: Array.from(enc.encode('a\\0b')),
          back: new TextDecoder().decode(enc.encode('héllo wörld 😀\\0!')),
          encoding: enc.encoding,
          empty: enc.encode().length,
        }
      `),
    ).toEqual({
      bytes: [0xc3, 0xa9, 0xe2, 0x82, 0xac, 0xf0, 0x9f, 0x98, 0x80],
      lone: [0x61, 0xef, 0xbf, 0xbd, 0x62],
      nul: [0x61, 0, 0x62],
      back: 'héllo wörld 😀\0!',
      encoding: 'utf-8',
      empty: 0,
    })
  })

  it('encodeInto stops at whole code points', async () => {
    expect(
      await run(`
        const dest = new Uint8Array(5)
        const r1 = new TextEncoder().encodeInto('a€😀', dest)
        const big = new Uint8Array(10)
        const r2 = new TextEncoder().encodeInto('hi', big)
        return [r1, Array.from(dest), r2]
      `),
    ).toEqual([{ read: 2, written: 4 }, [0x61, 0xe2, 0x82, 0xac, 0], { read: 2, written: 2 }])
  })

  it('keeps a split multi-byte character for the next stream:true call', async () => {
    expect(
      await run(`
        const d = new TextDecoder()
        const bytes = new TextEncoder().encode('a€b😀')
        const parts = [
          d.decode(bytes.subarray(0, 2), { stream: true }),
          d.decode(bytes.subarray(2, 3), { stream: true }),
          d.decode(bytes.subarray(3, 6), { stream: true }),
          d.decode(bytes.subarray(6, 8), { stream: true }),
          d.decode(bytes.subarray(8), { stream: true }),
          d.decode(),
        ]
        const flushed = [d.decode(bytes.subarray(0, 2), { stream: true }), d.decode()]
        const truncated = new TextDecoder().decode(new Uint8Array([0xe2, 0x82]))
        return { parts, flushed, truncated }
      `),
    ).toEqual({ parts: ['a', '', '€b', '', '😀', ''], flushed: ['a', '\ufffd'], truncated: '\ufffd' })
  })

  it('strips one BOM unless ignoreBOM, and replaces invalid bytes', async () => {
    expect(
      await run(`
        const bom = new Uint8Array([0xef, 0xbb, 0xbf, 0x61])
        const d = new TextDecoder()
        return {
          strip: d.decode(bom),
          keep: new TextDecoder('utf-8', { ignoreBOM: true }).decode(bom),
          streamed: [d.decode(bom.subarray(0, 1), { stream: true }), d.decode(bom.subarray(1), { stream: true }), d.decode(bom)],
          invalid: new TextDecoder().decode(new Uint8Array([0x61, 0xff, 0x62, 0xc3])),
          label: new TextDecoder(' UTF8 ').encoding,
          nul: new TextDecoder().decode(new Uint8Array([0x61, 0, 0x62])),
        }
      `),
    ).toEqual({
      strip: 'a',
      keep: '\ufeffa',
      streamed: ['', 'a', '\ufeffa'],
      invalid: 'a\ufffdb\ufffd',
      label: 'utf-8',
      nul: 'a\0b',
    })
  })

  it('a fatal decoder throws TypeError, and unknown labels RangeError', async () => {
    expect(
      await run(`
        const d = new TextDecoder('utf-8', { fatal: true })
        let fatal
        try { d.decode(new Uint8Array([0x61, 0xff])) } catch (e) { fatal = [e instanceof TypeError, e.message] }
        let label
        try { new TextDecoder('latin-2') } catch (e) { label = e instanceof RangeError }
        let input
        try { d.decode('str') } catch (e) { input = e instanceof TypeError }
        return { fatal, label, input, ok: d.decode(new Uint8Array([0x61])), flag: d.fatal }
      `),
    ).toEqual({
      fatal: [true, 'The encoded data was not valid for encoding utf-8'],
      label: true,
      input: true,
      ok: 'a',
      flag: true,
    })
  })
})

describe('atob / btoa', () => {
  it('encodes and decodes binary strings including NUL', async () => {
    expect(
      await run(`
        const all = Array.from({ length: 256 }, (_, i) => String.fromCharCode(i)).join('')
        return {
          hello: btoa('hello'),
          roundTrip: atob(btoa(all)) === all,
          decoded: atob(' aGVs bG8= '),
          unpadded: atob('aGk'),
          nul: btoa('\\0\\0'),
        }
      `),
    ).toEqual({ hello: 'aGVsbG8=', roundTrip: true, decoded: 'hello', unpadded: 'hi', nul: 'AAA=' })
  })

  it('throws InvalidCharacterError DOMExceptions', async () => {
    expect(
      await run(`
        const err = (f) => { try { f() } catch (e) { return [e instanceof DOMException, e.name, e.code] } }
        return [err(() => btoa('€')), err(() => atob('a')), err(() => atob('ab!c')), err(() => atob('QUJD\\0'))]
      `),
    ).toEqual([
      [true, 'InvalidCharacterError', 5],
      [true, 'InvalidCharacterError', 5],
      [true, 'InvalidCharacterError', 5],
      [true, 'InvalidCharacterError', 5],
    ])
  })
})

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

describe('Headers', () => {
  it('is case-insensitive, combines values and sorts iteration', async () => {
    expect(
      await run(`
        const h = new Headers({ 'Content-Type': 'text/plain', 'X-B': '1' })
        h.append('x-b', '2')
        h.append('Accept', '  */*\\t')
        h.set('X-c', 'c')
        return { ct: h.get('content-type'), b: h.get('X-B'), has: h.has('ACCEPT'), accept: h.get('accept'),
          entries: [...h], keys: [...h.keys()], none: h.get('missing') }
      `),
    ).toEqual({
      ct: 'text/plain',
      b: '1, 2',
      has: true,
      accept: '*/*',
      entries: [
        ['accept', '*/*'],
        ['content-type', 'text/plain'],
        ['x-b', '1, 2'],
        ['x-c', 'c'],
      ],
      keys: ['accept', 'content-type', 'x-b', 'x-c'],
      none: null,
    })
  })

  it('keeps set-cookie values apart', async () => {
    expect(
      await run(`
        const h = new Headers([['Set-Cookie', 'a=1'], ['set-cookie', 'b=2; Path=/'], ['x', 'y']])
        return { get: h.get('set-cookie'), list: h.getSetCookie(), entries: [...h], empty: new Headers().getSetCookie() }
      `),
    ).toEqual({
      get: 'a=1, b=2; Path=/',
      list: ['a=1', 'b=2; Path=/'],
      entries: [
        ['set-cookie', 'a=1'],
        ['set-cookie', 'b=2; Path=/'],
        ['x', 'y'],
      ],
      empty: [],
    })
  })

  it('validates names and values', async () => {
    expect(
      await run(`
        const err = (f) => { try { f(); return 'ok' } catch (e) { return e.constructor.name } }
        const h = new Headers()
        return [err(() => h.set('bad name', 'v')), err(() => h.set('x', 'a\\r\\nb')), err(() => h.set('x', '€')),
          err(() => new Headers([['a']])), err(() => new Headers('a=b')), err(() => h.set('ok', 'fine'))]
      `),
    ).toEqual(['TypeError', 'TypeError', 'TypeError', 'TypeError', 'TypeError', 'ok'])
  })
})

describe('Request and Response', () => {
  it('Response reads text, json, arrayBuffer and bytes, once', async () => {
    expect(
      await run(`
        const r = new Response('{"a":1}')
        const before = r.bodyUsed
        const json = await r.json()
        let again
        try { await r.text() } catch (e) { again = e instanceof TypeError }
        const bytes = await new Response(new Uint8Array([1, 2, 3])).bytes()
        const buf = await new Response(new Uint16Array([1]).buffer).arrayBuffer()
        return { before, json, after: r.bodyUsed, again, bytes: Array.from(bytes), bufLen: buf.byteLength, bufIsAb: buf instanceof ArrayBuffer,
          ct: r.headers.get('content-type'), status: r.status, ok: r.ok, type: r.type, statusText: r.statusText,
          bom: await new Response('\\uFEFFx').text(), nullBody: new Response(null).body }
      `),
    ).toEqual({
      before: false,
      json: { a: 1 },
      after: true,
      again: true,
      bytes: [1, 2, 3],
      bufLen: 2,
      bufIsAb: true,
      ct: 'text/plain;charset=UTF-8',
      status: 200,
      ok: true,
      type: 'default',
      statusText: '',
      bom: 'x',
      nullBody: null,
    })
  })

  it('Response.json, Response.redirect and Response.error', async () => {
    expect(
      await run(`
        const j = Response.json({ ok: true }, { status: 201, headers: { 'x-a': '1' } })
        const r = Response.redirect('https://example.com/next', 307)
        const e = Response.error()
        let immutable
        try { r.headers.set('x', 'y') } catch (err) { immutable = err instanceof TypeError }
        const errs = []
        for (const f of [() => Response.redirect('https://e.com', 200), () => new Response('x', { status: 99 }),
          () => new Response('x', { status: 204 }), () => Response.json(undefined)]) {
          try { f() } catch (err) { errs.push(err.constructor.name) }
        }
        return { status: j.status, ct: j.headers.get('content-type'), xa: j.headers.get('x-a'), body: await j.text(),
          redirect: [r.status, r.headers.get('location')], immutable, error: [e.type, e.status, e.ok], errs }
      `),
    ).toEqual({
      status: 201,
      ct: 'application/json',
      xa: '1',
      body: '{"ok":true}',
      redirect: [307, 'https://example.com/next'],
      immutable: true,
      error: ['error', 0, false],
      errs: ['RangeError', 'RangeError', 'TypeError', 'TypeError'],
    })
  })

  it('sets default content types by body kind', async () => {
    expect(
      await run(`
        const ct = (body) => new Response(body).headers.get('content-type')
        return [ct('s'), ct(new URLSearchParams('a=1')), ct(new Uint8Array(1)), ct(new DataView(new ArrayBuffer(1))),
          new Response('s', { headers: { 'content-type': 'text/html' } }).headers.get('content-type'),
          await new Response(new URLSearchParams('a=b c')).text()]
      `),
    ).toEqual([
      'text/plain;charset=UTF-8',
      'application/x-www-form-urlencoded;charset=UTF-8',
      null,
      null,
      'text/html',
      'a=b+c',
    ])
  })

  it('copies buffer bodies at construction', async () => {
    expect(
      await run(`
        const data = new Uint8Array([1, 2])
        const r = new Response(data)
        data[0] = 9
        return Array.from(await r.bytes())
      `),
    ).toEqual([1, 2])
  })

  it('Request constructor, method normalization, clone and bodyUsed', async () => {
    expect(
      await run(`
        const req = new Request('https://api.example/v1?x=1', { method: 'post', headers: { 'X-Key': 'k' }, body: 'payload' })
        const copy = req.clone()
        const text = await req.text()
        const errs = []
        for (const f of [() => new Request('/relative'), () => new Request('https://e.com', { method: 'GET', body: 'x' }),
          () => new Request('https://e.com', { method: 'CONNECT' }), () => new Request('https://u:p@e.com'),
          () => new Request('https://e.com', { method: 'bad method' })]) {
          try { f() } catch (e) { errs.push(e.constructor.name) }
        }
        let cloneUsed
        try { req.clone() } catch (e) { cloneUsed = e instanceof TypeError }
        return { method: req.method, patch: new Request('http://h', { method: 'patch' }).method, url: req.url,
          key: copy.headers.get('x-key'), ct: req.headers.get('content-type'), text, used: [req.bodyUsed, copy.bodyUsed],
          copyText: await copy.text(), errs, cloneUsed, defaults: [req.redirect, req.mode, req.credentials, req.cache, req.signal.aborted] }
      `),
    ).toEqual({
      method: 'POST',
      patch: 'patch',
      url: 'https://api.example/v1?x=1',
      key: 'k',
      ct: 'text/plain;charset=UTF-8',
      text: 'payload',
      used: [true, false],
      copyText: 'payload',
      errs: ['TypeError', 'TypeError', 'TypeError', 'TypeError', 'TypeError'],
      cloneUsed: true,
      defaults: ['follow', 'cors', 'same-origin', 'default', false],
    })
  })

  it('new Request(request) takes over the body and follows its signal', async () => {
    expect(
      await run(`
        const controller = new AbortController()
        const a = new Request('https://e.com', { method: 'PUT', body: 'x', signal: controller.signal })
        const b = new Request(a)
        const c = new Request(b, { method: 'POST', body: 'override' })
        controller.abort('why')
        return { aUsed: a.bodyUsed, bText: await b.text(), cText: await c.text(), method: b.method,
          aborted: [b.signal.aborted, b.signal.reason, c.signal.aborted] }
      `),
    ).toEqual({ aUsed: true, bText: 'x', cText: 'override', method: 'PUT', aborted: [true, 'why', true] })
  })

  it('exposes bodies as ReadableStreams and reads stream bodies', async () => {
    expect(
      await run(`
        const r = new Response('hello')
        const reader = r.body.getReader()
        const first = await reader.read()
        const end = await reader.read()
        const stream = new ReadableStream({ start(c) { c.enqueue(new TextEncoder().encode('a')); c.enqueue(new TextEncoder().encode('b')); c.close() } })
        const fromStream = await new Response(stream).text()
        let bad
        try { await new Response(new ReadableStream({ start(c) { c.enqueue('str'); c.close() } })).text() } catch (e) { bad = e instanceof TypeError }
        const locked = new Response('x'); locked.body.getReader()
        let lockedErr
        try { await locked.text() } catch (e) { lockedErr = e instanceof TypeError }
        async function* gen() { yield new TextEncoder().encode('it'); yield new TextEncoder().encode('er') }
        return { first: new TextDecoder().decode(first.value), done: end.done, used: r.bodyUsed, same: r.body === r.body,
          fromStream, bad, lockedErr, iter: await new Response(gen()).text() }
      `),
    ).toEqual({
      first: 'hello',
      done: true,
      used: true,
      same: true,
      fromStream: 'ab',
      bad: true,
      lockedErr: true,
      iter: 'iter',
    })
  })

  it('clones stream bodies with tee', async () => {
    expect(
      await run(`
        const r = new Response(new ReadableStream({ start(c) { c.enqueue(new Uint8Array([104, 105])); c.close() } }))
        const c = r.clone()
        return [await r.text(), await c.text()]
      `),
    ).toEqual(['hi', 'hi'])
  })
})

describe('streams', () => {
  it('are lazily installed globals that work', async () => {
    const h = await harness()
    const before = h.memoryUsed()
    const lazy = h.evalSync(`typeof Object.getOwnPropertyDescriptor(globalThis, 'ReadableStream').get`)
    const r = await h.evalAsync(`
      const ts = new TransformStream({ transform(chunk, c) { c.enqueue(chunk.toUpperCase()) } })
      const out = []
      const done = ts.readable.pipeTo(new WritableStream({ write(chunk) { out.push(chunk) } }))
      const w = ts.writable.getWriter()
      await w.write('a'); await w.write('b'); await w.close(); await done
      return { out, data: typeof Object.getOwnPropertyDescriptor(globalThis, 'ReadableStream').value,
        strategies: [new CountQueuingStrategy({ highWaterMark: 2 }).highWaterMark, new ByteLengthQueuingStrategy({ highWaterMark: 4 }).size(new Uint8Array(3))] }
    `)
    expect(lazy).toBe('function')
    expect(r).toEqual({ out: ['A', 'B'], data: 'function', strategies: [2, 3] })
    expect(h.memoryUsed()).toBeGreaterThan(before)
  })

  it('cancelling a ReadableStream mid-way calls cancel with the reason', async () => {
    expect(
      await run(`
        let pulled = 0, cancelReason
        const rs = new ReadableStream({
          pull(c) { c.enqueue(++pulled) },
          cancel(reason) { cancelReason = reason },
        }, { highWaterMark: 0 })
        const reader = rs.getReader()
        const a = await reader.read()
        const b = await reader.read()
        await reader.cancel('enough')
        const after = await reader.read()
        return { values: [a.value, b.value], cancelReason, after, pulled }
      `),
    ).toEqual({ values: [1, 2], cancelReason: 'enough', after: { done: true }, pulled: 2 })
  })

  it('supports async iteration, ReadableStream.from and text streams', async () => {
    expect(
      await run(`
        const out = []
        for await (const x of ReadableStream.from([1, 2, 3])) out.push(x)
        const bytes = new TextEncoder().encode('€uro')
        const decoded = []
        const rs = new ReadableStream({ start(c) { c.enqueue(bytes.subarray(0, 1)); c.enqueue(bytes.subarray(1)); c.close() } })
        for await (const s of rs.pipeThrough(new TextDecoderStream())) decoded.push(s)
        const encoded = []
        for await (const b of ReadableStream.from(['a', '😀']).pipeThrough(new TextEncoderStream())) encoded.push(Array.from(b))
        return { out, decoded, encoded }
      `),
    ).toEqual({ out: [1, 2, 3], decoded: ['€uro'], encoded: [[97], [240, 159, 152, 128]] })
  })

  it('an assignment replaces a lazy global without loading its chunk', async () => {
    const h = await harness()
    h.evalSync(`globalThis.ReadableStream = 42`)
    expect(
      h.evalSync(`[ReadableStream, typeof Object.getOwnPropertyDescriptor(globalThis, 'WritableStream').get]`),
    ).toEqual([42, 'function'])
  })
})

describe('AbortController / AbortSignal / events', () => {
  it('aborts with a default AbortError, fires listeners once, throwIfAborted', async () => {
    expect(
      await run(`
        const c = new AbortController()
        const events = []
        c.signal.addEventListener('abort', (e) => events.push('listener:' + e.type))
        c.signal.onabort = () => events.push('onabort')
        c.signal.addEventListener('abort', { handleEvent: () => events.push('object') }, { once: true })
        c.abort()
        c.abort('again')
        let thrown
        try { c.signal.throwIfAborted() } catch (e) { thrown = [e instanceof DOMException, e.name, e.code, e.message] }
        let ctor
        try { new AbortSignal() } catch (e) { ctor = e instanceof TypeError }
        return { events, aborted: c.signal.aborted, thrown, ctor, pre: AbortSignal.abort('r').reason }
      `),
    ).toEqual({
      events: ['listener:abort', 'onabort', 'object'],
      aborted: true,
      thrown: [true, 'AbortError', 20, 'This operation was aborted'],
      ctor: true,
      pre: 'r',
    })
  })

  it('AbortSignal.timeout aborts with TimeoutError', async () => {
    expect(
      await run(`
        const s = AbortSignal.timeout(5)
        await new Promise((r) => s.addEventListener('abort', r))
        return [s.aborted, s.reason.name, s.reason instanceof DOMException]
      `),
    ).toEqual([true, 'TimeoutError', true])
  })

  it('AbortSignal.any follows the first source to abort', async () => {
    expect(
      await run(`
        const a = new AbortController(), b = new AbortController()
        const any = AbortSignal.any([a.signal, b.signal])
        const nested = AbortSignal.any([any])
        const seen = []
        any.onabort = () => seen.push(['any', nested.aborted])
        nested.onabort = () => seen.push(['nested'])
        b.abort('from b')
        a.abort('from a')
        const already = AbortSignal.any([AbortSignal.abort('x'), a.signal])
        return { reason: any.reason, nestedReason: nested.reason, seen, already: [already.aborted, already.reason] }
      `),
    ).toEqual({ reason: 'from b', nestedReason: 'from b', seen: [['any', true], ['nested']], already: [true, 'x'] })
  })

  it('EventTarget honours capture order, once, signal removal, stopImmediatePropagation', async () => {
    expect(
      await run(`
        const t = new EventTarget()
        const log = []
        const off = new AbortController()
        t.addEventListener('x', () => log.push('bubble1'))
        t.addEventListener('x', () => log.push('capture'), true)
        t.addEventListener('x', () => log.push('removed'), { signal: off.signal })
        off.abort()
        t.addEventListener('x', (e) => { log.push('stopper'); e.stopImmediatePropagation() }, { once: true })
        t.addEventListener('x', () => log.push('after stop'))
        const ev = new CustomEvent('x', { detail: { n: 1 }, cancelable: true })
        t.addEventListener('x', (e) => e.preventDefault())
        const r1 = t.dispatchEvent(ev)
        const r2 = t.dispatchEvent(new Event('x', { cancelable: true }))
        return { log, r1, r2, detail: ev.detail, phase: ev.eventPhase, target: ev.target === t }
      `),
    ).toEqual({
      log: ['capture', 'bubble1', 'stopper', 'capture', 'bubble1', 'after stop'],
      r1: true,
      r2: false,
      detail: { n: 1 },
      phase: 0,
      target: true,
    })
  })
})

describe('structuredClone', () => {
  it('clones cycles, shared references, Map, Set, Date, RegExp, buffers and errors', async () => {
    expect(
      await run(`
        const shared = { s: 1 }
        const src = { date: new Date(5), re: /a+/gi, map: new Map([[shared, 'v']]), set: new Set([shared]), shared,
          bytes: new Uint8Array([1, 2, 3]).subarray(1), err: new RangeError('bad', { cause: 'c' }), big: 10n, neg: -0, arr: [1, , 3] }
        src.self = src
        const c = structuredClone(src)
        return {
          notSame: c !== src, cycle: c.self === c, date: c.date instanceof Date && c.date.getTime() === 5, re: [c.re.source, c.re.flags],
          mapShared: c.map.keys().next().value === c.shared, setShared: c.set.has(c.shared), sharedCopied: c.shared !== shared,
          bytes: [Array.from(c.bytes), c.bytes.byteOffset, c.bytes.buffer !== src.bytes.buffer],
          err: [c.err instanceof RangeError, c.err.message, c.err.cause], big: c.big === 10n, neg: Object.is(c.neg, -0), hole: 1 in c.arr,
        }
      `),
    ).toEqual({
      notSame: true,
      cycle: true,
      date: true,
      re: ['a+', 'gi'],
      mapShared: true,
      setShared: true,
      sharedCopied: true,
      bytes: [[2, 3], 1, true],
      err: [true, 'bad', 'c'],
      big: true,
      neg: true,
      hole: false,
    })
  })

  it('throws DataCloneError for functions, symbols and platform objects', async () => {
    expect(
      await run(`
        const err = (v) => { try { structuredClone(v); return 'cloned' } catch (e) { return [e instanceof DOMException, e.name, e.code] } }
        class P { constructor() { this.a = 1 } method() {} }
        return [err(() => {}), err({ f() {} }), err(Symbol('x')), err(new Headers()), err(Promise.resolve()), structuredClone(new P())]
      `),
    ).toEqual([
      [true, 'DataCloneError', 25],
      [true, 'DataCloneError', 25],
      [true, 'DataCloneError', 25],
      [true, 'DataCloneError', 25],
      [true, 'DataCloneError', 25],
      { a: 1 },
    ])
  })
})

describe('crypto, performance, DOMException', () => {
  it('getRandomValues fills integer arrays within the quota; randomUUID is v4', async () => {
    expect(
      await run(`
        const a = crypto.getRandomValues(new Uint32Array(8))
        const err = (f) => { try { f() } catch (e) { return [e.constructor.name, e.name] } }
        return { filled: a.some((x) => x !== 0), same: crypto.getRandomValues(a) === a,
          float: err(() => crypto.getRandomValues(new Float64Array(1))), quota: err(() => crypto.getRandomValues(new Uint8Array(65537))),
          max: crypto.getRandomValues(new Uint8Array(65536)).length, notView: err(() => crypto.getRandomValues([1])),
          uuid: /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/.test(crypto.randomUUID()) }
      `),
    ).toEqual({
      filled: true,
      same: true,
      float: ['DOMException', 'TypeMismatchError'],
      quota: ['DOMException', 'QuotaExceededError'],
      max: 65536,
      notView: ['TypeError', 'TypeError'],
      uuid: true,
    })
  })

  it('performance.now is monotonic from the context start; DOMException has name, message, code', async () => {
    expect(
      await run(`
        const t0 = performance.now()
        await new Promise((r) => setTimeout(r, 5))
        const e = new DOMException('msg', 'NotFoundError')
        const o = new DOMException('m', { name: 'DataCloneError', cause: 1 })
        return { elapsed: performance.now() - t0 >= 4, small: t0 < 10000, origin: typeof performance.timeOrigin,
          e: [e.name, e.message, e.code, e instanceof Error, DOMException.NOT_FOUND_ERR, String(e)], o: [o.name, o.code, o.cause],
          plain: [new DOMException().name, new DOMException().code] }
      `),
    ).toEqual({
      elapsed: true,
      small: true,
      origin: 'number',
      e: ['NotFoundError', 'msg', 8, true, 8, 'NotFoundError: msg'],
      o: ['DataCloneError', 25, 1],
      plain: ['Error', 0],
    })
  })
})

describe('fetch', () => {
  it('sends the request and streams the response body from the host', async () => {
    const h = await harness({
      onFetch: (meta) => ({
        status: 201,
        statusText: 'Created',
        headers: [
          ['content-type', 'application/json'],
          ['set-cookie', 'a=1'],
          ['set-cookie', 'b=2'],
        ],
        body: ['{"echo":', JSON.stringify(meta.method), '}'],
        url: meta.url + '#final',
        redirected: true,
      }),
    })
    const r = await h.evalAsync(`
      const res = await fetch('https://api.example/items', { method: 'POST', headers: { 'X-Token': 't' }, body: JSON.stringify({ a: 1 }) })
      return { status: res.status, statusText: res.statusText, ok: res.ok, type: res.type, url: res.url, redirected: res.redirected,
        cookies: res.headers.getSetCookie(), json: await res.json() }
    `)
    expect(r).toEqual({
      status: 201,
      statusText: 'Created',
      ok: true,
      type: 'basic',
      url: 'https://api.example/items#final',
      redirected: true,
      cookies: ['a=1', 'b=2'],
      json: { echo: 'POST' },
    })
    expect(h.fetches).toHaveLength(1)
    const sent = h.fetches[0]!
    expect(sent.meta).toEqual({
      fetchId: 1,
      method: 'POST',
      url: 'https://api.example/items',
      headers: [
        ['content-type', 'text/plain;charset=UTF-8'],
        ['x-token', 't'],
      ],
      redirect: 'follow',
    })
    expect(decode(sent.body)).toBe('{"a":1}')
  })

  it('reads fetched bodies chunk by chunk through response.body', async () => {
    const h = await harness({ onFetch: () => ({ body: ['one', 'two', 'three'] }) })
    expect(
      await h.evalAsync(`
        const res = await fetch('https://e.example/')
        const parts = []
        for await (const chunk of res.body) parts.push(new TextDecoder().decode(chunk))
        return parts
      `),
    ).toEqual(['one', 'two', 'three'])
  })

  it('cancelling a fetched body tells the host', async () => {
    const h = await harness({ onFetch: () => ({ body: ['one', 'two', 'three'] }) })
    await h.evalAsync(`
      const res = await fetch('https://e.example/')
      const reader = res.body.getReader()
      await reader.read()
      await reader.cancel()
    `)
    expect(h.cancelled).toEqual([1])
  })

  it('aborting rejects with the signal reason and aborts the host fetch', async () => {
    const h = await harness({ onFetch: () => ({ delayMs: 1000, body: ['late'] }) })
    const r = await h.evalAsync(`
      const c = new AbortController()
      const p = fetch('https://slow.example/', { signal: c.signal })
      setTimeout(() => c.abort(), 5)
      try { await p } catch (e) { return [e instanceof DOMException, e.name] }
    `)
    expect(r).toEqual([true, 'AbortError'])
    expect(h.aborted).toEqual([1])
    expect(
      await h.evalAsync(
        `try { await fetch('https://x.example/', { signal: AbortSignal.abort('pre') }) } catch (e) { return e }`,
      ),
    ).toBe('pre')
    expect(h.fetches).toHaveLength(1)
  })

  it('aborting while the body is read errors the body', async () => {
    const h = await harness({ onFetch: () => ({ body: ['a', 'b', 'c'] }) })
    const r = await h.evalAsync(`
      const c = new AbortController()
      const res = await fetch('https://e.example/', { signal: c.signal })
      c.abort(new Error('stop'))
      try { await res.text() } catch (e) { return e.message }
    `)
    expect(r).toBe('stop')
    expect(h.cancelled).toEqual([1])
  })

  it('reads Request bodies fully and rejects invalid input with TypeError', async () => {
    const h = await harness({ onFetch: () => ({ status: 204, body: null }) })
    const r = await h.evalAsync(`
      const stream = new ReadableStream({ start(c) { c.enqueue(new Uint8Array([1, 2])); c.enqueue(new Uint8Array([3])); c.close() } })
      const req = new Request('https://e.example/upload', { method: 'PUT', body: stream, duplex: 'half' })
      const res = await fetch(req)
      let invalid
      try { await fetch('not a url') } catch (e) { invalid = e instanceof TypeError }
      return { status: res.status, body: res.body, used: req.bodyUsed, invalid }
    `)
    expect(r).toEqual({ status: 204, body: null, used: true, invalid: true })
    expect(Array.from(h.fetches[0]!.body!)).toEqual([1, 2, 3])
  })
})

describe('GuestEntry', () => {
  const meta = (method: string, extra: Record<string, unknown> = {}): string =>
    JSON.stringify({
      method,
      url: 'https://fn.example/hello?name=x',
      headers: [['content-type', 'text/plain']],
      requestId: 'req-1',
      functionName: 'hello',
      version: 'v3',
      ...extra,
    })

  it('runs default.fetch with the request and ctx', async () => {
    const h = await harness()
    await h.loadModule(`
      export default {
        prefix: 'got',
        async fetch(request, ctx) {
          const body = await request.text()
          return new Response(this.prefix + ' ' + request.method + ' ' + new URL(request.url).searchParams.get('name') + ' ' + body,
            { status: 202, headers: { 'x-request': ctx.requestId + '/' + ctx.functionName + '/' + ctx.version } })
        },
      }
    `)
    await h.entry('fetch', [meta('POST'), new TextEncoder().encode('payload').buffer])
    expect(h.responses).toHaveLength(1)
    const { meta: head, body } = h.responses[0]!
    expect(head).toEqual({
      status: 202,
      statusText: '',
      headers: [
        ['content-type', 'text/plain;charset=UTF-8'],
        ['x-request', 'req-1/hello/v3'],
      ],
      stream: false,
    })
    expect(decode(body)).toBe('got POST x payload')
  })

  it('dispatches method exports, HEAD falls back to GET without a body, 405 lists Allow', async () => {
    const h = await harness()
    await h.loadModule(`
      export function GET(request) { return new Response('get body', { headers: { 'x-m': request.method } }) }
      export const POST = async () => Response.json({ posted: true })
    `)
    await h.entry('fetch', [meta('GET')])
    await h.entry('fetch', [meta('HEAD')])
    await h.entry('fetch', [meta('DELETE')])
    await h.entry('fetch', [meta('POST')])
    const [get, head, del, post] = h.responses
    expect(decode(get!.body)).toBe('get body')
    expect(head!.meta.headers).toContainEqual(['x-m', 'HEAD'])
    expect(head!.body).toBeUndefined()
    expect(del!.meta).toEqual({
      status: 405,
      statusText: 'Method Not Allowed',
      headers: [['allow', 'GET, HEAD, POST']],
      stream: false,
    })
    expect(decode(post!.body)).toBe('{"posted":true}')
  })

  it('streams a ReadableStream body as several chunks', async () => {
    const h = await harness()
    await h.loadModule(`
      export default {
        fetch() {
          let i = 0
          const stream = new ReadableStream({
            async pull(c) {
              await new Promise((r) => setTimeout(r, 1))
              if (++i > 3) return c.close()
              c.enqueue(i % 2 ? new TextEncoder().encode('chunk' + i) : 'text' + i)
            },
          })
          return new Response(stream, { headers: { 'content-type': 'text/event-stream' } })
        },
      }
    `)
    await h.entry('fetch', [meta('GET')])
    expect(h.responses[0]!.meta).toEqual({
      status: 200,
      statusText: '',
      headers: [['content-type', 'text/event-stream']],
      stream: true,
    })
    expect(h.responses[0]!.body).toBeUndefined()
    expect(h.chunks.map(decode)).toEqual(['chunk1', 'text2', 'chunk3'])
    expect(h.bodyEnds).toBe(1)
  })

  it('proxies a fetched body chunk by chunk', async () => {
    const h = await harness({ onFetch: () => ({ body: ['x', 'y'] }) })
    await h.loadModule(`export default { fetch: () => fetch('https://upstream.example/') }`)
    await h.entry('fetch', [meta('GET')])
    expect(h.responses[0]!.meta.stream).toBe(true)
    expect(h.chunks.map(decode)).toEqual(['x', 'y'])
    expect(h.bodyEnds).toBe(1)
  })

  it('rejects non-Response results, bad chunks and modules without HTTP handlers', async () => {
    const h = await harness()
    await h.loadModule(`
      export function GET() { return { status: 200 } }
      export function POST() { return new Response(new ReadableStream({ start(c) { c.enqueue(42); c.close() } })) }
    `)
    await expect(h.entry('fetch', [meta('GET')])).rejects.toMatchObject({
      guest: { name: 'TypeError', message: 'the HTTP handler must return a Response, got a plain object' },
    })
    await expect(h.entry('fetch', [meta('POST')])).rejects.toMatchObject({
      guest: { name: 'TypeError', message: 'response body chunks must be Uint8Array or string, got a number' },
    })
    const none = await harness()
    await none.loadModule(`export const helper = () => 1`)
    await expect(none.entry('fetch', [meta('GET')])).rejects.toMatchObject({
      guest: {
        name: 'TypeError',
        message: 'function has no HTTP handler (export default { fetch } or GET/POST/... exports)',
      },
    })
  })

  it('waitUntil work finishes before the invocation settles', async () => {
    const h = await harness()
    await h.loadModule(`
      export default {
        fetch(request, ctx) {
          ctx.waitUntil(new Promise((r) => setTimeout(r, 10)).then(() => console.log('background done')))
          ctx.waitUntil(Promise.reject(new Error('background failed')))
          return new Response('now')
        },
      }
    `)
    await h.entry('fetch', [meta('GET')])
    expect(h.logs.map((l) => l.message.split('\n')[0])).toEqual([
      'Uncaught Error: background failed',
      'background done',
    ])
  })

  it('abort() aborts request.signal with TimeoutError or AbortError', async () => {
    const h = await harness()
    await h.loadModule(`
      export default {
        async fetch(request) {
          await new Promise((resolve) => request.signal.addEventListener('abort', resolve))
          return new Response(request.signal.reason.name + ':' + request.signal.reason.message)
        },
      }
    `)
    const first = h.entry('fetch', [meta('GET')])
    await new Promise((r) => setTimeout(r, 5)) // the invocation now waits on its signal
    h.entrySync('abort', ['timeout'])
    await first
    const second = h.entry('fetch', [meta('GET')])
    await new Promise((r) => setTimeout(r, 5))
    h.entrySync('abort', ['client disconnected'])
    await second
    expect(h.responses.map((r) => decode(r.body))).toEqual([
      'TimeoutError:The operation timed out.',
      'AbortError:client disconnected',
    ])
  })

  it('call() passes JSON arguments and returns JSON results', async () => {
    const h = await harness()
    await h.loadModule(`
      export async function add(a, b) { await null; return { sum: a + b } }
      export function nothing() {}
      export const notFn = 1
    `)
    expect(await h.entry('call', ['add', '[2, 3]'])).toBe('{"sum":5}')
    expect(await h.entry('call', ['nothing', '[]'])).toBeUndefined()
    await expect(h.entry('call', ['missing', '[]'])).rejects.toMatchObject({
      guest: {
        name: 'FnboxExportNotFound',
        message: 'the function has no export named missing (its function exports: add, nothing)',
      },
    })
    await expect(h.entry('call', ['notFn', '[]'])).rejects.toMatchObject({
      guest: {
        name: 'FnboxExportNotFound',
        message: 'the function has no export named notFn (its function exports: add, nothing)',
      },
    })
    await expect(h.entry('call', ['add', '{}'])).rejects.toMatchObject({ guest: { name: 'TypeError' } })
  })
})

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
