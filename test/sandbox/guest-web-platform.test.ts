// The web platform of the guest beyond the basics of guest-globals.test.ts and its
// siblings (guest-text-basics, guest-url-basics, guest-fetch-api): what real libraries
// (the OpenAI SDK, the AI SDK, zod) lean on, each with the edge cases they hit.
import { createHash, createHmac } from 'node:crypto'
import { deflateRawSync, deflateSync, gunzipSync, gzipSync } from 'node:zlib'
import { describe, expect, it } from 'vitest'
import { guestRunner } from '../helpers/guest-harness.js'

const { run, failure } = guestRunner()

describe('streams', () => {
  it('pipeThrough chains transforms and pipeTo writes every chunk, then closes the sink', async () => {
    expect(
      await run(`
        const written = []
        let closed = false
        const upper = new TransformStream({ transform(chunk, c) { c.enqueue(chunk.toUpperCase()) } })
        const exclaim = new TransformStream({ transform(chunk, c) { c.enqueue(chunk + '!') }, flush(c) { c.enqueue('end') } })
        await ReadableStream.from(['a', 'b']).pipeThrough(upper).pipeThrough(exclaim)
          .pipeTo(new WritableStream({ write(chunk) { written.push(chunk) }, close() { closed = true } }))
        return { written, closed }
      `),
    ).toEqual({ written: ['A!', 'B!', 'end'], closed: true })
  })

  it('pipeTo stops on its signal and cancels the source with the reason', async () => {
    expect(
      await run(`
        let cancelled
        const controller = new AbortController()
        let n = 0
        const source = new ReadableStream({ pull(c) { c.enqueue(++n); if (n === 3) controller.abort('stop') }, cancel(r) { cancelled = r } })
        const got = []
        const err = await source.pipeTo(new WritableStream({ write(x) { got.push(x) } }), { signal: controller.signal }).catch((e) => e)
        return { err, cancelled, stoppedEarly: got.length <= 3 }
      `),
    ).toEqual({ err: 'stop', cancelled: 'stop', stoppedEarly: true })
  })

  it('tee gives both branches every chunk; the source is cancelled only when both branches are', async () => {
    expect(
      await run(`
        let cancelled = null
        const source = new ReadableStream({ start(c) { c.enqueue(1); c.enqueue(2) }, cancel(r) { cancelled = r } })
        const [a, b] = source.tee()
        const ra = a.getReader(), rb = b.getReader()
        const first = [(await ra.read()).value, (await rb.read()).value, (await ra.read()).value, (await rb.read()).value]
        // A branch's cancel settles once both branches are cancelled (Streams standard, tee).
        const cancelA = ra.cancel('a')
        await new Promise((r) => setTimeout(r, 5))
        const afterOne = cancelled
        await Promise.all([cancelA, rb.cancel('b')])
        return { first, afterOne, reasons: cancelled }
      `),
    ).toEqual({ first: [1, 1, 2, 2], afterOne: null, reasons: ['a', 'b'] })
  })

  it('a reader stops pulling at the high-water mark, and a writer waits for a slow sink (backpressure)', async () => {
    expect(
      await run(`
        let pulls = 0
        const rs = new ReadableStream({ pull(c) { pulls++; c.enqueue(pulls) } }, { highWaterMark: 2 })
        await new Promise((r) => setTimeout(r, 5))
        const pulledBeforeRead = pulls
        const reader = rs.getReader()
        await reader.read()
        await new Promise((r) => setTimeout(r, 5))
        const pulledAfterOneRead = pulls

        let release
        const ws = new WritableStream({ write() { return new Promise((r) => { release = r }) } }, { highWaterMark: 1 })
        const writer = ws.getWriter()
        const sizes = [writer.desiredSize]
        writer.write('x')
        sizes.push(writer.desiredSize)
        writer.write('y')
        sizes.push(writer.desiredSize)
        let ready = false
        writer.ready.then(() => { ready = true })
        await new Promise((r) => setTimeout(r, 5))
        const readyWhileBlocked = ready
        release()
        await new Promise((r) => setTimeout(r, 5))
        release()
        await writer.ready
        return { pulledBeforeRead, pulledAfterOneRead, sizes, readyWhileBlocked, finalSize: writer.desiredSize }
      `),
    ).toEqual({ pulledBeforeRead: 2, pulledAfterOneRead: 3, sizes: [1, 0, -1], readyWhileBlocked: false, finalSize: 1 })
  })

  it('breaking out of async iteration cancels the stream; preventCancel keeps it readable', async () => {
    expect(
      await run(`
        const cancelled = []
        const make = (name) => new ReadableStream({ pull(c) { c.enqueue(1) }, cancel() { cancelled.push(name) } }, { highWaterMark: 0 })
        for await (const x of make('broken')) break
        const kept = make('kept')
        for await (const x of kept.values({ preventCancel: true })) break
        const next = await kept.getReader().read()
        await new Promise((r) => setTimeout(r, 5))
        return { cancelled, next: next.done }
      `),
    ).toEqual({ cancelled: ['broken'], next: false })
  })

  it('an errored stream rejects pending reads and pipeTo with the error', async () => {
    expect(
      await run(`
        let c
        const rs = new ReadableStream({ start(ctrl) { c = ctrl } })
        const reader = rs.getReader()
        const pending = reader.read().catch((e) => e.message)
        c.error(new Error('upstream broke'))
        const rs2 = new ReadableStream({ pull() { throw new TypeError('pull failed') } })
        const piped = await rs2.pipeTo(new WritableStream()).catch((e) => [e.name, e.message])
        return [await pending, piped]
      `),
    ).toEqual(['upstream broke', ['TypeError', 'pull failed']])
  })
})

