// Piping (Streams standard: ReadableStreamPipeTo, pipeTo and pipeThrough): option conversion,
// which end's error wins when both are errored or closing, the abort signal, and that
// pipeThrough pipes without calling a pipeTo a guest may have replaced. Each case runs in the
// guest and in Node and must give the same answer.
import { describe, expect, it } from 'vitest'
import { sameAsNode } from '../helpers/same-as-node.js'

const ERRORS = `
const named = (name) => { const e = new Error(name); e.name = name; return e }
const outcome = (p) => p.then(() => 'resolved', (e) => e.message)
`

describe('pipeTo: options', () => {
  it('a signal that is not an AbortSignal rejects the pipe before anything is locked', async () => {
    expect(
      await sameAsNode(`
        const out = []
        for (const signal of [null, 'AbortSignal', true, -1]) {
          const rs = new ReadableStream()
          const ws = new WritableStream()
          out.push([await failed(rs.pipeTo(ws, { signal })), rs.locked, ws.locked])
        }
        return out
      `),
    ).toEqual([
      ['TypeError', false, false],
      ['TypeError', false, false],
      ['TypeError', false, false],
      ['TypeError', false, false],
    ])
  })

  it('options are read once, in order; a throwing getter rejects the pipe, locking nothing', async () => {
    expect(
      await sameAsNode(`
        const read = []
        const spy = (name) => ({ get() { read.push(name) } })
        new ReadableStream().pipeTo(new WritableStream(), Object.defineProperties({}, { signal: spy('signal'), preventClose: spy('preventClose'), preventCancel: spy('preventCancel'), preventAbort: spy('preventAbort') }))
        const rs = new ReadableStream()
        const ws = new WritableStream()
        const thrown = await rs.pipeTo(ws, { get preventAbort() { throw new Error('getter') } }).then(() => 'resolved', (e) => e.message)
        const rs2 = new ReadableStream()
        const ws2 = new WritableStream()
        const lockedByGetter = await failed(rs2.pipeTo(ws2, { get preventAbort() { ws2.getWriter(); return false } }))
        return { read, thrown, locks: [rs.locked, ws.locked, rs2.locked], lockedByGetter }
      `),
    ).toEqual({
      read: ['preventAbort', 'preventCancel', 'preventClose', 'signal'],
      thrown: 'getter',
      locks: [false, false, false],
      lockedByGetter: 'TypeError',
    })
  })
})

describe('pipeTo: which end wins', () => {
  it('errored and closed ends at the start: the standard checks source errors, dest errors, then closes', async () => {
    expect(
      await sameAsNode(`${ERRORS}
        const erroredSource = () => new ReadableStream({ start(c) { c.error(named('error1')) } })
        const closedSource = () => new ReadableStream({ start(c) { c.close() } })
        const erroringSink = () => new WritableStream({ start(c) { c.error(named('error2')) } })
        const erroredSink = async () => {
          const ws = erroringSink()
          const w = ws.getWriter()
          await w.closed.catch(() => {})
          w.releaseLock()
          return ws
        }
        return {
          erroredToErroring: await outcome(erroredSource().pipeTo(erroringSink())),
          erroredToErroringPreventAbort: await outcome(erroredSource().pipeTo(erroringSink(), { preventAbort: true })),
          erroredToErrored: await outcome(erroredSource().pipeTo(await erroredSink())),
          closedToErroring: await outcome(closedSource().pipeTo(new WritableStream({ start(c) { c.error(named('error1')) } }))),
          closedToErrored: await outcome(closedSource().pipeTo(await erroredSink())),
        }
      `),
    ).toEqual({
      erroredToErroring: 'error2',
      erroredToErroringPreventAbort: 'error1',
      erroredToErrored: 'error1',
      closedToErroring: 'error1',
      closedToErrored: 'error2',
    })
  })

  it('an errored source into a closing or closed sink', async () => {
    expect(
      await sameAsNode(`${ERRORS}
        const closing = []
        const ws = new WritableStream({ abort(x) { closing.push('abort', x.message) }, close() { closing.push('close') } })
        const w = ws.getWriter()
        const closePromise = w.close()
        w.releaseLock()
        const intoClosing = [await outcome(new ReadableStream({ start(c) { c.error(named('error1')) } }).pipeTo(ws)), closing, await outcome(closePromise)]
        const closed = []
        const ws2 = new WritableStream({ close() { closed.push('close') } })
        const w2 = ws2.getWriter()
        const closePromise2 = w2.close()
        w2.releaseLock()
        await new Promise((r) => setTimeout(r, 5))
        const intoClosed = [await outcome(new ReadableStream({ start(c) { c.error(named('error1')) } }).pipeTo(ws2)), closed, await outcome(closePromise2)]
        const ws3 = new WritableStream()
        const w3 = ws3.getWriter()
        w3.close()
        w3.releaseLock()
        return { intoClosing, intoClosed, closedIntoClosed: await outcome(new ReadableStream({ start(c) { c.close() } }).pipeTo(ws3)) }
      `),
    ).toEqual({
      intoClosing: ['error1', ['abort', 'error1'], 'error1'],
      intoClosed: ['error1', ['close'], 'resolved'],
      closedIntoClosed: 'resolved',
    })
  })
})

