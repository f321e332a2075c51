// The guest's ReadableStream (src/sandbox/prelude/readable.js), written for QuickJS: each case runs
// in the guest and in Node's streams and must give the same answer (see helpers/same-as-node.ts).
import { describe, expect, it } from 'vitest'
import { inGuest, sameAsNode as same } from '../helpers/same-as-node.js'

describe('ReadableStream: sources, queue and readers', () => {
  it('calls start, then pull as reads and the high-water mark ask, in order', async () => {
    expect(
      await same(`
        const log = []
        let n = 0
        const rs = new ReadableStream({
          start(c) { log.push('start ' + c.desiredSize) },
          pull(c) { log.push('pull ' + c.desiredSize); c.enqueue(++n) },
        }, { highWaterMark: 2 })
        log.push('constructed')
        await ticks()
        const reader = rs.getReader()
        for (let i = 0; i < 3; i++) log.push('read ' + (await reader.read()).value)
        await ticks()
        log.push('desired ' + 'n=' + n)
        return log
      `),
    ).toEqual([
      'start 2',
      'constructed',
      'pull 2',
      'pull 1',
      'pull 1',
      'read 1',
      'pull 1',
      'read 2',
      'pull 1',
      'read 3',
      'desired n=5',
    ])
  })

  it('an async pull is not called again until it settles; an async start holds pulls back', async () => {
    expect(
      await same(`
        const log = []
        let n = 0
        let release
        const rs = new ReadableStream({
          async start() { await ticks(5); log.push('started') },
          pull(c) { log.push('pull'); return new Promise((r) => { release = () => { c.enqueue(++n); r() } }) },
        })
        const reader = rs.getReader()
        const a = reader.read()
        const b = reader.read()
        await ticks(20)
        log.push('pending')
        release()
        await ticks(5)
        release()
        const values = [(await a).value, (await b).value]
        return { log, values }
      `),
    ).toEqual({ log: ['started', 'pull', 'pending', 'pull', 'pull'], values: [1, 2] })
  })

  it('close keeps queued chunks readable; desiredSize follows the queue', async () => {
    expect(
      await same(`
        let controller
        const rs = new ReadableStream({ start(c) { controller = c } }, { highWaterMark: 3 })
        const sizes = [controller.desiredSize]
        controller.enqueue('a'); controller.enqueue('b')
        sizes.push(controller.desiredSize)
        controller.close()
        sizes.push(controller.desiredSize)
        const enqueueAfterClose = errorName(() => controller.enqueue('c'))
        const closeTwice = errorName(() => controller.close())
        const reader = rs.getReader()
        const reads = [await reader.read(), await reader.read(), await reader.read(), await reader.read()]
        return { sizes, enqueueAfterClose, closeTwice, reads, closed: await caught(reader.closed), after: controller.desiredSize }
      `),
    ).toEqual({
      sizes: [3, 1, 1],
      enqueueAfterClose: 'TypeError',
      closeTwice: 'TypeError',
      reads: [{ value: 'a', done: false }, { value: 'b', done: false }, { done: true }, { done: true }],
      closed: { ok: null },
      after: 0,
    })
  })

  it('size functions count the queue; one that throws or gives NaN errors the stream', async () => {
    expect(
      await same(`
        let c1, c2, c3
        new ReadableStream({ start(c) { c1 = c } }, new ByteLengthQueuingStrategy({ highWaterMark: 10 }))
        c1.enqueue(new Uint8Array(4))
        const bytes = c1.desiredSize
        new ReadableStream({ start(c) { c2 = c } }, new CountQueuingStrategy({ highWaterMark: 2 }))
        c2.enqueue('x')
        const count = c2.desiredSize
        const rs = new ReadableStream({ start(c) { c3 = c } }, { size() { throw new SyntaxError('no size') } })
        const thrown = errorName(() => c3.enqueue('x'))
        const read = await caught(rs.getReader().read())
        let c4
        const rs4 = new ReadableStream({ start(c) { c4 = c } }, { size: () => NaN })
        const nan = errorName(() => c4.enqueue('x'))
        return { bytes, count, thrown, read, nan, nanRead: await failed(rs4.getReader().read()) }
      `),
    ).toEqual({
      bytes: 6,
      count: 1,
      thrown: 'SyntaxError',
      read: { error: 'SyntaxError: no size' },
      nan: 'RangeError',
      nanRead: 'RangeError',
    })
  })

  it('errors reject pending and later reads and the closed promise; a throwing pull errors too', async () => {
    expect(
      await same(`
        let controller
        const rs = new ReadableStream({ start(c) { controller = c } })
        const reader = rs.getReader()
        const pending = reader.read()
        controller.error(new TypeError('broken'))
        const results = [await caught(pending), await caught(reader.read()), await caught(reader.closed)]
        const failing = new ReadableStream({ pull() { throw new RangeError('pull failed') } })
        results.push(await caught(failing.getReader().read()))
        const startFails = errorName(() => new ReadableStream({ start() { throw new URIError('start failed') } }))
        const rejecting = new ReadableStream({ start: () => Promise.reject(new EvalError('late')) })
        results.push(await caught(rejecting.getReader().read()))
        return { results, startFails, desired: controller.desiredSize }
      `),
    ).toEqual({
      results: [
        { error: 'TypeError: broken' },
        { error: 'TypeError: broken' },
        { error: 'TypeError: broken' },
        { error: 'RangeError: pull failed' },
        { error: 'EvalError: late' },
      ],
      startFails: 'URIError',
      desired: null,
    })
  })

  it('cancel drops the queue, calls the source once with the reason, and ends reads', async () => {
    expect(
      await same(`
        const log = []
        let controller
        const rs = new ReadableStream({ start(c) { controller = c; c.enqueue(1); c.enqueue(2) }, cancel(r) { log.push('cancel ' + r); return ticks(3) } })
        const reader = rs.getReader()
        const first = await reader.read()
        const lockedCancel = await failed(rs.cancel('x'))
        const cancelled = await caught(reader.cancel('enough'))
        const after = await reader.read()
        const enqueue = errorName(() => controller.enqueue(3))
        reader.releaseLock()
        const again = await caught(rs.cancel('again'))
        const erroredCancel = await caught(new ReadableStream({ start(c) { c.error('bad') } }).cancel())
        return { first, lockedCancel, cancelled, after, enqueue, again, erroredCancel, log }
      `),
    ).toEqual({
      first: { value: 1, done: false },
      lockedCancel: 'TypeError',
      cancelled: { ok: null },
      after: { done: true },
      enqueue: 'TypeError',
      again: { ok: null },
      erroredCancel: { error: 'bad' },
      log: ['cancel enough'],
    })
  })

  it('one reader at a time; releaseLock fails pending reads and the closed promise', async () => {
    expect(
      await same(`
        const rs = new ReadableStream()
        const reader = rs.getReader()
        const second = errorName(() => rs.getReader())
        const direct = errorName(() => new ReadableStreamDefaultReader(rs))
        const pending = reader.read()
        const closed = reader.closed
        reader.releaseLock()
        const results = [await caught(pending), await caught(closed), await caught(reader.read()), rs.locked]
        const next = new ReadableStreamDefaultReader(rs)
        results.push(rs.locked, next instanceof ReadableStreamDefaultReader)
        const byob = errorName(() => new ReadableStream().getReader({ mode: 'byob' }))
        const badMode = errorName(() => new ReadableStream().getReader({ mode: 'fast' }))
        return { second, direct, results: results.map((r) => (typeof r === 'object' ? Object.keys(r)[0] : r)), byob, badMode }
      `),
    ).toEqual({
      second: 'TypeError',
      direct: 'TypeError',
      results: ['error', 'error', 'error', false, true, true],
      byob: 'TypeError',
      badMode: 'TypeError',
    })
  })

  it('validates its arguments, brands its members, and reads byte streams with BYOB readers', async () => {
    expect(
      await same(`
        const byteStream = new ReadableStream({ type: 'bytes', start(c) { c.enqueue(new Uint8Array([1, 2, 3])); c.close() } })
        const byob = byteStream.getReader({ mode: 'byob' })
        const { value } = await byob.read(new Uint8Array(8))
        return {
          type: errorName(() => new ReadableStream({ type: 'words' })),
          pull: errorName(() => new ReadableStream({ pull: 1 })),
          source: errorName(() => new ReadableStream(null)),
          hwm: errorName(() => new ReadableStream({}, { highWaterMark: -1 })),
          size: errorName(() => new ReadableStream({}, { size: 3 })),
          controller: errorName(() => new ReadableStreamDefaultController()),
          cancelBrand: await failed(ReadableStream.prototype.cancel.call({})),
          lockedBrand: errorName(() => Object.getOwnPropertyDescriptor(ReadableStream.prototype, 'locked').get.call({})),
          tag: Object.prototype.toString.call(new ReadableStream()),
          bytes: [byteStream instanceof ReadableStream, Array.from(value)],
          keys: Object.keys(ReadableStream.prototype).sort(),
          lengths: [ReadableStream.prototype.pipeTo.length, ReadableStream.prototype.pipeThrough.length, ReadableStream.length],
          iterator: ReadableStream.prototype[Symbol.asyncIterator] === ReadableStream.prototype.values,
        }
      `),
    ).toEqual({
      type: 'TypeError',
      pull: 'TypeError',
      source: 'TypeError',
      hwm: 'RangeError',
      size: 'TypeError',
      controller: 'TypeError',
      cancelBrand: 'TypeError',
      lockedBrand: 'TypeError',
      tag: '[object ReadableStream]',
      bytes: [true, [1, 2, 3]],
      keys: ['cancel', 'getReader', 'locked', 'pipeThrough', 'pipeTo', 'tee', 'values'],
      lengths: [1, 1, 0],
      iterator: true,
    })
  })
})

