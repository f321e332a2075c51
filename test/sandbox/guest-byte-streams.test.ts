// Byte streams (Streams standard: ReadableByteStreamController, ReadableStreamBYOBReader,
// ReadableStreamBYOBRequest, the byte tee): fnbox's own implementation of the standard's
// algorithms. Each case runs in the guest and in Node and must give the same answer.
import { describe, expect, it } from 'vitest'
import { sameAsNode } from '../helpers/same-as-node.js'

/** `view(v)`: a view's class, bytes, offset and buffer size, for comparing answers. */
const VIEW = `
const view = (v) => v && [v.constructor.name, Array.from(v instanceof DataView ? new Uint8Array(v.buffer, v.byteOffset, v.byteLength) : v), v.byteOffset, v.buffer.byteLength]
`

describe('byte streams: reading', () => {
  it('a default reader gets Uint8Arrays; enqueue transfers the chunk, detaching its buffer', async () => {
    expect(
      await sameAsNode(`${VIEW}
        let src
        const rs = new ReadableStream({ type: 'bytes', start(c) { src = new Uint8Array([1, 2, 3]); c.enqueue(src); c.close() } })
        const rd = rs.getReader()
        const a = await rd.read()
        const b = await rd.read()
        return { a: view(a.value), end: [b.done, b.value], detached: [src.byteLength, src.buffer.byteLength] }
      `),
    ).toEqual({ a: ['Uint8Array', [1, 2, 3], 0, 3], end: [true, null], detached: [0, 0] })
  })

  it('a BYOB reader fills the given buffer, in its own element type, keeping what is left queued', async () => {
    expect(
      await sameAsNode(`${VIEW}
        const rs = new ReadableStream({ type: 'bytes', start(c) { c.enqueue(new Uint8Array([1, 2, 3, 4, 5])); c.close() } })
        const rd = rs.getReader({ mode: 'byob' })
        const a = await rd.read(new Uint8Array(2))
        const first = view(a.value)
        const b = await rd.read(new Uint8Array(a.value.buffer))
        const c = await rd.read(new Uint8Array(10))
        const d = await rd.read(new Uint8Array(1))
        const words = new ReadableStream({ type: 'bytes', start(c) { c.enqueue(new Uint8Array([1, 2, 3])); c.close() } }).getReader({ mode: 'byob' })
        const w = await words.read(new Uint16Array(2))
        const dv = await new ReadableStream({ type: 'bytes', start(c) { c.enqueue(new Uint8Array([1, 2, 3])); c.close() } }).getReader({ mode: 'byob' }).read(new DataView(new ArrayBuffer(4), 1, 2))
        return { first, b: view(b.value), c: [view(c.value), c.done], d: [view(d.value), d.done], words: view(w.value), dataView: view(dv.value) }
      `),
    ).toEqual({
      first: ['Uint8Array', [1, 2], 0, 2],
      b: ['Uint8Array', [3, 4], 0, 2],
      c: [['Uint8Array', [5], 0, 10], false],
      d: [['Uint8Array', [], 0, 1], true],
      words: ['Uint16Array', [513], 0, 4],
      dataView: ['DataView', [1, 2], 1, 4],
    })
  })

  it('read(view, { min }) waits for min elements; bad views and mins reject with the named errors', async () => {
    expect(
      await sameAsNode(`${VIEW}
        let n = 0
        const rs = new ReadableStream({ type: 'bytes', pull(c) { n++; c.enqueue(new Uint8Array([n])); if (n === 3) c.close() } })
        const a = await rs.getReader({ mode: 'byob' }).read(new Uint8Array(3), { min: 3 })
        const rd = new ReadableStream({ type: 'bytes' }).getReader({ mode: 'byob' })
        const name = (p) => p.then(() => 'ok', (e) => e.constructor.name)
        const errors = [
          await name(rd.read(new Uint8Array(2), { min: 0 })),
          await name(rd.read(new Uint8Array(2), { min: 3 })),
          await name(rd.read(new DataView(new ArrayBuffer(2)), { min: 3 })),
          await name(rd.read(new Uint8Array(0))),
          await name(rd.read({})),
          await name(rd.read(new Uint8Array(2), { min: -1 })),
        ]
        return { a: view(a.value), pulls: n, errors }
      `),
    ).toEqual({
      a: ['Uint8Array', [1, 2, 3], 0, 3],
      pulls: 3,
      errors: ['TypeError', 'RangeError', 'RangeError', 'TypeError', 'TypeError', 'TypeError'],
    })
  })

  it('closing with a partly filled element errors the stream; reads of a closed stream give empty views', async () => {
    expect(
      await sameAsNode(`${VIEW}
        let ctl
        const rs = new ReadableStream({ type: 'bytes', start(c) { ctl = c } })
        const p = rs.getReader({ mode: 'byob' }).read(new Uint16Array(2))
        await ticks()
        ctl.byobRequest.view[0] = 1
        ctl.byobRequest.respond(1)
        const closeError = errorName(() => ctl.close())
        const closed = await new ReadableStream({ type: 'bytes', start(c) { c.close() } }).getReader({ mode: 'byob' }).read(new Uint8Array(3))
        let ctl2
        const rs2 = new ReadableStream({ type: 'bytes', start(c) { ctl2 = c } })
        const pending = rs2.getReader({ mode: 'byob' }).read(new Uint8Array(3))
        await ticks()
        ctl2.close()
        ctl2.byobRequest.respond(0)
        const late = await pending
        return { closeError, read: await failed(p), closed: [closed.done, view(closed.value)], late: [late.done, view(late.value)] }
      `),
    ).toEqual({
      closeError: 'TypeError',
      read: 'TypeError',
      closed: [true, ['Uint8Array', [], 0, 3]],
      late: [true, ['Uint8Array', [], 0, 3]],
    })
  })
})