describe('TextEncoderStream / TextDecoderStream', () => {
  it('a decoder given a multi-byte character split over three chunks emits it once, whole', async () => {
    expect(
      await run(`
        const bytes = new TextEncoder().encode('a😀b€')  // 61 | f0 9f 98 80 | 62 | e2 82 ac
        const cuts = [bytes.subarray(0, 2), bytes.subarray(2, 4), bytes.subarray(4, 7), bytes.subarray(7, 8), bytes.subarray(8)]
        const out = []
        await ReadableStream.from(cuts).pipeThrough(new TextDecoderStream()).pipeTo(new WritableStream({ write(s) { out.push(s) } }))
        return { out, text: out.join('') }
      `),
    ).toEqual({ out: ['a', '😀b', '€'], text: 'a😀b€' })
  })

  it('a truncated character at the end becomes U+FFFD, or errors the stream when fatal', async () => {
    expect(
      await run(`
        const cut = new Uint8Array([0x68, 0xe2, 0x82])
        const lenient = []
        await ReadableStream.from([cut]).pipeThrough(new TextDecoderStream()).pipeTo(new WritableStream({ write(s) { lenient.push(s) } }))
        const fatal = await ReadableStream.from([cut]).pipeThrough(new TextDecoderStream('utf-8', { fatal: true }))
          .pipeTo(new WritableStream()).catch((e) => e.name)
        return { lenient: lenient.join(''), fatal }
      `),
    ).toEqual({ lenient: 'h\ufffd', fatal: 'TypeError' })
  })

  it('an encoder given a surrogate pair split over two chunks emits the 4-byte character', async () => {
    expect(
      await run(`
        const out = []
        await ReadableStream.from(['x\\ud83d', '\\ude00y', '\\ud83d']).pipeThrough(new TextEncoderStream())
          .pipeTo(new WritableStream({ write(b) { out.push(...b) } }))
        return out
      `),
    ).toEqual([0x78, 0xf0, 0x9f, 0x98, 0x80, 0x79, 0xef, 0xbf, 0xbd])
  })
})

