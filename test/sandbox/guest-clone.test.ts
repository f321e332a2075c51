// structuredClone (HTML: StructuredSerializeWithTransfer and StructuredDeserialize): what is
// copied and how, shared references and cycles, errors, and transfer of ArrayBuffers. Cases run
// in the guest and in Node; where Node 20 departs from the standard (DOMException is serializable,
// platform objects like Headers are not), the standard's answer is asserted.
import { describe, expect, it } from 'vitest'
import { inGuest, sameAsNode } from '../helpers/same-as-node.js'

const DESCRIBE = `
const tag = (v) => Object.prototype.toString.call(v)
const cloneError = (f) => { try { f(); return 'ok' } catch (e) { return [e.constructor.name, e.name, e.code] } }
`

describe('structuredClone', () => {
  it('copies primitives, wrappers, dates, regexps, maps, sets and plain objects', async () => {
    await sameAsNode(`${DESCRIBE}
      const re = /a+b/gi
      re.lastIndex = 3
      const k = {}
      const map = structuredClone(new Map([[k, 1], ['s', k]]))
      const [[ck], [, cv]] = [...map]
      class K { constructor() { this.a = 1 } get g() { return 2 } m() {} }
      const k2 = structuredClone(new K())
      const holey = [1, , 3]
      holey.extra = 'x'
      const h = structuredClone(holey)
      let reads = 0
      const getter = structuredClone({ get x() { reads++; return 5 } })
      const hidden = {}
      Object.defineProperty(hidden, 'h', { value: 1, enumerable: false })
      hidden[Symbol('s')] = 2
      return {
        primitives: [structuredClone(1), structuredClone('s'), structuredClone(null), structuredClone(true), String(structuredClone(10n)), structuredClone(undefined) === undefined, Object.is(structuredClone(-0), -0), Number.isNaN(structuredClone(NaN))],
        wrappers: [new Number(3), new String('x'), new Boolean(false), Object(5n)].map((w) => { const c = structuredClone(w); return [tag(c), String(c.valueOf()), c !== w] }),
        date: [tag(structuredClone(new Date(5))), structuredClone(new Date(5)).getTime()],
        regexp: (({ source, flags, lastIndex }) => [source, flags, lastIndex])(structuredClone(re)),
        map: [map.get('s') === ck, ck === cv, ck !== k],
        set: [...structuredClone(new Set([1, 'a', 1]))],
        classInstance: [Object.getPrototypeOf(k2) === Object.prototype, k2.a, k2.g, typeof k2.m],
        array: [h.length, 1 in h, h.extra],
        getter: [getter.x, reads, Object.getOwnPropertyDescriptor(getter, 'x').value],
        ownEnumerableOnly: Object.getOwnPropertyNames(structuredClone(hidden)),
        inherited: structuredClone(Object.assign(Object.create({ inherited: 1 }), { own: 2 })),
      }
    `)
  })

  it('keeps shared references and cycles; views share their copied buffer', async () => {
    expect(
      await sameAsNode(`${DESCRIBE}
        const a = { x: 1 }
        a.self = a
        const c = structuredClone([a, a])
        const buf = new ArrayBuffer(8)
        const u = new Uint8Array(buf, 2, 4)
        u[0] = 7
        const v = structuredClone({ buf, u, d: new DataView(buf) })
        const kinds = [Int8Array, Uint8ClampedArray, Int16Array, Uint16Array, Int32Array, Uint32Array, Float32Array, Float64Array, BigInt64Array, BigUint64Array].map((C) => tag(structuredClone(new C(2))))
        return { cycle: [c[0] === c[1], c[0].self === c[0], c[0] !== a], views: [v.u.buffer === v.buf, v.d.buffer === v.buf, v.u.byteOffset, v.u[0], v.buf !== buf, tag(v.d)], kinds }
      `),
    ).toMatchObject({ cycle: [true, true, true], views: [true, true, 2, 7, true, '[object DataView]'] })
  })

  it('copies errors by name, with message, cause and stack, but not other properties', async () => {
    await sameAsNode(`${DESCRIBE}
      const custom = new Error('m')
      custom.name = 'Custom'
      const extra = new TypeError('m')
      extra.extra = 1
      const withExtra = structuredClone(extra)
      const caused = structuredClone(new Error('m', { cause: { a: 1 } }))
      return {
        kinds: [new Error('m'), new TypeError('t'), new RangeError('r'), new SyntaxError('s'), new ReferenceError('f'), new EvalError('e'), new URIError('u')].map((e) => { const c = structuredClone(e); return [c.constructor.name, c.message, c.name, c instanceof Error] }),
        custom: [structuredClone(custom).name, structuredClone(custom).constructor.name],
        extra: [withExtra.extra, 'stack' in withExtra],
        cause: [caused.cause, Object.prototype.hasOwnProperty.call(caused, 'cause')],
      }
    `)
  })

  it('refuses functions, symbols, weak collections, promises and streams with DataCloneError', async () => {
    await sameAsNode(`${DESCRIBE}
      return [
        cloneError(() => structuredClone(() => {})),
        cloneError(() => structuredClone(Symbol('x'))),
        cloneError(() => structuredClone({ f() {} })),
        cloneError(() => structuredClone(new WeakMap())),
        cloneError(() => structuredClone(Promise.resolve())),
        cloneError(() => structuredClone()).slice(0, 2),
        cloneError(() => structuredClone(1, 5)).slice(0, 2),
        structuredClone(1, null),
      ]
    `)
  })

  it('transfer moves ArrayBuffers to the copy and detaches them, after the whole value serialized', async () => {
    expect(
      await sameAsNode(`${DESCRIBE}
        const buf = new ArrayBuffer(4)
        new Uint8Array(buf)[0] = 9
        const moved = structuredClone({ buf, view: new Uint8Array(buf) }, { transfer: [buf] })
        const kept = new ArrayBuffer(2)
        const failedTransfer = cloneError(() => structuredClone({ kept, f() {} }, { transfer: [kept] }))
        return {
          moved: [moved.buf.byteLength, moved.view.buffer === moved.buf, moved.view[0], buf.byteLength],
          failedTransfer: [failedTransfer[1], kept.byteLength],
          twice: cloneError(() => structuredClone(1, { transfer: [kept, kept] }))[1],
        }
      `),
    ).toEqual({
      moved: [4, true, 9, 0],
      failedTransfer: ['DataCloneError', 2],
      twice: 'DataCloneError',
    })
  })

  it('DOMExceptions and Blobs are serializable; other platform objects and detached buffers are not', async () => {
    // Node 20 cannot clone a DOMException, copies a Headers as a plain object and transfers a
    // detached buffer.
    expect(
      await inGuest(`${DESCRIBE}
        const e = structuredClone(new DOMException('m', 'NotFoundError'))
        const b = structuredClone(new Blob(['x'], { type: 'a/b' }))
        const gone = new ArrayBuffer(1)
        gone.transfer()
        return { e: [tag(e), e.name, e.message, e.code], b: [tag(b), b.type, await b.text()], headers: cloneError(() => structuredClone(new Headers())), stream: cloneError(() => structuredClone(new ReadableStream())), detached: cloneError(() => structuredClone(1, { transfer: [gone] })) }
      `),
    ).toEqual({
      detached: ['DOMException', 'DataCloneError', 25],
      e: ['[object DOMException]', 'NotFoundError', 'm', 8],
      b: ['[object Blob]', 'a/b', 'x'],
      headers: ['DOMException', 'DataCloneError', 25],
      stream: ['DOMException', 'DataCloneError', 25],
    })
  })
})
