// The guest's WritableStream (src/sandbox/prelude/writable.js), written for QuickJS: each case runs
// in the guest and in Node's streams and must give the same answer (see helpers/same-as-node.ts).
import { describe, expect, it } from 'vitest'
import { inGuest, sameAsNode as same } from '../helpers/same-as-node.js'

describe('WritableStream: writes, backpressure, close', () => {
  it('writes one at a time, in order, with ready and desiredSize following the queue', async () => {
    expect(
      await same(`
        const log = []
        const sink = new WritableStream({
          async write(chunk) { log.push('start ' + chunk); await ticks(3); log.push('end ' + chunk) },
        }, { highWaterMark: 2 })
        const writer = sink.getWriter()
        const sizes = [writer.desiredSize]
        const writes = ['a', 'b', 'c'].map((x) => writer.write(x).then(() => log.push('written ' + x)))
        sizes.push(writer.desiredSize)
        let ready = false
        writer.ready.then(() => { ready = true })
        await ticks(1)
        const readyWhileFull = ready
        await Promise.all(writes)
        sizes.push(writer.desiredSize)
        await writer.ready
        return { log, sizes, readyWhileFull }
      `),
    ).toEqual({
      log: ['start a', 'end a', 'start b', 'written a', 'end b', 'start c', 'written b', 'end c', 'written c'],
      sizes: [2, -1, 2],
      readyWhileFull: false,
    })
  })

  it('close waits for queued writes; writes after it fail; closed resolves', async () => {
    expect(
      await same(`
        const log = []
        const sink = new WritableStream({ async write(x) { await ticks(2); log.push('write ' + x) }, close() { log.push('close') } })
        const writer = sink.getWriter()
        writer.write(1)
        writer.write(2)
        const closing = writer.close()
        const late = await failed(writer.write(3))
        const again = await failed(writer.close())
        await closing
        return { log, late, again, closed: await caught(writer.closed), size: writer.desiredSize, streamClose: await failed(sink.close()) }
      `),
    ).toEqual({
      log: ['write 1', 'write 2', 'close'],
      late: 'TypeError',
      again: 'TypeError',
      closed: { ok: null },
      size: 0,
      streamClose: 'TypeError',
    })
  })

  it('an async start holds writes back; a rejected start errors the stream', async () => {
    expect(
      await same(`
        const log = []
        const slow = new WritableStream({ async start() { await ticks(5); log.push('started') }, write(x) { log.push('write ' + x) } })
        const w = slow.getWriter()
        log.push('before')
        await w.write('x')
        const broken = new WritableStream({ start: () => Promise.reject(new TypeError('no start')), write() { log.push('never') } })
        const bw = broken.getWriter()
        return { log, write: await caught(bw.write('y')), closed: await caught(bw.closed), ready: await caught(bw.ready) }
      `),
    ).toEqual({
      log: ['before', 'started', 'write x'],
      write: { error: 'TypeError: no start' },
      closed: { error: 'TypeError: no start' },
      ready: { error: 'TypeError: no start' },
    })
  })

  it('queuing strategies size the queue; a throwing size errors the stream', async () => {
    expect(
      await same(`
        const count = new CountQueuingStrategy({ highWaterMark: 3 })
        const bytes = new ByteLengthQueuingStrategy({ highWaterMark: 16 })
        const w1 = new WritableStream({ write: () => new Promise(() => {}) }, bytes).getWriter()
        w1.write(new Uint8Array(5))
        w1.write(new Uint8Array(4))
        const w2 = new WritableStream({}, { size() { throw new RangeError('no size') } }).getWriter()
        const failedWrite = await caught(w2.write('x'))
        return {
          count: [count.highWaterMark, count.size('anything'), count.size === count.size],
          bytesDesired: w1.desiredSize,
          failedWrite,
          closed: await caught(w2.closed),
          missing: errorName(() => new CountQueuingStrategy({})),
          keys: [Object.keys(CountQueuingStrategy.prototype).sort(), Object.keys(ByteLengthQueuingStrategy.prototype).sort()],
        }
      `),
    ).toEqual({
      count: [3, 1, true],
      bytesDesired: 7,
      failedWrite: { error: 'RangeError: no size' },
      closed: { error: 'RangeError: no size' },
      missing: 'TypeError',
      keys: [
        ['highWaterMark', 'size'],
        ['highWaterMark', 'size'],
      ],
    })
  })
})