describe('Blob, File, FormData', () => {
  it('Blob joins parts, slices with negative indexes, and reads as text, bytes, buffer and stream', async () => {
    expect(
      await run(`
        const inner = new Blob(['lo '])
        const b = new Blob(['hel', inner, new Uint8Array([0x77, 0x6f]), new TextEncoder().encode('rld').buffer], { type: 'text/plain' })
        const chunks = []
        for await (const c of b.stream()) chunks.push(...c)
        return {
          size: b.size, type: b.type, text: await b.text(), slice: await b.slice(-5, -2).text(),
          bytes: Array.from(await b.slice(0, 2).bytes()), buffer: (await b.arrayBuffer()).byteLength,
          stream: new TextDecoder().decode(new Uint8Array(chunks)), tag: Object.prototype.toString.call(b),
        }
      `),
    ).toEqual({
      size: 11,
      type: 'text/plain',
      text: 'hello world',
      slice: 'wor',
      bytes: [104, 101],
      buffer: 11,
      stream: 'hello world',
      tag: '[object Blob]',
    })
  })

  it('File has a name and lastModified; FormData keeps order, files and duplicates', async () => {
    expect(
      await run(`
        const f = new File(['data'], 'a.txt', { type: 'text/plain', lastModified: 42 })
        const form = new FormData()
        form.append('x', '1'); form.append('x', '2'); form.append('doc', f); form.set('y', 'only')
        form.append('blob', new Blob(['b']))
        const doc = form.get('doc')
        form.delete('y')
        return {
          file: [f.name, f.lastModified, f.size, f instanceof Blob],
          all: form.getAll('x'), has: [form.has('y'), form.has('doc')],
          doc: [doc instanceof File, doc.name, await doc.text()], blobName: form.get('blob').name,
          keys: [...form.keys()],
        }
      `),
    ).toEqual({
      file: ['a.txt', 42, 4, true],
      all: ['1', '2'],
      has: [false, true],
      doc: [true, 'a.txt', 'data'],
      blobName: 'blob',
      keys: ['x', 'x', 'doc', 'blob'],
    })
  })

  it('a FormData body is sent as multipart/form-data and parsed back by formData()', async () => {
    expect(
      await run(`
        const form = new FormData()
        form.append('name', 'Ada "Lovelace"\\r\\n')
        form.append('file', new File([new Uint8Array([0, 1, 2, 255])], 'bin.dat', { type: 'application/octet-stream' }))
        form.append('note', 'naïve ✓')
        const res = new Response(form)
        const type = res.headers.get('content-type')
        const raw = await res.clone().text()
        const back = await res.formData()
        const file = back.get('file')
        return {
          type: type.startsWith('multipart/form-data; boundary='), boundaryInBody: raw.includes(type.split('boundary=')[1]),
          name: back.get('name'), note: back.get('note'),
          file: [file.name, file.type, Array.from(await file.bytes())],
        }
      `),
    ).toEqual({
      type: true,
      boundaryInBody: true,
      name: 'Ada "Lovelace"\r\n',
      note: 'naïve ✓',
      file: ['bin.dat', 'application/octet-stream', [0, 1, 2, 255]],
    })
  })

  it('formData() parses urlencoded bodies and refuses other types with TypeError', async () => {
    expect(
      await run(`
        const form = await new Request('https://a.example/', { method: 'POST', body: new URLSearchParams('a=1&b=%C3%A9&a=2') }).formData()
        const bad = await new Response('{}', { headers: { 'content-type': 'application/json' } }).formData().catch((e) => e.name)
        const noBoundary = await new Response('x', { headers: { 'content-type': 'multipart/form-data' } }).formData().catch((e) => e.message)
        return { a: form.getAll('a'), b: form.get('b'), bad, noBoundary }
      `),
    ).toEqual({ a: ['1', '2'], b: 'é', bad: 'TypeError', noBoundary: 'multipart/form-data without a boundary' })
  })

  it('a Blob body takes its type as Content-Type; response.blob() and structuredClone give Blobs back', async () => {
    expect(
      await run(`
        const res = new Response(new Blob(['{"a":1}'], { type: 'application/json' }))
        const type = res.headers.get('content-type')
        const blob = await res.blob()
        const copy = structuredClone(new File(['f'], 'f.txt', { type: 'text/plain' }))
        return { type, json: JSON.parse(await blob.text()), blobType: blob.type, copy: [copy instanceof File, copy.name, await copy.text()] }
      `),
    ).toEqual({ type: 'application/json', json: { a: 1 }, blobType: 'application/json', copy: [true, 'f.txt', 'f'] })
  })
})