describe('pipeTo: the abort signal', () => {
  it('an aborted signal cancels and aborts with its reason, and takes priority over closed or errored ends', async () => {
    expect(
      await sameAsNode(`${ERRORS}
        const ac = new AbortController()
        ac.abort()
        const events = []
        const rs = new ReadableStream({ pull(c) { c.error('failed') }, cancel(x) { events.push('cancel', x.name) } }, { highWaterMark: 0 })
        const aborted = await outcome(rs.pipeTo(new WritableStream(), { signal: ac.signal }))
        const order = []
        const rs2 = new ReadableStream({ pull(c) { c.error('x') }, cancel() { order.push('cancel'); return Promise.reject(named('error1')) } }, { highWaterMark: 0 })
        const ws2 = new WritableStream({ abort() { order.push('abort'); return Promise.reject(named('error2')) } })
        return {
          aborted,
          events,
          rejections: [await outcome(rs2.pipeTo(ws2, { signal: ac.signal })), order],
          overClosed: await outcome(new ReadableStream({ start(c) { c.close() } }).pipeTo(new WritableStream(), { signal: ac.signal })),
          overErrored: await outcome(new ReadableStream({ start(c) { c.error(named('error1')) } }).pipeTo(new WritableStream(), { signal: ac.signal })),
        }
      `),
    ).toEqual({
      aborted: 'This operation was aborted',
      events: ['cancel', 'AbortError'],
      rejections: ['error2', ['abort', 'cancel']],
      overClosed: 'This operation was aborted',
      overErrored: 'This operation was aborted',
    })
  })

  it('aborting while writing stops further reads; pending writes complete first', async () => {
    expect(
      await sameAsNode(`${ERRORS}
        const ac = new AbortController()
        const events = []
        const ws = new WritableStream({ write() { ac.abort() }, abort(x) { events.push('abort', x.name) } })
        const first = await outcome(new ReadableStream({ start(c) { c.enqueue('a'); c.enqueue('b'); c.close() } }).pipeTo(ws, { signal: ac.signal }))
        let rc
        const rs = new ReadableStream({ start(c) { rc = c; c.enqueue('a'); c.enqueue('b') } })
        const ac2 = new AbortController()
        let resolveWrite
        const written = new Promise((r) => { resolveWrite = r })
        const log = []
        const ws2 = new WritableStream({ write(x) { log.push('write', x); return written }, abort(x) { log.push('abort', x.name) } }, new CountQueuingStrategy({ highWaterMark: Infinity }))
        const piped = rs.pipeTo(ws2, { signal: ac2.signal })
        await new Promise((r) => setTimeout(r, 0))
        ac2.abort()
        rc.close()
        resolveWrite()
        return { first, events, second: await outcome(piped), log }
      `),
    ).toEqual({
      first: 'This operation was aborted',
      events: ['abort', 'AbortError'],
      second: 'This operation was aborted',
      log: ['write', 'a', 'write', 'b', 'abort', 'AbortError'],
    })
  })
})

describe('pipeThrough', () => {
  it('pipes without calling pipeTo, converts the pair and options first, then checks locks', async () => {
    expect(
      await sameAsNode(`
        const original = ReadableStream.prototype.pipeTo
        let called = false
        ReadableStream.prototype.pipeTo = function () { called = true; return original.apply(this, arguments) }
        const out = new ReadableStream({ start(c) { c.enqueue(1); c.close() } }).pipeThrough(new TransformStream(), { preventClose: false })
        const value = (await out.getReader().read()).value
        ReadableStream.prototype.pipeTo = original
        const pairs = [{}, { readable: new ReadableStream() }, { writable: new WritableStream() }, { readable: 1, writable: new WritableStream() }, { readable: new ReadableStream(), writable: 1 }]
        const read = []
        new ReadableStream().pipeThrough(
          { get readable() { read.push('readable'); return new ReadableStream() }, get writable() { read.push('writable'); return new WritableStream() } },
          { get preventAbort() { read.push('preventAbort') }, get signal() { read.push('signal') } },
        )
        const ws = new WritableStream()
        return {
          called,
          value,
          pairs: pairs.map((p) => errorName(() => new ReadableStream().pipeThrough(p))),
          read,
          lockedByGetter: errorName(() => new ReadableStream().pipeThrough({ readable: new ReadableStream(), writable: ws }, { get preventAbort() { ws.getWriter() } })),
        }
      `),
    ).toEqual({
      called: false,
      value: 1,
      pairs: ['TypeError', 'TypeError', 'TypeError', 'TypeError', 'TypeError'],
      read: ['readable', 'writable', 'preventAbort', 'signal'],
      lockedByGetter: 'TypeError',
    })
  })
})
