// TextEncoder / TextDecoder and atob / btoa in the guest (the Encoding Standard's tables and
// streaming are in guest-encoding.test.ts).
import { describe, expect, it } from 'vitest'
import { guestRunner } from '../helpers/guest-harness.js'

const { run } = guestRunner()

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