describe('crypto.subtle', () => {
  const hex = (b: Buffer): number[] => [...b]

  it('digest gives the same bytes as node:crypto for SHA-1/256/384/512 and refuses MD5', async () => {
    const r = await run<{ digests: number[][]; md5: string }>(`
      const data = new TextEncoder().encode('fnbox ✓')
      const digests = []
      for (const name of ['SHA-1', 'sha-256', { name: 'SHA-384' }, 'SHA-512']) digests.push(Array.from(new Uint8Array(await crypto.subtle.digest(name, data))))
      const md5 = await crypto.subtle.digest('MD5', data).catch((e) => e.name)
      return { digests, md5 }
    `)
    const data = Buffer.from('fnbox ✓')
    expect(r.digests).toEqual(
      ['sha1', 'sha256', 'sha384', 'sha512'].map((a) => hex(createHash(a).update(data).digest())),
    )
    expect(r.md5).toBe('NotSupportedError')
  })

  it('HMAC sign matches node:crypto; verify accepts it and rejects a changed message or signature', async () => {
    const r = await run<{ sig: number[]; ok: boolean; changedData: boolean; changedSig: boolean; short: boolean }>(`
      const enc = new TextEncoder()
      const key = await crypto.subtle.importKey('raw', enc.encode('key'), { name: 'HMAC', hash: 'SHA-256' }, false, ['sign', 'verify'])
      const sig = new Uint8Array(await crypto.subtle.sign('HMAC', key, enc.encode('message')))
      const ok = await crypto.subtle.verify({ name: 'HMAC' }, key, sig, enc.encode('message'))
      const changedData = await crypto.subtle.verify('HMAC', key, sig, enc.encode('messagE'))
      const flipped = sig.slice(); flipped[31] ^= 1
      const changedSig = await crypto.subtle.verify('HMAC', key, flipped, enc.encode('message'))
      const short = await crypto.subtle.verify('HMAC', key, sig.slice(0, 16), enc.encode('message'))
      return { sig: Array.from(sig), ok, changedData, changedSig, short }
    `)
    expect(r).toEqual({
      sig: hex(createHmac('sha256', 'key').update('message').digest()),
      ok: true,
      changedData: false,
      changedSig: false,
      short: false,
    })
  })

  it('imports and exports JWK keys, generates keys, and describes them as CryptoKeys', async () => {
    const r = await run<Record<string, unknown>>(`
      const jwk = { kty: 'oct', k: 'a2V5', alg: 'HS512', ext: true }  // "key"
      const key = await crypto.subtle.importKey('jwk', jwk, { name: 'HMAC', hash: 'SHA-512' }, true, ['sign'])
      const sig = Array.from(new Uint8Array(await crypto.subtle.sign('HMAC', key, new TextEncoder().encode('m'))))
      const exported = await crypto.subtle.exportKey('jwk', key)
      const raw = Array.from(new Uint8Array(await crypto.subtle.exportKey('raw', key)))
      const gen = await crypto.subtle.generateKey({ name: 'HMAC', hash: 'SHA-256' }, false, ['verify'])
      return {
        sig, exported, raw, isKey: key instanceof CryptoKey, algorithm: key.algorithm, type: key.type, usages: key.usages,
        gen: [gen.algorithm.length, gen.extractable, gen.usages], subtle: crypto.subtle instanceof SubtleCrypto,
      }
    `)
    expect(r).toEqual({
      sig: hex(createHmac('sha512', 'key').update('m').digest()),
      exported: { kty: 'oct', k: 'a2V5', alg: 'HS512', key_ops: ['sign'], ext: true },
      raw: [107, 101, 121],
      isKey: true,
      algorithm: { name: 'HMAC', hash: { name: 'SHA-512' }, length: 24 },
      type: 'secret',
      usages: ['sign'],
      gen: [512, false, ['verify']],
      subtle: true,
    })
  })

  it('rejects with the DOMException the standard names, never throws synchronously', async () => {
    expect(
      await run(`
        const enc = new TextEncoder()
        const name = (p) => p.then(() => 'resolved', (e) => [e instanceof DOMException ? 'DOMException' : e.constructor.name, e.name])
        const verifyOnly = await crypto.subtle.importKey('raw', enc.encode('k'), { name: 'HMAC', hash: 'SHA-256' }, false, ['verify'])
        return {
          usage: await name(crypto.subtle.sign('HMAC', verifyOnly, enc.encode('m'))),
          extract: await name(crypto.subtle.exportKey('raw', verifyOnly)),
          algorithm: await name(crypto.subtle.importKey('raw', enc.encode('k'), { name: 'AES-XTS' }, false, ['encrypt'])),
          badUsage: await name(crypto.subtle.importKey('raw', enc.encode('k'), { name: 'HMAC', hash: 'SHA-256' }, false, ['encrypt'])),
          jwkAlg: await name(crypto.subtle.importKey('jwk', { kty: 'oct', k: 'a2V5', alg: 'HS1' }, { name: 'HMAC', hash: 'SHA-256' }, false, ['sign'])),
          notKey: await name(crypto.subtle.sign('HMAC', {}, enc.encode('m'))),
          data: await name(crypto.subtle.digest('SHA-256', 'text')),
        }
      `),
    ).toEqual({
      usage: ['DOMException', 'InvalidAccessError'],
      extract: ['DOMException', 'InvalidAccessError'],
      algorithm: ['DOMException', 'NotSupportedError'],
      badUsage: ['DOMException', 'SyntaxError'],
      jwkAlg: ['DOMException', 'DataError'],
      notKey: ['TypeError', 'TypeError'],
      data: ['TypeError', 'TypeError'],
    })
  })
})

