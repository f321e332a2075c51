// Blob, File (File API) and FormData (XMLHttpRequest standard), with multipart/form-data bodies
// (HTML's encoding algorithm). Cases run in the guest and in Node; where Node 20 departs from the
// standard (File's long long lastModified, native line endings, Blob#bytes, cloning a File), the
// standard's answer is asserted.
import { describe, expect, it } from 'vitest'
import { inGuest, sameAsNode } from '../helpers/same-as-node.js'

describe('Blob', () => {
  it('joins strings (as UTF-8 of USVStrings), buffers, views and blobs from any iterable', async () => {
    expect(
      await sameAsNode(`
        const b = new Blob(['ab', new Uint8Array([99]), new Blob(['d']), new ArrayBuffer(1), new Uint16Array([0x6665])])
        return {
          b: [b.size, await b.text(), Array.from(new Uint8Array(await b.arrayBuffer())), b.type],
          usv: Array.from(new Uint8Array(await new Blob(['\\ud800', 'x']).arrayBuffer())),
          iterable: await new Blob(new Set(['a', 'b'])).text(),
          converted: await new Blob([1, null, undefined, { toString: () => 'o' }]).text(),
          transparent: await new Blob(['a\\r\\nb'], { endings: 'transparent' }).text(),
          errors: [errorName(() => new Blob('abc')), errorName(() => new Blob(5)), errorName(() => new Blob(null)), errorName(() => new Blob([], 5)), errorName(() => new Blob([], { endings: 'bad' }))],
          defaults: [new Blob(undefined).size, new Blob([], null).type],
        }
      `),
    ).toEqual({
      b: [7, 'abcd\u0000ef', [97, 98, 99, 100, 0, 101, 102], ''],
      usv: [239, 191, 189, 120],
      iterable: 'ab',
      converted: '1nullundefinedo',
      transparent: 'a\r\nb',
      errors: ['TypeError', 'TypeError', 'TypeError', 'TypeError', 'TypeError'],
      defaults: [0, ''],
    })
  })

  it('slices with negative and reversed bounds; reads as text (BOM dropped, bad UTF-8 replaced) and as a stream', async () => {
    expect(
      await sameAsNode(`
        const b = new Blob(['0123456789'])
        const chunks = []
        for await (const c of new Blob(['hello', ' world']).stream()) chunks.push(c.constructor.name)
        return {
          slices: [await b.slice(2, 5).text(), await b.slice(-3).text(), await b.slice(-3, -1).text(), await b.slice(5, 2).text(), b.slice().size],
          bom: await new Blob([new Uint8Array([0xef, 0xbb, 0xbf, 0x61])]).text(),
          invalid: await new Blob([new Uint8Array([0xff, 0x61])]).text(),
          stream: [chunks.every((n) => n === 'Uint8Array'), await new Response(new Blob(['x', 'y']).stream()).text()],
          buffer: (await new Blob(['ab']).arrayBuffer()).constructor.name,
          tag: Object.prototype.toString.call(new Blob()),
          brand: [errorName(() => Object.getOwnPropertyDescriptor(Blob.prototype, 'size').get.call({})), await failed(Blob.prototype.text.call({}))],
        }
      `),
    ).toEqual({
      slices: ['234', '789', '78', '', 10],
      bom: 'a',
      invalid: '\ufffda',
      stream: [true, 'xy'],
      buffer: 'ArrayBuffer',
      tag: '[object Blob]',
      brand: ['TypeError', 'TypeError'],
    })
  })

  it('native endings turn CRLF and lone CR into LF; bytes() gives a Uint8Array', async () => {
    // Node 20 leaves a lone CR and has no Blob#bytes (File API, 2024).
    expect(
      await inGuest(`
        const bytes = await new Blob(['hi']).bytes()
        return [await new Blob(['a\\r\\nb\\rc\\nd'], { endings: 'native' }).text(), bytes.constructor.name, Array.from(bytes)]
      `),
    ).toEqual(['a\nb\nc\nd', 'Uint8Array', [104, 105]])
  })
})

describe('File', () => {
  it('has a USVString name and a lastModified; it is a Blob', async () => {
    expect(
      await sameAsNode(`
        const f = new File(['abc'], 'a\\ud800.txt', { type: 'Text/Plain', lastModified: 42 })
        const before = Date.now()
        const now = new File([], 'x')
        return {
          f: [f.name, f.type, f.size, f.lastModified, f instanceof Blob, Object.prototype.toString.call(f), await f.text()],
          now: [now.lastModified >= before, now.lastModified <= Date.now()],
          invalid: new File([], 'y', { lastModified: 'abc' }).lastModified,
          missingName: errorName(() => new File([])),
          keys: Object.keys(File.prototype).sort(),
        }
      `),
    ).toEqual({
      f: ['a\ufffd.txt', 'text/plain', 3, 42, true, '[object File]', 'abc'],
      now: [true, true],
      invalid: 0,
      missingName: 'TypeError',
      keys: ['lastModified', 'name'],
    })
  })

  it('lastModified is a long long (truncated); structuredClone keeps a File a File', async () => {
    // Node 20 keeps 1.9 and clones a File into a Blob.
    expect(
      await inGuest(`
        const c = structuredClone(new File(['c'], 'n', { type: 'a/b', lastModified: 7 }))
        return [new File([], 'z', { lastModified: 1.9 }).lastModified, c.constructor.name, c.name, c.type, c.lastModified, await c.text()]
      `),
    ).toEqual([1, 'File', 'n', 'a/b', 7, 'c'])
  })
})