describe('byte streams: the controller and BYOB requests', () => {
  it('pull sees the BYOB request (or an auto-allocated one) and answers with respond or a new view', async () => {
    expect(
      await sameAsNode(`${VIEW}
        const log = []
        const byob = new ReadableStream({ type: 'bytes', pull(c) { const req = c.byobRequest; log.push([req.view.byteLength, req.view.byteOffset, req.view.constructor.name]); req.view[0] = 7; req.respond(1) } })
        const a = await byob.getReader({ mode: 'byob' }).read(new Uint8Array(4))
        const auto = new ReadableStream({ type: 'bytes', autoAllocateChunkSize: 8, pull(c) { log.push(c.byobRequest.view.byteLength); c.byobRequest.view.set([9, 8]); c.byobRequest.respond(2) } })
        const b = await auto.getReader().read()
        const fresh = new ReadableStream({ type: 'bytes', pull(c) { const v = c.byobRequest.view; const nv = new Uint8Array(v.buffer, v.byteOffset, 2); nv.set([5, 6]); c.byobRequest.respondWithNewView(nv) } })
        const d = await fresh.getReader({ mode: 'byob' }).read(new Uint8Array(3))
        return { log, a: view(a.value), b: view(b.value), d: view(d.value) }
      `),
    ).toEqual({
      log: [[4, 0, 'Uint8Array'], 8],
      a: ['Uint8Array', [7], 0, 4],
      b: ['Uint8Array', [9, 8], 0, 8],
      d: ['Uint8Array', [5, 6], 0, 3],
    })
  })

  it('respond, respondWithNewView and enqueue check their arguments and the state', async () => {
    expect(
      await sameAsNode(`
        let ctl
        const rs = new ReadableStream({ type: 'bytes', start(c) { ctl = c } }, { highWaterMark: 10 })
        const sizes = [ctl.desiredSize]
        ctl.enqueue(new Uint8Array(4))
        sizes.push(ctl.desiredSize)
        const rd = rs.getReader()
        await rd.read()
        rd.releaseLock()
        const byob = rs.getReader({ mode: 'byob' })
        byob.read(new Uint8Array(3))
        await ticks()
        const req = ctl.byobRequest
        const respond = [errorName(() => req.respond(0)), errorName(() => req.respond(4)), errorName(() => req.respondWithNewView(new Uint8Array(3))), errorName(() => req.respond(-1)), ctl.byobRequest === req]
        const enqueue = [errorName(() => ctl.enqueue(new Uint8Array(0))), errorName(() => ctl.enqueue('x')), errorName(() => ctl.enqueue(new ArrayBuffer(2)))]
        ctl.close()
        return { sizes, respond, enqueue, afterClose: [errorName(() => ctl.enqueue(new Uint8Array(1))), errorName(() => ctl.close())] }
      `),
    ).toEqual({
      sizes: [10, 6],
      // A new view over another buffer of the same size, at the right offset, is accepted.
      respond: ['TypeError', 'RangeError', 'ok', 'TypeError', false],
      enqueue: ['TypeError', 'TypeError', 'TypeError'],
      afterClose: ['TypeError', 'TypeError'],
    })
  })

  it('a BYOB request outlives its reader: bytes written after releaseLock reach the next reader', async () => {
    expect(
      await sameAsNode(`${VIEW}
        let ctl
        const rs = new ReadableStream({ type: 'bytes', start(c) { ctl = c } })
        const rd = rs.getReader({ mode: 'byob' })
        const p = rd.read(new Uint8Array(4))
        await ticks()
        rd.releaseLock()
        const released = await failed(p)
        ctl.byobRequest.view[0] = 42
        ctl.byobRequest.respond(1)
        const next = await rs.getReader().read()
        const log = []
        const cancelled = new ReadableStream({ type: 'bytes', cancel(r) { log.push(r) } })
        const br = cancelled.getReader({ mode: 'byob' })
        const q = br.read(new Uint8Array(2))
        await br.cancel('why')
        const c = await q
        return { released, next: view(next.value), log, cancelled: [c.done, c.value] }
      `),
    ).toEqual({ released: 'TypeError', next: ['Uint8Array', [42], 0, 1], log: ['why'], cancelled: [true, null] })
  })

  it('the classes exist, brand their members and cannot be constructed directly', async () => {
    await sameAsNode(`
      return [
        errorName(() => new ReadableByteStreamController()),
        errorName(() => new ReadableStreamBYOBRequest()),
        errorName(() => new ReadableStreamBYOBReader(new ReadableStream())),
        errorName(() => new ReadableStream().getReader({ mode: 'byob' })),
        Object.keys(ReadableByteStreamController.prototype).sort(),
        Object.keys(ReadableStreamBYOBReader.prototype).sort(),
        Object.keys(ReadableStreamBYOBRequest.prototype).sort(),
        Object.prototype.toString.call(new ReadableStream({ type: 'bytes' }).getReader({ mode: 'byob' })),
      ]
    `)
  })
})