describe('ReadableStream: tee, iteration, from, pipeTo', () => {
  it('tee gives both branches every chunk, and one branch goes on when the other is cancelled', async () => {
    expect(
      await same(`
        const [a, b] = from([1, 2, 3]).tee()
        const both = await Promise.all([collect(a), collect(b)])
        const [c, d] = from(['x', 'y', 'z']).tee()
        // A branch's cancel settles once both are cancelled or the source ends.
        const cancelled = d.cancel('d gone')
        const rest = await collect(c)
        return { both, rest, cancelled: await caught(cancelled) }
      `),
    ).toEqual({
      both: [
        [1, 2, 3],
        [1, 2, 3],
      ],
      rest: ['x', 'y', 'z'],
      cancelled: { ok: null },
    })
  })

  it('tee: the source is cancelled with [reason1, reason2] once both branches are; errors reach both', async () => {
    expect(
      await same(`
        let reasons
        const [a, b] = new ReadableStream({ pull(c) { c.enqueue(0) }, cancel(r) { reasons = r } }).tee()
        const first = a.cancel('first')
        await ticks()
        const oneCancelled = reasons === undefined
        const reader = b.getReader()
        const bRead = await reader.read()
        reader.releaseLock()
        await b.cancel('second')
        const rest = await caught(first)
        let controller
        const [x, y] = new ReadableStream({ start(c) { controller = c } }).tee()
        const reads = Promise.all([caught(x.getReader().read()), caught(y.getReader().read())])
        controller.error(new RangeError('gone'))
        return { oneCancelled, bRead: bRead.value, rest, reasons, errors: await reads }
      `),
    ).toEqual({
      oneCancelled: true,
      bRead: 0,
      rest: { ok: null },
      reasons: ['first', 'second'],
      errors: [{ error: 'RangeError: gone' }, { error: 'RangeError: gone' }],
    })
  })

  it('async iteration: break cancels, preventCancel releases the lock and leaves the rest readable', async () => {
    expect(
      await same(`
        const log = []
        const rs = from([1, 2, 3, 4], log)
        for await (const x of rs.values({ preventCancel: true })) if (x === 2) break
        const locked = rs.locked
        const rest = await collect(rs)
        const other = from([1, 2, 3], log)
        for await (const x of other) if (x === 1) break
        const it = from([]).values()
        const ends = [await it.next(), await it.next(), await it.return('v')]
        const proto = Object.getPrototypeOf(Object.getPrototypeOf(it)) === Object.getPrototypeOf(Object.getPrototypeOf((async function* () {})()).__proto__)
        return { locked, rest, cancels: log.filter((l) => l !== 'pull'), ends, proto }
      `),
    ).toEqual({
      locked: false,
      rest: [3, 4],
      cancels: ['source cancel: undefined'],
      ends: [{ done: true }, { done: true }, { value: 'v', done: true }],
      proto: true,
    })
  })

  it('from() takes arrays, strings, sync and async generators; cancel calls return()', async () => {
    expect(
      await same(`
        const log = []
        async function* gen() { try { yield 'a'; yield 'b'; yield 'c' } finally { log.push('finally') } }
        function* promises() { yield Promise.resolve(1); yield 2 }
        const out = {
          array: await collect(ReadableStream.from([1, 2])),
          string: await collect(ReadableStream.from('hé')),
          sync: await collect(ReadableStream.from(promises())),
          async: await collect(ReadableStream.from(gen())),
        }
        const reader = ReadableStream.from(gen()).getReader()
        await reader.read()
        await reader.cancel('stop')
        return { out, log, bad: errorName(() => ReadableStream.from(5)), badResult: await failed(collect(ReadableStream.from({ [Symbol.asyncIterator]: () => ({ next: () => 5 }) }))) }
      `),
    ).toEqual({
      out: { array: [1, 2], string: ['h', 'é'], sync: [1, 2], async: ['a', 'b', 'c'] },
      log: ['finally', 'finally'],
      bad: 'TypeError',
      badResult: 'TypeError',
    })
  })

  it('pipeTo writes every chunk and closes the sink, or honours preventClose', async () => {
    expect(
      await same(`
        const runs = []
        for (const options of [undefined, { preventClose: true }]) {
          const written = []
          let closed = false
          const sink = new WritableStream({ write(x) { written.push(x) }, close() { closed = true } })
          await from(['a', 'b', 'c']).pipeTo(sink, options)
          runs.push({ written, closed, unlocked: !sink.locked })
        }
        return runs
      `),
    ).toEqual([
      { written: ['a', 'b', 'c'], closed: true, unlocked: true },
      { written: ['a', 'b', 'c'], closed: false, unlocked: true },
    ])
  })

  it('pipeTo: a source error aborts the sink, a sink error cancels the source', async () => {
    expect(
      await same(`
        const log = []
        let controller
        const source = new ReadableStream({ start(c) { controller = c; c.enqueue(1) } })
        const sink = new WritableStream({ write(x) { log.push('write ' + x) }, abort(r) { log.push('abort ' + r.message) } })
        const piped = caught(source.pipeTo(sink))
        await ticks(20)
        controller.error(new Error('source broke'))
        const first = await piped
        const source2 = new ReadableStream({ pull(c) { c.enqueue('x') }, cancel(r) { log.push('cancel ' + r.message) } })
        const second = await caught(source2.pipeTo(new WritableStream({ write() { throw new Error('sink broke') } })))
        return { first, second, log, locked: [source.locked, source2.locked] }
      `),
    ).toEqual({
      first: { error: 'Error: source broke' },
      second: { error: 'Error: sink broke' },
      log: ['write 1', 'abort source broke', 'cancel sink broke'],
      locked: [false, false],
    })
  })

  it('pipeTo: the signal aborts the sink and cancels the source, unless told not to', async () => {
    expect(
      await same(`
        const runs = []
        for (const options of [{}, { preventAbort: true }, { preventCancel: true }]) {
          const log = []
          const controller = new AbortController()
          const source = new ReadableStream({ pull(c) { c.enqueue('x') }, cancel(r) { log.push('cancel ' + r) } })
          const sink = new WritableStream({ write() { log.push('write') }, abort(r) { log.push('abort ' + r) } })
          const piped = caught(source.pipeTo(sink, { ...options, signal: controller.signal }))
          await ticks(10)
          controller.abort('stop')
          runs.push({ result: await piped, log: log.filter((l) => l !== 'write'), wrote: log.includes('write'), locked: [source.locked, sink.locked] })
        }
        const early = new AbortController()
        early.abort('before')
        const log = []
        const result = await caught(new ReadableStream({ cancel(r) { log.push('cancel ' + r) } }).pipeTo(new WritableStream(), { signal: early.signal }))
        runs.push({ result, log })
        return runs
      `),
    ).toEqual([
      { result: { error: 'stop' }, log: ['abort stop', 'cancel stop'], wrote: true, locked: [false, false] },
      { result: { error: 'stop' }, log: ['cancel stop'], wrote: true, locked: [false, false] },
      { result: { error: 'stop' }, log: ['abort stop'], wrote: true, locked: [false, false] },
      { result: { error: 'before' }, log: ['cancel before'] },
    ])
  })

  it('pipeTo waits for a slow sink (backpressure) and for every write before closing it', async () => {
    expect(
      await same(`
        const log = []
        let n = 0
        const source = new ReadableStream({ pull(c) { if (n < 6) c.enqueue(++n); else c.close() } }, { highWaterMark: 0 })
        const sink = new WritableStream({
          async write(x) { log.push('write ' + x + ' pulled ' + n); await ticks(10) },
          close() { log.push('close') },
        }, { highWaterMark: 2 })
        await source.pipeTo(sink)
        return log
      `),
    ).toEqual([
      'write 1 pulled 1',
      'write 2 pulled 2',
      'write 3 pulled 3',
      'write 4 pulled 4',
      'write 5 pulled 5',
      'write 6 pulled 6',
      'close',
    ])
  })

  it('pipeTo into a closed sink cancels the source; preventCancel leaves it readable', async () => {
    expect(
      await same(`
        const results = []
        for (const preventCancel of [false, true]) {
          const log = []
          const sink = new WritableStream()
          await sink.close()
          const source = new ReadableStream({ start(c) { c.enqueue(1) }, cancel(r) { log.push('cancel ' + r.name) } })
          const result = await failed(source.pipeTo(sink, { preventCancel }))
          results.push({ result, log, locked: source.locked })
        }
        return results
      `),
    ).toEqual([
      { result: 'TypeError', log: ['cancel TypeError'], locked: false },
      { result: 'TypeError', log: [], locked: false },
    ])
  })

  it('a long series of pipes works: past 16 nested deliveries a chunk waits for a microtask', async () => {
    const series = (n: number): string => `
      const results = []
      for (const how of ['pipeTo', 'options']) {
        let s = from(['a', 'b', 'c'])
        for (let i = 0; i < ${n}; i++) {
          const ts = new TransformStream({ transform(x, c) { c.enqueue(x) } })
          if (how === 'pipeTo') {
            s.pipeTo(ts.writable)
            s = ts.readable
          } else s = s.pipeThrough(ts, {})
        }
        results.push((await collect(s)).join(''))
      }
      return results
    `
    expect(await same(series(100))).toEqual(['abc', 'abc'])
    // Node's own streams overflow their stack here.
    expect(await inGuest(series(2000))).toEqual(['abc', 'abc'])
  })

  it('pipeTo refuses locked ends and what is not a WritableStream', async () => {
    expect(
      await same(`
        const rs = new ReadableStream()
        rs.getReader()
        const ws = new WritableStream()
        ws.getWriter()
        return {
          lockedSource: await failed(rs.pipeTo(new WritableStream())),
          lockedSink: await failed(new ReadableStream().pipeTo(ws)),
          notSink: await failed(new ReadableStream().pipeTo({})),
          pipeThroughLocked: errorName(() => rs.pipeThrough(new TransformStream())),
          pipeThroughBad: errorName(() => new ReadableStream().pipeThrough({ readable: 1, writable: 2 })),
        }
      `),
    ).toEqual({
      lockedSource: 'TypeError',
      lockedSink: 'TypeError',
      notSink: 'TypeError',
      pipeThroughLocked: 'TypeError',
      pipeThroughBad: 'TypeError',
    })
  })

  it('a Response reads a stream body, and counts it as used once read', async () => {
    expect(
      await same(`
        const body = from([new TextEncoder().encode('hel'), new TextEncoder().encode('lo')])
        const res = new Response(body)
        const before = res.bodyUsed
        const text = await res.text()
        const again = await caught(res.text())
        const res2 = new Response(from(['x']))
        await res2.body.getReader().read()
        return { before, text, after: res.bodyUsed, again: Object.keys(again)[0], used2: res2.bodyUsed, isStream: res2.body instanceof ReadableStream }
      `),
    ).toEqual({ before: false, text: 'hello', after: true, again: 'error', used2: true, isStream: true })
  })
})
