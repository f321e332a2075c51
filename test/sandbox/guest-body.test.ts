// Request and Response bodies (Fetch standard): a body's stream is a byte stream, so a BYOB
// reader works on it; a body consumed without a stream leaves the stream that reading would have
// (locked, disturbed); a null body stays unused; body.blob() takes its type from Content-Type
// ("extract a MIME type"); fetch() answers data: URLs in the guest. Cases run in the guest and
// in Node and must give the same answer.
import { describe, expect, it } from 'vitest'
import { sameAsNode } from '../helpers/same-as-node.js'

describe('bodies are byte streams', () => {
  it('a BYOB reader reads a Response body, a clone of one and a Blob stream', async () => {
    expect(
      await sameAsNode(`
        const res = new Response('hello')
        const a = await res.body.getReader({ mode: 'byob' }).read(new Uint8Array(3))
        const words = await new Response(new Uint8Array([1, 2, 3, 4, 5])).body.getReader({ mode: 'byob' }).read(new Uint16Array(2))
        const original = new Response('xyz')
        const clone = original.clone()
        const c = await clone.body.getReader({ mode: 'byob' }).read(new Uint8Array(10))
        const blob = await new Blob(['hello']).stream().getReader({ mode: 'byob' }).read(new Uint8Array(2))
        return {
          a: [Array.from(a.value), a.done],
          words: [Array.from(words.value), words.value.constructor.name],
          clone: [Array.from(c.value), await original.text()],
          blob: Array.from(blob.value),
          tag: Object.prototype.toString.call(res.body),
        }
      `),
    ).toEqual({
      a: [[104, 101, 108], false],
      words: [[513, 1027], 'Uint16Array'],
      clone: [[120, 121, 122], 'xyz'],
      blob: [104, 101],
      tag: '[object ReadableStream]',
    })
  })

  it('a stream body: chunks must be Uint8Arrays; a byte stream body is read whole', async () => {
    expect(
      await sameAsNode(`
        const bytes = new ReadableStream({ type: 'bytes', start(c) { c.enqueue(new Uint8Array([1, 2])); c.close() } })
        const [x, y] = new Response('xyz').clone().body.tee()
        return {
          text: await new Response(new ReadableStream({ start(c) { c.enqueue(new Uint8Array([104, 105])); c.close() } })).text(),
          notBytes: await failed(new Response(new ReadableStream({ start(c) { c.enqueue('str'); c.close() } })).text()),
          byteStream: Array.from(new Uint8Array(await new Response(bytes).arrayBuffer())),
          teed: [await new Response(x).text(), await new Response(y).text()],
        }
      `),
    ).toEqual({ text: 'hi', notBytes: 'TypeError', byteStream: [1, 2], teed: ['xyz', 'xyz'] })
  })
})

describe('consuming a body', () => {
  it('after text() or arrayBuffer(), the body is a locked stream: getReader() throws', async () => {
    expect(
      await sameAsNode(`
        const res = new Response('abc')
        await res.text()
        const res2 = new Response('abc')
        await res2.arrayBuffer()
        const req = new Request('http://x/', { method: 'POST', body: 'x' })
        await req.text()
        return {
          response: [res.bodyUsed, errorName(() => res.body.getReader()), res.body.locked],
          byob: errorName(() => res2.body.getReader({ mode: 'byob' })),
          request: [req.bodyUsed, errorName(() => req.body.getReader())],
        }
      `),
    ).toEqual({ response: [true, 'TypeError', true], byob: 'TypeError', request: [true, 'TypeError'] })
  })

  it('a null body reads as empty and stays unused; an empty body counts as used once read', async () => {
    expect(
      await sameAsNode(`
        const none = new Response()
        const empty = new Response('')
        await empty.text()
        const twice = new Response(null)
        const form = new Response(undefined, { headers: [['Content-Type', 'application/x-www-form-urlencoded;charset=UTF-8']] })
        const multipart = new Response(undefined, { headers: [['Content-Type', 'multipart/form-data; boundary="boundary"']] })
        return {
          none: [await none.text(), none.bodyUsed, none.body],
          empty: [empty.bodyUsed, empty.body === null],
          twice: [await twice.text(), await twice.arrayBuffer().then((b) => b.byteLength), (await twice.blob()).size, twice.bodyUsed],
          form: [[...(await form.formData())].length, form.bodyUsed],
          multipart: [await failed(multipart.formData()), multipart.bodyUsed],
        }
      `),
    ).toEqual({
      none: ['', false, null],
      empty: [true, false],
      twice: ['', 0, 0, false],
      form: [0, false],
      multipart: ['TypeError', false],
    })
  })

  it('a partly read or cancelled body is unusable', async () => {
    expect(
      await sameAsNode(`
        const partly = new Response('abc')
        const reader = partly.body.getReader()
        await reader.read()
        reader.releaseLock()
        const cancelled = new Response('abc')
        cancelled.body.cancel()
        return [partly.bodyUsed, await failed(partly.text()), cancelled.bodyUsed, await failed(cancelled.text())]
      `),
    ).toEqual([true, 'TypeError', true, 'TypeError'])
  })
})

