// The guest's globals, on a sandbox driven directly (helpers/guest-harness.ts): what it must not
// expose, console, timers, events and abort, structuredClone, crypto, performance and
// DOMException. Text and base64: guest-text-basics; URL: guest-url-basics; Headers, Request,
// Response and fetch: guest-fetch-api; the entry points: guest-entry; lazy chunks: guest-lazy-prelude.
import { describe, expect, it } from 'vitest'
import { GuestHarness, guestRunner } from '../helpers/guest-harness.js'

const { harness, run, failure } = guestRunner()

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
