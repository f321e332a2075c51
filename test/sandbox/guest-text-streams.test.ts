// TextEncoderStream and TextDecoderStream (Encoding standard): chunks split anywhere in a
// character, BOM handling, fatal decoding, chunk types, and their GenericTransformStream members.
// Each case runs in the guest and in Node and must give the same answer.
import { describe, expect, it } from 'vitest'
import { inGuest, sameAsNode } from '../helpers/same-as-node.js'

describe('text streams', () => {
  it('TextEncoderStream joins a surrogate pair split over chunks; a lone one becomes U+FFFD', async () => {
    expect(
      await sameAsNode(`
        const s = new TextEncoderStream()
        const w = s.writable.getWriter()
        w.write('h\\ud83d')
        w.write('\\ude00é')
        w.write('\\ud800')
        w.close()
        const out = (await collect(s.readable)).map((u) => Array.from(u))
        const n = new TextEncoderStream()
        const nw = n.writable.getWriter()
        nw.write(12)
        nw.write({ toString: () => 'x' })
        nw.close()
        return { encoding: s.encoding, out, converted: (await collect(n.readable)).map((u) => Array.from(u)) }
      `),
    ).toEqual({
      encoding: 'utf-8',
      out: [[104], [240, 159, 152, 128, 195, 169], [239, 191, 189]],
      converted: [[49, 50], [120]],
    })
  })

  it('TextDecoderStream decodes characters split byte by byte, strips one BOM, and takes any BufferSource', async () => {
    expect(
      await sameAsNode(`
        const s = new TextDecoderStream()
        const w = s.writable.getWriter()
        for (const b of new TextEncoder().encode('€😀')) w.write(new Uint8Array([b]))
        w.write(new Uint8Array([0xe2]))
        w.close()
        const bom = async (options) => {
          const d = new TextDecoderStream('utf-8', options)
          const dw = d.writable.getWriter()
          dw.write(new Uint8Array([0xef, 0xbb]))
          dw.write(new Uint8Array([0xbf, 0x61]))
          dw.close()
          return (await collect(d.readable)).join('')
        }
        const t = new TextDecoderStream()
        const tw = t.writable.getWriter()
        tw.write(new Uint16Array([0x6968]).buffer)
        tw.write(new DataView(new Uint8Array([0x21]).buffer))
        tw.close()
        return { members: [s.encoding, s.fatal, s.ignoreBOM], text: (await collect(s.readable)).join(''), bom: [await bom(), await bom({ ignoreBOM: true })], types: (await collect(t.readable)).join('') }
      `),
    ).toEqual({ members: ['utf-8', false, false], text: '€😀\ufffd', bom: ['a', '\ufeffa'], types: 'hi!' })
  })

  it('a fatal decoder errors the stream on bad bytes; a chunk that is not a BufferSource errors it too', async () => {
    expect(
      await sameAsNode(`
        const f = new TextDecoderStream('utf-8', { fatal: true })
        const fw = f.writable.getWriter()
        fw.write(new Uint8Array([0xff])).catch(() => {})
        fw.close().catch(() => {})
        const s = new TextDecoderStream()
        const rd = s.readable.getReader()
        const read = rd.read()
        const written = s.writable.getWriter().write('str')
        return [f.fatal, await failed(collect(f.readable)), await failed(written), await failed(read)]
      `),
    ).toEqual([true, 'TypeError', 'TypeError', 'TypeError'])
  })

  it('encoding, fatal and ignoreBOM are branded prototype getters; readable and writable too', async () => {
    await sameAsNode(`
      return [
        Object.keys(TextEncoderStream.prototype).sort(),
        Object.keys(TextDecoderStream.prototype).sort(),
        Object.getOwnPropertyNames(new TextDecoderStream()),
        errorName(() => Object.getOwnPropertyDescriptor(TextDecoderStream.prototype, 'encoding').get.call({})),
        errorName(() => Object.getOwnPropertyDescriptor(TextEncoderStream.prototype, 'readable').get.call({})),
      ]
    `)
    // Node 20 gives them no Symbol.toStringTag.
    expect(await inGuest(`return [String(new TextEncoderStream()), String(new TextDecoderStream())]`)).toEqual([
      '[object TextEncoderStream]',
      '[object TextDecoderStream]',
    ])
  })
})