describe('WritableStream: errors and abort', () => {
  it('a sink write that fails errors the stream: later writes, ready and closed reject, abort is not called', async () => {
    expect(
      await same(`
        const log = []
        const sink = new WritableStream({
          write(x) { if (x === 2) throw new SyntaxError('bad ' + x); log.push('write ' + x) },
          abort(r) { log.push('abort') },
          close() { log.push('close') },
        })
        const w = sink.getWriter()
        const results = await Promise.all([caught(w.write(1)), caught(w.write(2)), caught(w.write(3))])
        return { log, results, closed: await caught(w.closed), ready: await caught(w.ready), size: w.desiredSize, close: await failed(w.close()) }
      `),
    ).toEqual({
      log: ['write 1'],
      results: [{ ok: null }, { error: 'SyntaxError: bad 2' }, { error: 'SyntaxError: bad 2' }],
      closed: { error: 'SyntaxError: bad 2' },
      ready: { error: 'SyntaxError: bad 2' },
      size: null,
      close: 'TypeError',
    })
  })

  it('abort waits for the write in flight, drops the queued ones, calls the sink and signals', async () => {
    expect(
      await same(`
        const log = []
        let signal
        const sink = new WritableStream({
          start(c) { signal = c.signal; signal.addEventListener('abort', () => log.push('signal ' + signal.reason)) },
          async write(x) { log.push('write ' + x); await ticks(5); log.push('wrote ' + x) },
          abort(r) { log.push('abort ' + r) },
        })
        const w = sink.getWriter()
        const writes = [caught(w.write(1)), caught(w.write(2))]
        await ticks(1)
        const aborted = w.abort('stop')
        const twice = w.abort('again')
        log.push('aborting')
        await aborted
        await twice
        return { log, writes: await Promise.all(writes), closed: await caught(w.closed), aborted: signal.aborted }
      `),
    ).toEqual({
      log: ['write 1', 'signal stop', 'aborting', 'wrote 1', 'abort stop'],
      writes: [{ ok: null }, { error: 'stop' }],
      closed: { error: 'stop' },
      aborted: true,
    })
  })

  it('abort during a close in flight lets the close finish; abort after close resolves', async () => {
    expect(
      await same(`
        const log = []
        const sink = new WritableStream({ async close() { await ticks(5); log.push('closed') }, abort() { log.push('abort') } })
        const w = sink.getWriter()
        const closing = caught(w.close())
        await ticks(1)
        const aborting = caught(w.abort('late'))
        const results = [await closing, await aborting, await caught(w.closed)]
        w.releaseLock()
        results.push(await caught(sink.abort('after')))
        return { log, results }
      `),
    ).toEqual({ log: ['closed'], results: [{ ok: null }, { ok: null }, { ok: null }, { ok: null }] })
  })

  it('controller.error errors the stream; a failing sink abort rejects abort()', async () => {
    expect(
      await same(`
        let controller
        const sink = new WritableStream({ start(c) { controller = c } })
        const w = sink.getWriter()
        controller.error(new URIError('gone'))
        const write = await caught(w.write('x'))
        const other = new WritableStream({ abort() { throw new EvalError('cannot abort') } })
        return { write, closed: await caught(w.closed), abort: await caught(other.abort('r')) }
      `),
    ).toEqual({
      write: { error: 'URIError: gone' },
      closed: { error: 'URIError: gone' },
      abort: { error: 'EvalError: cannot abort' },
    })
  })
})