describe('MIME types', () => {
  it("body.blob()'s type is the Content-Type, parsed and serialized (lower-cased), or '' when it does not parse", async () => {
    expect(
      await sameAsNode(`
        const type = async (headers) => (await new Response('x', { headers }).blob()).type
        return [
          await type({ 'Content-Type': 'Text/Plain;Charset=UTF-8' }),
          await type({ 'Content-Type': 'Text/Plain' }),
          await type({ 'Content-Type': 'text/html; charset="utf-8" ;x=y' }),
          await type({ 'Content-Type': 'bad' }),
          await type([['Content-Type', 'text/plain;charset=gbk'], ['Content-Type', 'text/plain']]),
          await type([['Content-Type', 'text/html'], ['Content-Type', '*/*']]),
          (await new Response('x').blob()).type,
          (await new Request('about:blank', { headers: { 'Content-Type': 'test/test' } }).blob()).type,
        ]
      `),
    ).toEqual([
      'text/plain;charset=utf-8',
      'text/plain',
      'text/html;charset=utf-8;x=y',
      '',
      'text/plain;charset=gbk',
      'text/html',
      'text/plain;charset=utf-8',
      'test/test',
    ])
  })

  it('a Blob type is lower-cased, or empty when it has a character outside U+0020-U+007E', async () => {
    expect(
      await sameAsNode(`
        return [new Blob([], { type: 'A' }).type, new Blob([], { type: 'text/PLAIN' }).type, new Blob([], { type: 'a\\u00e9' }).type, new Blob([], { type: 'a\\x19' }).type, new File([], 'f', { type: 'X/Y' }).type, new Blob(['x']).slice(0, 1, 'A/B').type]
      `),
    ).toEqual(['a', 'text/plain', '', '', 'x/y', 'a/b'])
  })
})

describe('fetch of data: URLs', () => {
  it('answers in the guest with the decoded bytes and the MIME type of the URL', async () => {
    expect(
      await sameAsNode(`
        const res = await fetch('data:text/plain;base64,aGVsbG8=')
        const plain = await fetch('data:,Hello%2C%20World!')
        const json = await fetch('data:application/json;charset=utf-8,%7B%22a%22%3A1%7D')
        const bytes = await fetch('data:;base64,AAEC')
        const post = await fetch('data:text/html,<b>x</b>#frag', { method: 'POST' })
        const odd = await fetch('data:TEXT/html;Charset="utf-8";x=y;base64 ,aGk=')
        return {
          res: [res.status, res.statusText, res.ok, res.headers.get('content-type'), await res.text(), res.url, res.type, res.redirected],
          plain: [plain.headers.get('content-type'), await plain.text()],
          json: [json.headers.get('content-type'), await json.json()],
          bytes: [bytes.headers.get('content-type'), Array.from(new Uint8Array(await bytes.arrayBuffer()))],
          post: [post.status, post.url, await post.text()],
          odd: [odd.headers.get('content-type'), await odd.text()],
          invalid: [await failed(fetch('data:text/plain;base64,%%%')), await failed(fetch('data:nocomma'))],
        }
      `),
    ).toMatchObject({
      res: [200, 'OK', true, 'text/plain', 'hello', 'data:text/plain;base64,aGVsbG8=', 'basic', false],
      plain: ['text/plain;charset=US-ASCII', 'Hello, World!'],
      json: ['application/json;charset=utf-8', { a: 1 }],
      bytes: ['text/plain;charset=US-ASCII', [0, 1, 2]],
      post: [200, 'data:text/html,<b>x</b>', '<b>x</b>'],
      invalid: ['TypeError', 'TypeError'],
    })
  })
})
