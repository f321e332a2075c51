// Headers (Fetch standard): HeadersInit as WebIDL converts it (a sequence of pairs through any
// @@iterator, else a record, with the operations in WebIDL's order), and iteration over the
// "sort and combine" list, re-read at every step. Each case runs in the guest and in Node.
import { describe, expect, it } from 'vitest'
import { sameAsNode } from '../helpers/same-as-node.js'

/** A Proxy handler logging every trap as "trap:key", for the conversion-order cases. */
const LOGGING = `
let log = []
const handler = {}
for (const trap of Object.getOwnPropertyNames(Reflect)) {
  handler[trap] = (...args) => { log.push(trap + ':' + (typeof args[1] === 'symbol' ? args[1].toString() : String(args[1]))); return Reflect[trap](...args) }
}
const logged = (f) => { log = []; const result = errorName(f); return [result, log.slice()] }
`

/** What converting a record whose first key is `a` does before anything else. */
const UP_TO_A = ['get:Symbol(Symbol.iterator)', 'ownKeys:undefined', 'getOwnPropertyDescriptor:a', 'get:a']

describe('Headers: HeadersInit conversion', () => {
  it('a record: @@iterator, then ownKeys, then per key getOwnPropertyDescriptor and get', async () => {
    expect(
      await sameAsNode(`${LOGGING}
        return {
          one: logged(() => new Headers(new Proxy({ a: 'b' }, handler))),
          two: logged(() => new Headers(new Proxy({ a: 'b', c: 'd' }, handler))),
          proto: logged(() => new Headers(new Proxy(Object.create({ c: 'd' }, { a: { value: 'b', enumerable: true } }), handler))),
          hidden: logged(() => new Headers(new Proxy(Object.defineProperties({}, { a: { value: 'b' }, c: { value: 'd', enumerable: true } }), handler))),
        }
      `),
    ).toMatchObject({
      two: ['ok', [...UP_TO_A, 'getOwnPropertyDescriptor:c', 'get:c']],
    })
  })

  it('a bad name, value or Symbol key throws where WebIDL converts it, after the reads before it', async () => {
    expect(
      await sameAsNode(`${LOGGING}
        return {
          badName: logged(() => new Headers(new Proxy({ a: 'b', '\\uFFFF': 'd' }, handler))),
          badValue: logged(() => new Headers(new Proxy({ a: '\\uFFFF', c: 'd' }, handler))),
          symbolKey: logged(() => new Headers(new Proxy({ a: 'b', [Symbol.toStringTag]: 'x', c: 'd' }, handler))),
          repeatedKeys: logged(() => new Headers(new Proxy(new Proxy({ a: 'b', c: 'd' }, { ownKeys: () => ['a', 'c', 'a', 'c'] }), handler))),
        }
      `),
    ).toMatchObject({
      badName: ['TypeError', [...UP_TO_A, 'getOwnPropertyDescriptor:\uFFFF']],
      symbolKey: [
        'TypeError',
        [...UP_TO_A, 'getOwnPropertyDescriptor:c', 'get:c', 'getOwnPropertyDescriptor:Symbol(Symbol.toStringTag)'],
      ],
    })
  })

  it("an object's own @@iterator makes it a sequence of pairs, Headers included", async () => {
    expect(
      await sameAsNode(`
        const h = new Headers({ a: '1' })
        h[Symbol.iterator] = function* () { yield ['test', 'test'] }
        const seq = { *[Symbol.iterator]() { yield new Set(['x-set', 'v']); yield [{ toString: () => 'X-A' }, { toString: () => ' v ' }] } }
        const copied = new Headers(new Headers([['set-cookie', 'a'], ['set-cookie', 'b'], ['x', '1'], ['X', '2']]))
        return {
          custom: [new Headers(h).get('test'), new Headers(h).has('a')],
          iterable: [...new Headers(seq)],
          copied: [...copied],
          errors: [null, 1, 'str', [['a', 'b', 'c']], [['a']], [1], { 'a b': 'c' }, [['a', 'x\\ny']]].map((init) => errorName(() => new Headers(init))),
        }
      `),
    ).toEqual({
      custom: ['test', false],
      iterable: [
        ['x-a', 'v'],
        ['x-set', 'v'],
      ],
      copied: [
        ['set-cookie', 'a'],
        ['set-cookie', 'b'],
        ['x', '1, 2'],
      ],
      errors: ['TypeError', 'TypeError', 'TypeError', 'TypeError', 'TypeError', 'TypeError', 'TypeError', 'TypeError'],
    })
  })
})