describe('CompressionStream / DecompressionStream', () => {
  const text = 'compress me, '.repeat(200)

  it('gzip output is valid gzip (node:zlib reads it); node:zlib output of every format decompresses', async () => {
    const inputs = {
      gzip: [...gzipSync(text)],
      deflate: [...deflateSync(text)],
      'deflate-raw': [...deflateRawSync(text)],
    }
    const r = await run<{ gz: number[]; back: Record<string, string> }>(`
      const collect = async (readable) => { const out = []; for await (const c of readable) out.push(...c); return new Uint8Array(out) }
      const gz = await collect(ReadableStream.from([new TextEncoder().encode(${JSON.stringify(text)})]).pipeThrough(new CompressionStream('gzip')))
      const back = {}
      const inputs = ${JSON.stringify(inputs)}
      for (const [format, bytes] of Object.entries(inputs)) {
        const half = bytes.length >> 1 // split: the codec keeps state between chunks
        const chunks = [new Uint8Array(bytes.slice(0, half)), new Uint8Array(bytes.slice(half))]
        back[format] = new TextDecoder().decode(await collect(ReadableStream.from(chunks).pipeThrough(new DecompressionStream(format))))
      }
      return { gz: Array.from(gz), back }
    `)
    expect(gunzipSync(Buffer.from(r.gz)).toString()).toBe(text)
    expect(r.gz.length).toBeLessThan(text.length / 10)
    expect(r.back).toEqual({ gzip: text, deflate: text, 'deflate-raw': text })
  })

  it('refuses unknown formats, truncated and corrupt input with TypeError', async () => {
    const gz = [...gzipSync(text)]
    expect(
      await run(`
        const decompress = (bytes) => ReadableStream.from([new Uint8Array(bytes)]).pipeThrough(new DecompressionStream('gzip')).pipeTo(new WritableStream()).then(() => 'ok', (e) => e.name)
        let unknown
        try { new CompressionStream('brotli') } catch (e) { unknown = e.name }
        const gz = ${JSON.stringify(gz)}
        return { unknown, truncated: await decompress(gz.slice(0, 20)), corrupt: await decompress([31, 139, 8, 0, 1, 2, 3, 4, 5, 6, 7, 8]), whole: await decompress(gz) }
      `),
    ).toEqual({ unknown: 'TypeError', truncated: 'TypeError', corrupt: 'TypeError', whole: 'ok' })
  })
})