describe('FormData', () => {
  it('keeps entries in order across names; blobs become Files named blob, or by the given filename', async () => {
    expect(
      await sameAsNode(`
        const fd = new FormData()
        fd.append('a', '1')
        fd.append('b', new Blob(['x'], { type: 'T/T' }))
        fd.append('a', '2')
        fd.append('c', new Blob(['y']), 'name.txt')
        fd.append('d', new File(['z'], 'orig.txt'))
        fd.append('e', new File(['z'], 'orig.txt'), 'renamed')
        const entries = []
        for (const [k, v] of fd) entries.push([k, typeof v === 'string' ? v : [v.constructor.name, v.name, v.type, v.size]])
        return entries
      `),
    ).toEqual([
      ['a', '1'],
      ['b', ['File', 'blob', 't/t', 1]],
      ['a', '2'],
      ['c', ['File', 'name.txt', '', 1]],
      ['d', ['File', 'orig.txt', '', 1]],
      ['e', ['File', 'renamed', '', 1]],
    ])
  })

  it('set replaces the first entry and drops the others; get, getAll, has, delete; live iterators', async () => {
    expect(
      await sameAsNode(`
        const fd = new FormData()
        fd.append('a', '1')
        fd.append('b', '2')
        fd.append('a', '3')
        fd.set('a', '4')
        const keys = [...fd.keys()]
        fd.delete('b')
        const live = new FormData()
        live.append('a', '1')
        live.append('b', '2')
        const seen = []
        for (const [k] of live) { seen.push(k); if (k === 'a') live.append('c', '3') }
        const usv = new FormData()
        usv.append('\\ud800', '\\udc00')
        const it = new FormData().entries()
        return {
          keys,
          entries: [...fd.entries()],
          reads: [fd.get('a'), fd.get('zz'), fd.getAll('a'), fd.has('a'), fd.has('b')],
          seen,
          usv: [...usv][0].map((s) => s.charCodeAt(0)),
          iterator: [Object.prototype.toString.call(it), Object.getPrototypeOf(Object.getPrototypeOf(it)) === Object.getPrototypeOf(Object.getPrototypeOf([][Symbol.iterator]()))],
          errors: [errorName(() => fd.append('a')), errorName(() => fd.append('a', 'b', 'c')), errorName(() => new FormData({})), errorName(() => fd.get())],
        }
      `),
    ).toEqual({
      keys: ['a', 'b'],
      entries: [['a', '4']],
      reads: ['4', null, ['4'], true, false],
      seen: ['a', 'b', 'c'],
      usv: [0xfffd, 0xfffd],
      iterator: ['[object FormData Iterator]', true],
      errors: ['TypeError', 'TypeError', 'TypeError', 'TypeError'],
    })
  })

  it('a FormData body is multipart/form-data as HTML encodes it, and parses back', async () => {
    expect(
      await sameAsNode(`
        const fd = new FormData()
        fd.append('na\\nme"', 'v\\r\\nal\\n')
        fd.append('f', new File(['bytes'], 'fi"le\\n.txt', { type: 'text/x' }))
        const res = new Response(fd)
        const type = res.headers.get('content-type')
        const boundary = type.split('boundary=')[1]
        const body = (await res.text()).split(boundary).join('B')
        const round = new FormData()
        round.append('a', 'x')
        round.append('f', new File(['hey'], 'h.txt', { type: 'text/plain' }))
        const back = await new Response(round).formData()
        const urlencoded = await new Response('a=1&b=%20&a=2', { headers: { 'content-type': 'application/x-www-form-urlencoded;charset=UTF-8' } }).formData()
        return {
          type: type.startsWith('multipart/form-data; boundary='),
          body,
          back: [back.get('a'), back.get('f').name, back.get('f').type, await back.get('f').text()],
          urlencoded: [...urlencoded],
          notAForm: await failed(new Response('x', { headers: { 'content-type': 'text/plain' } }).formData()),
          blobBody: await (async () => { const r = new Response(new Blob(['hi'], { type: 'Text/X' })); return [r.headers.get('content-type'), await r.text()] })(),
        }
      `),
    ).toEqual({
      type: true,
      body: '--B\r\nContent-Disposition: form-data; name="na%0D%0Ame%22"\r\n\r\nv\r\nal\r\n\r\n--B\r\nContent-Disposition: form-data; name="f"; filename="fi%22le%0A.txt"\r\nContent-Type: text/x\r\n\r\nbytes\r\n--B--\r\n',
      back: ['x', 'h.txt', 'text/plain', 'hey'],
      urlencoded: [
        ['a', '1'],
        ['b', ' '],
        ['a', '2'],
      ],
      notAForm: 'TypeError',
      blobBody: ['text/x', 'hi'],
    })
  })
})