describe('Headers: iteration', () => {
  it('sorts names and combines values; set-cookie entries stay apart, in order', async () => {
    expect(
      await sameAsNode(`
        const h = new Headers([['xylophone-header', '1'], ['best-header', '2'], ['set-cookie', '3'], ['a-cool-header', '4'], ['set-cookie', '5'], ['a-cool-header', '6'], ['best-header', '7'], ['Set-Cookie2', 'x'], ['set-cookie2', 'y']])
        return { all: [...h], get: h.get('set-cookie'), getSetCookie: h.getSetCookie(), keys: [...h.keys()], values: [...h.values()] }
      `),
    ).toMatchObject({
      all: [
        ['a-cool-header', '4, 6'],
        ['best-header', '2, 7'],
        ['set-cookie', '3'],
        ['set-cookie', '5'],
        ['set-cookie2', 'x, y'],
        ['xylophone-header', '1'],
      ],
      get: '3, 5',
    })
  })

  it('an iterator re-reads the list at each step: removals, appends and set-cookie changes show', async () => {
    expect(
      await sameAsNode(`
        const walk = (init, step) => { const h = new Headers(init); const seen = []; for (const [k, v] of h) { seen.push(k + '=' + v); step(h, k) } return seen }
        const out = {
          removed: walk({ foo: '2', baz: '1', BAR: '0' }, (h) => h.delete('foo')),
          removedBehind: walk({ foo: '2', baz: '1', BAR: '0', quux: '3' }, (h, k) => k === 'baz' && h.delete('bar')),
          appended: walk({ foo: '2', baz: '1', BAR: '0', quux: '3' }, (h, k) => k === 'baz' && h.append('X-yZ', '4')),
          prepended: walk({ foo: '2', baz: '1', BAR: '0', quux: '3' }, (h, k) => k === 'baz' && h.append('abc', '-1')),
        }
        const h = new Headers([['fizz', 'buzz'], ['X-Header', 'test']])
        const it = h[Symbol.iterator]()
        const steps = [it.next().value]
        h.append('Set-Cookie', 'a=b')
        steps.push(it.next().value)
        h.append('Accept', 'text/html')
        steps.push(it.next().value, it.next().value)
        h.append('set-cookie', 'c=d')
        steps.push(it.next().value, it.next())
        const each = []
        const f = new Headers({ a: '1', b: '2' })
        f.forEach((v, k, o) => { each.push(k + v + (o === f)); if (k === 'a') f.append('c', '3') })
        return { ...out, steps, each }
      `),
    ).toMatchObject({
      removed: ['bar=0', 'baz=1'],
      removedBehind: ['bar=0', 'baz=1', 'quux=3'],
      appended: ['bar=0', 'baz=1', 'foo=2', 'quux=3', 'x-yz=4'],
      prepended: ['bar=0', 'baz=1', 'baz=1', 'foo=2', 'quux=3'],
      each: ['a1true', 'b2true', 'c3true'],
    })
  })

  it('its iterators are "Headers Iterator" objects over %IteratorPrototype%', async () => {
    expect(
      await sameAsNode(`
        const h = new Headers({ a: '1' })
        const IteratorPrototype = Object.getPrototypeOf(Object.getPrototypeOf([][Symbol.iterator]()))
        return ['keys', 'values', 'entries'].map((m) => {
          const proto = Object.getPrototypeOf(h[m]())
          const next = Object.getOwnPropertyDescriptor(proto, 'next')
          return [Object.getPrototypeOf(proto) === IteratorPrototype, Object.prototype.toString.call(h[m]()), next.writable, next.enumerable, next.configurable, errorName(() => next.value.call({}))]
        }).concat([[h[Symbol.iterator] === h.entries, ['append', 'get', 'set', 'has', 'delete', 'getSetCookie', 'entries', 'forEach'].every((k) => Object.getOwnPropertyDescriptor(Headers.prototype, k).enumerable)]])
      `),
    ).toEqual([
      [true, '[object Headers Iterator]', true, true, true, 'TypeError'],
      [true, '[object Headers Iterator]', true, true, true, 'TypeError'],
      [true, '[object Headers Iterator]', true, true, true, 'TypeError'],
      [true, true],
    ])
  })
})

describe('Headers: names and values checked once, then remembered', () => {
  it('a name seen before, in any case, and values with and without edge whitespace', async () => {
    expect(
      await sameAsNode(`
        const out = []
        for (let round = 0; round < 3; round++) {
          const h = new Headers()
          h.append('X-Trace', 'a')
          h.append('x-trace', ' b\\t')
          h.append('X-TRACE', '\\tc d ')
          h.set('Content-Type', 'text/plain')
          h.append('empty', '')
          h.append('spaces', '   ')
          h.append('latin1', '\\u00e9t\\u00e9')
          out.push([...h], h.get('X-Trace'), h.has('CONTENT-TYPE'))
          // Invalid ones are still refused after valid ones were remembered.
          out.push(errorName(() => h.append('X-Trace ', 'v')), errorName(() => h.append('x-trace', 'a\\nb')), errorName(() => h.append('x-trace', 'a\\u0100')))
          out.push(errorName(() => h.get('bad name')), errorName(() => h.has({ toString: () => 'X-Trace' })))
        }
        return out
      `),
    ).toContainEqual([
      ['content-type', 'text/plain'],
      ['empty', ''],
      ['latin1', 'été'],
      ['spaces', ''],
      ['x-trace', 'a, b, c d'],
    ])
  })

  it("a body's Content-Type never replaces the one the init gave", async () => {
    expect(
      await sameAsNode(`
        return [
          new Response('x').headers.get('content-type'),
          new Response('x', { headers: { 'Content-Type': 'application/custom' } }).headers.get('content-type'),
          new Request('http://a/', { method: 'POST', body: 'x', headers: [['CONTENT-TYPE', 'a/b']] }).headers.get('content-type'),
          new Request('http://a/', { method: 'POST', body: new URLSearchParams('a=1') }).headers.get('content-type'),
          [...new Response('x', { headers: { 'x-a': '1' } }).headers],
        ]
      `),
    ).toEqual([
      'text/plain;charset=UTF-8',
      'application/custom',
      'a/b',
      'application/x-www-form-urlencoded;charset=UTF-8',
      [
        ['content-type', 'text/plain;charset=UTF-8'],
        ['x-a', '1'],
      ],
    ])
  })
})