describe('byte streams: tee, pipes and iteration', () => {
  it('tee: one branch reads with BYOB into its own buffer, the other gets copies', async () => {
    expect(
      await sameAsNode(`${VIEW}
        const rs = new ReadableStream({ type: 'bytes', start(c) { c.enqueue(new Uint8Array([1, 2])); c.enqueue(new Uint8Array([3])); c.close() } })
        const [a, b] = rs.tee()
        const ra = a.getReader({ mode: 'byob' })
        const rb = b.getReader()
        const out = []
        out.push(view((await ra.read(new Uint8Array(1))).value), view((await rb.read()).value))
        out.push(view((await ra.read(new Uint8Array(4))).value), view((await rb.read()).value))
        out.push((await ra.read(new Uint8Array(4))).done, (await rb.read()).done)
        return out
      `),
    ).toEqual([
      ['Uint8Array', [1], 0, 1],
      ['Uint8Array', [1], 0, 1],
      ['Uint8Array', [2, 3], 0, 4],
      ['Uint8Array', [2, 3], 0, 2],
      true,
      true,
    ])
  })

  it('tee: the source is cancelled with both reasons once both branches are; errors reach both', async () => {
    expect(
      await sameAsNode(`
        const log = []
        const [a, b] = new ReadableStream({ type: 'bytes', cancel(x) { log.push(x) } }).tee()
        const first = a.cancel('1')
        log.push('one')
        await b.cancel('2')
        await first
        let ctl
        const [c, d] = new ReadableStream({ type: 'bytes', start(x) { ctl = x } }).tee()
        const read = c.getReader().read()
        ctl.error(new Error('bad'))
        return { log, errors: [await read.then(() => 'ok', (e) => e.message), await d.getReader({ mode: 'byob' }).closed.then(() => 'ok', (e) => e.message)] }
      `),
    ).toEqual({ log: ['one', ['1', '2']], errors: ['bad', 'bad'] })
  })

  it('byte streams pipe, iterate and pull only as reads ask', async () => {
    expect(
      await sameAsNode(`${VIEW}
        const piped = []
        await new ReadableStream({ type: 'bytes', start(c) { c.enqueue(new Uint8Array([1])); c.enqueue(new Uint8Array([2, 3])); c.close() } })
          .pipeTo(new WritableStream({ write(x) { piped.push(view(x)) } }))
        const iterated = []
        for await (const x of new ReadableStream({ type: 'bytes', start(c) { c.enqueue(new Uint8Array([4])); c.close() } })) iterated.push(view(x))
        let pulls = 0
        const rs = new ReadableStream({ type: 'bytes', pull(c) { pulls++; c.enqueue(new Uint8Array([pulls])) } }, { highWaterMark: 0 })
        await ticks()
        const before = pulls
        await rs.getReader().read()
        await ticks()
        return { piped, iterated, pulls: [before, pulls] }
      `),
    ).toEqual({
      piped: [
        ['Uint8Array', [1], 0, 1],
        ['Uint8Array', [2, 3], 0, 2],
      ],
      iterated: [['Uint8Array', [4], 0, 1]],
      pulls: [0, 1],
    })
  })
})