describe('URLPattern', () => {
  it('matches named groups, wildcards and base URLs, and tests without matching', async () => {
    expect(
      await run(`
        const books = new URLPattern({ pathname: '/books/:id(\\\\d+)' })
        const any = new URLPattern('https://*.example.com/api/*')
        const relative = new URLPattern('/users/:name', 'https://a.example')
        return {
          groups: books.exec('https://x.example/books/42').pathname.groups,
          noMatch: books.exec('https://x.example/books/abc'),
          wildcard: any.exec('https://eu.example.com/api/v1/items').hostname.groups,
          test: [any.test('https://example.org/api/x'), relative.test('https://a.example/users/ada')],
          pathname: relative.pathname,
        }
      `),
    ).toEqual({
      groups: { id: '42' },
      noMatch: null,
      wildcard: { 0: 'eu' },
      test: [false, true],
      pathname: '/users/:name',
    })
  })

  it('throws TypeError on an invalid pattern', async () => {
    expect((await failure(`new URLPattern({ pathname: '/(' })`)).name).toBe('TypeError')
  })
})

describe('events, abort and timing', () => {
  it('EventTarget subclasses dispatch CustomEvents with detail to handleEvent objects', async () => {
    expect(
      await run(`
        class Emitter extends EventTarget {}
        const e = new Emitter()
        const seen = []
        e.addEventListener('token', { handleEvent: (ev) => seen.push([ev.type, ev.detail, ev.target === e, ev instanceof Event]) })
        e.dispatchEvent(new CustomEvent('token', { detail: { text: 'hi' } }))
        return seen
      `),
    ).toEqual([['token', { text: 'hi' }, true, true]])
  })

  it('ErrorEvent and PromiseRejectionEvent carry their fields', async () => {
    expect(
      await run(`
        const err = new Error('x')
        const e = new ErrorEvent('error', { message: 'm', filename: 'f.js', lineno: 3, colno: 4, error: err })
        const p = Promise.reject(1); p.catch(() => {})
        const r = new PromiseRejectionEvent('unhandledrejection', { promise: p, reason: 'why', cancelable: true })
        let missing
        try { new PromiseRejectionEvent('x', {}) } catch (ex) { missing = ex.name }
        return [e instanceof Event, e.message, e.filename, e.lineno, e.colno, e.error === err, r.promise === p, r.reason, r.cancelable, missing]
      `),
    ).toEqual([true, 'm', 'f.js', 3, 4, true, true, 'why', true, 'TypeError'])
  })

  it('fetch with AbortSignal.timeout rejects with TimeoutError and aborts the host request', async () => {
    const r = await run<unknown>(
      `
      const err = await fetch('https://slow.example/', { signal: AbortSignal.timeout(10) }).catch((e) => [e.name, e instanceof DOMException])
      const combined = AbortSignal.any([new AbortController().signal, AbortSignal.timeout(5)])
      const err2 = await fetch('https://slow.example/', { signal: combined }).catch((e) => e.name)
      return [err, err2]
    `,
      { onFetch: () => ({ delayMs: 2000, body: ['late'] }) },
    )
    expect(r).toEqual([['TimeoutError', true], 'TimeoutError'])
  })

  it('performance.now is monotonic with a timeOrigin near Date.now', async () => {
    const r = await run<{ monotonic: boolean; origin: number; elapsed: boolean }>(`
      const a = performance.now()
      await new Promise((r) => setTimeout(r, 5))
      const b = performance.now()
      return { monotonic: b > a, origin: performance.timeOrigin, elapsed: b - a >= 4 }
    `)
    expect(r.monotonic && r.elapsed).toBe(true)
    expect(Math.abs(r.origin - Date.now())).toBeLessThan(5000)
  })
})
