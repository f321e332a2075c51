// The Fetch standard's objects in the guest: Headers, Request and Response with their bodies and
// streams, and fetch against a fake host (guest-headers and guest-body go into the details).
import { describe, expect, it } from 'vitest'
import { guestRunner } from '../helpers/guest-harness.js'

const { harness, run } = guestRunner()
const decode = (b: Uint8Array | undefined): string => new TextDecoder().decode(b)

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