describe('WritableStream: writers and validation', () => {
  it('one writer at a time; releaseLock rejects its ready and closed; queued writes still happen', async () => {
    expect(
      await same(`
        const log = []
        const sink = new WritableStream({ async write(x) { await ticks(2); log.push('write ' + x) } })
        const w = sink.getWriter()
        const second = errorName(() => sink.getWriter())
        const direct = errorName(() => new WritableStreamDefaultWriter(sink))
        const pending = w.write('a')
        w.releaseLock()
        const released = [await failed(w.ready), await failed(w.closed), await failed(w.write('b')), errorName(() => w.desiredSize)]
        await pending
        const next = sink.getWriter()
        await next.write('c')
        return { second, direct, released, log, locked: sink.locked, lockedAbort: await failed(sink.abort()) }
      `),
    ).toEqual({
      second: 'TypeError',
      direct: 'TypeError',
      released: ['TypeError', 'TypeError', 'TypeError', 'TypeError'],
      log: ['write a', 'write c'],
      locked: true,
      lockedAbort: 'TypeError',
    })
  })

  it('validates its arguments and brands its members as the standard says', async () => {
    expect(
      await same(`
        let controller
        new WritableStream({ start(c) { controller = c } })
        return {
          type: errorName(() => new WritableStream({ type: 'bytes' })),
          write: errorName(() => new WritableStream({ write: 'no' })),
          sink: errorName(() => new WritableStream(null)),
          hwm: errorName(() => new WritableStream({}, { highWaterMark: NaN })),
          size: errorName(() => new WritableStream({}, { size: {} })),
          controller: errorName(() => new WritableStreamDefaultController()),
          writerBrand: await failed(WritableStreamDefaultWriter.prototype.write.call({})),
          lockedBrand: errorName(() => Object.getOwnPropertyDescriptor(WritableStream.prototype, 'locked').get.call({})),
          tags: [Object.prototype.toString.call(new WritableStream()), Object.prototype.toString.call(controller)],
          keys: [Object.keys(WritableStream.prototype).sort(), Object.keys(WritableStreamDefaultWriter.prototype).sort(), Object.keys(WritableStreamDefaultController.prototype).sort()],
          isController: controller instanceof WritableStreamDefaultController,
          signal: controller.signal instanceof AbortSignal && controller.signal === controller.signal,
        }
      `),
    ).toEqual({
      type: 'RangeError',
      write: 'TypeError',
      sink: 'TypeError',
      hwm: 'RangeError',
      size: 'TypeError',
      controller: 'TypeError',
      writerBrand: 'TypeError',
      lockedBrand: 'TypeError',
      tags: ['[object WritableStream]', '[object WritableStreamDefaultController]'],
      keys: [
        ['abort', 'close', 'getWriter', 'locked'],
        ['abort', 'close', 'closed', 'desiredSize', 'ready', 'releaseLock', 'write'],
        ['error', 'signal'],
      ],
      isController: true,
      signal: true,
    })
  })

  it('byte streams pipe into and through WritableStreams and TransformStreams', async () => {
    expect(
      await inGuest(`
        const bytes = () => new ReadableStream({ type: 'bytes', start(c) { c.enqueue(new TextEncoder().encode('by')); c.enqueue(new TextEncoder().encode('tes')); c.close() } })
        const written = []
        await bytes().pipeTo(new WritableStream({ write(x) { written.push(new TextDecoder().decode(x)) } }))
        const text = await collect(bytes().pipeThrough(new TextDecoderStream()))
        const reader = bytes().getReader({ mode: 'byob' })
        const { value } = await reader.read(new Uint8Array(1))
        return { written, text, byob: Array.from(value), isStream: bytes() instanceof ReadableStream, tag: String(ReadableStreamBYOBReader.name) }
      `),
    ).toEqual({
      written: ['by', 'tes'],
      text: ['by', 'tes'],
      byob: [98],
      isStream: true,
      tag: 'ReadableStreamBYOBReader',
    })
  })
})
