// DOMException (WebIDL, "DOMException" and the error names table), from the standard: checked
// against Node where Node follows it, and against the standard's answer where Node 20 does not
// (dictionary options, `cause`, structured cloning).
import { describe, expect, it } from 'vitest'
import { inGuest, sameAsNode } from '../helpers/same-as-node.js'

describe('DOMException', () => {
  it('its prototype inherits from Error.prototype, the constructor from Function.prototype', async () => {
    expect(
      await sameAsNode(`
        const e = new DOMException('m', 'InvalidCharacterError')
        return {
          chain: [Object.getPrototypeOf(DOMException.prototype) === Error.prototype, Object.getPrototypeOf(DOMException) === Function.prototype],
          isError: e instanceof Error,
          tag: Object.prototype.toString.call(e),
          toString: [e.toString(), String(new DOMException())],
          hasOwnToString: DOMException.prototype.hasOwnProperty('toString'),
          stack: typeof e.stack === typeof new Error().stack,
          length: DOMException.length,
          prototype: (({ writable, enumerable, configurable }) => [writable, enumerable, configurable])(Object.getOwnPropertyDescriptor(DOMException, 'prototype')),
          withoutNew: errorName(() => DOMException()),
        }
      `),
    ).toMatchObject({ chain: [true, true], isError: true, tag: '[object DOMException]', withoutNew: 'TypeError' })
  })

  it('name, message and code are brand-checked prototype getters; an instance owns none of them', async () => {
    expect(
      await sameAsNode(`
        const e = new DOMException('m', 'name')
        const described = ['name', 'message', 'code'].map((k) => {
          const d = Object.getOwnPropertyDescriptor(DOMException.prototype, k)
          return [k, typeof d.get, d.set === undefined, d.enumerable, d.configurable, errorName(() => d.get.call({}))]
        })
        return {
          own: ['name', 'message', 'code', 'cause'].filter((k) => e.hasOwnProperty(k)),
          described,
          toStringOnPrototype: errorName(() => DOMException.prototype.toString()),
        }
      `),
    ).toMatchObject({ own: [], toStringOnPrototype: 'TypeError' })
  })

  it('code comes from the error names table by the internal name, not a shadowing property', async () => {
    const names = [
      'IndexSizeError',
      'HierarchyRequestError',
      'WrongDocumentError',
      'InvalidCharacterError',
      'NoModificationAllowedError',
      'NotFoundError',
      'NotSupportedError',
      'InUseAttributeError',
      'InvalidStateError',
      'SyntaxError',
      'InvalidModificationError',
      'NamespaceError',
      'InvalidAccessError',
      'TypeMismatchError',
      'SecurityError',
      'NetworkError',
      'AbortError',
      'URLMismatchError',
      'QuotaExceededError',
      'TimeoutError',
      'InvalidNodeTypeError',
      'DataCloneError',
      'DOMStringSizeError',
      'NoDataAllowedError',
      'ValidationError',
      'EncodingError',
      'NotAllowedError',
      'foo',
    ]
    const out = (await sameAsNode(`
      const codes = ${JSON.stringify(names)}.map((n) => [n, new DOMException('msg', n).code])
      const e = new DOMException('m', 'InvalidCharacterError')
      Object.defineProperty(e, 'name', { value: 'WrongDocumentError' })
      Object.defineProperty(e, 'message', { value: 'new message' })
      const constants = Object.keys(DOMException).map((k) => [k, DOMException[k], DOMException.prototype[k]])
      return { codes, shadowed: [e.code, e.toString()], constants, frozen: Object.getOwnPropertyDescriptor(DOMException, 'ABORT_ERR') }
    `)) as { codes: [string, number][]; constants: [string, number, number][] }
    expect(Object.fromEntries(out.codes)).toMatchObject({
      InUseAttributeError: 10,
      DataCloneError: 25,
      ValidationError: 0,
      foo: 0,
    })
    expect(out).toMatchObject({
      shadowed: [5, 'WrongDocumentError: new message'],
      frozen: { value: 20, writable: false, configurable: false },
    })
    expect(out.constants).toHaveLength(25)
  })

  it('options is a name or a dictionary of cause and name; cause is a prototype getter too', async () => {
    // Node 20 reads {} and null as names ("undefined", "null") and keeps cause as an own property.
    expect(
      await inGuest(`
        const d = Object.getOwnPropertyDescriptor(DOMException.prototype, 'cause')
        const withCause = new DOMException('bar', { name: 'NotSupportedError', cause: 'foo' })
        const read = []
        new DOMException('x', { get name() { read.push('name'); return 'A' }, get cause() { read.push('cause') } })
        return {
          names: [new DOMException().name, new DOMException('x', undefined).name, new DOMException('x', {}).name, new DOMException('x', null).name, new DOMException('x', 5).name],
          messages: [new DOMException().message, new DOMException(null).message, new DOMException(undefined).message],
          cause: [withCause.cause, withCause.name, withCause.code, withCause.hasOwnProperty('cause'), new DOMException('x').cause],
          getter: [typeof d.get, d.set, d.enumerable, d.configurable, errorName(() => d.get.call({}))],
          read,
        }
      `),
    ).toEqual({
      names: ['Error', 'Error', 'Error', 'Error', '5'],
      messages: ['', 'null', ''],
      cause: ['foo', 'NotSupportedError', 9, false, null],
      getter: ['function', null, true, true, 'TypeError'],
      read: ['cause', 'name'],
    })
  })

  it('subclasses and structuredClone keep name, message and code', async () => {
    // Node 20 cannot clone a DOMException (DataCloneError); HTML makes it serializable.
    expect(
      await inGuest(`
        class Sub extends DOMException { constructor() { super('s', 'SyntaxError') } }
        const s = new Sub()
        const c = structuredClone(new DOMException('a', 'DataCloneError'))
        return { sub: [s instanceof Sub, s instanceof DOMException, s.name, s.code], clone: [c instanceof DOMException, c.name, c.message, c.code] }
      `),
    ).toEqual({ sub: [true, true, 'SyntaxError', 12], clone: [true, 'DataCloneError', 'a', 25] })
  })
})
