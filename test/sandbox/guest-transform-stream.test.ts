// The guest's TransformStream (src/sandbox/prelude/transform.js): written for QuickJS, with
// pipeThrough chains fused into direct calls. Each case runs twice, in the guest and in Node
// (whose WHATWG streams follow the standard), and both must give the same answer: the fused path
// has to be indistinguishable from the pipes it replaces, in output, order, locks, backpressure,
// cancellation and errors.
import { describe, expect, it } from 'vitest'
import { inGuest, sameAsNode as same } from '../helpers/same-as-node.js'

describe('TransformStream: fused pipeThrough chains give what pipes give', () => {
  it('passes every chunk through every stage in order, then flushes each stage in turn', async () => {
    expect(
      await same(`
        const stage = (tag) => new TransformStream({
          transform(chunk, c) { c.enqueue(chunk + tag) },
          flush(c) { c.enqueue('flush' + tag) },
        })
        return collect(from(['a', 'b']).pipeThrough(stage(1)).pipeThrough(stage(2)).pipeThrough(stage(3)))
      `),
    ).toEqual(['a123', 'b123', 'flush123', 'flush23', 'flush3'])
  })

  it('keeps order through async transforms, fan-out, filtering, async flush and async start', async () => {
    expect(
      await same(`
        const log = []
        const slow = new TransformStream({
          async start() { await ticks(5); log.push('started') },
          async transform(chunk, c) { await ticks(chunk.length); c.enqueue(chunk); c.enqueue(chunk.toUpperCase()) },
          async flush(c) { await ticks(3); c.enqueue('end') },
        })
        const odd = new TransformStream({ transform(chunk, c) { if (chunk.length % 2) c.enqueue(chunk) } })
        const out = await collect(from(['a', 'bb', 'ccc', 'dddd', 'e']).pipeThrough(slow).pipeThrough(odd))
        return { out, log }
      `),
    ).toEqual({ out: ['a', 'A', 'ccc', 'CCC', 'e', 'E', 'end'], log: ['started'] })
  })

  it('reads its source only as fast as the end is read (backpressure)', async () => {
    const result = (await same(`
      let pulls = 0
      let i = 0
      const source = new ReadableStream({ pull(c) { pulls++; c.enqueue(i++) } }, { highWaterMark: 0 })
      const id = () => new TransformStream()
      const reader = source.pipeThrough(id()).pipeThrough(id()).pipeThrough(id()).getReader()
      await ticks(50)
      const idle = pulls
      const got = []
      for (let k = 0; k < 5; k++) got.push((await reader.read()).value)
      await ticks(50)
      await reader.cancel('done')
      return { idleBounded: idle <= 4, afterBounded: pulls <= 5 + 4, got }
    `)) as { got: number[] }
    expect(result).toEqual({ idleBounded: true, afterBounded: true, got: [0, 1, 2, 3, 4] })
  })

  it('a long series of stages works: chains are split, so no chunk nests deeper than 32 stages', async () => {
    const series = (n: number): string => `
      let s = from(['a', 'b', 'c'])
      for (let i = 0; i < ${n}; i++) s = s.pipeThrough(new TransformStream({ transform(x, c) { c.enqueue(x) }, flush(c) { if (i % ${n / 4} === 0) c.enqueue('f' + i) } }))
      const reader = s.getReader()
      const first = await reader.read()
      reader.releaseLock()
      return [first.value, ...(await collect(s))]
    `
    expect(await same(series(200))).toEqual(['a', 'b', 'c', 'f0', 'f50', 'f100', 'f150'])
    // Node's own streams overflow their stack here; one fused chain of them would overflow QuickJS's.
    expect(await inGuest(series(4000))).toEqual(['a', 'b', 'c', 'f0', 'f1000', 'f2000', 'f3000'])
  })

  it('a readable highWaterMark lets a stage run ahead of the reader, up to the mark', async () => {
    expect(
      await same(`
        const seen = []
        let i = 0
        const source = new ReadableStream({ pull(c) { c.enqueue(i++) } }, { highWaterMark: 0 })
        const ts = new TransformStream({ transform(x, c) { seen.push(x); c.enqueue(x) } }, undefined, { highWaterMark: 3 })
        const out = source.pipeThrough(ts)
        await ticks(60)
        const before = seen.length
        await out.cancel()
        return { ranAhead: before >= 3 && before <= 5 }
      `),
    ).toEqual({ ranAhead: true })
  })

  it('locks both ends while piping and releases them when the chain ends', async () => {
    expect(
      await same(`
        const source = from(['x'])
        const ts = new TransformStream()
        const out = source.pipeThrough(ts)
        const during = [source.locked, ts.writable.locked, out.locked]
        const again = (() => { try { source.pipeThrough(new TransformStream()); return 'no error' } catch (e) { return e.name } })()
        const busy = (() => { try { from([]).pipeThrough(ts); return 'no error' } catch (e) { return e.name } })()
        const got = await collect(out)
        await ticks()
        const writer = ts.writable.getWriter()
        const closed = await caught(writer.closed)
        return { during, again, busy, got, after: source.locked, closed }
      `),
    ).toEqual({
      during: [true, true, false],
      again: 'TypeError',
      busy: 'TypeError',
      got: ['x'],
      after: false,
      closed: { ok: null },
    })
  })

  it('a later pipeThrough of a stage that already gave output still gets every chunk', async () => {
    expect(
      await same(`
        const first = from(['a', 'b', 'c']).pipeThrough(new TransformStream({ transform(x, c) { c.enqueue(x + '1') } }))
        const reader = first.getReader()
        const head = (await reader.read()).value
        reader.releaseLock()
        const rest = await collect(first.pipeThrough(new TransformStream({ transform(x, c) { c.enqueue(x + '2') } })))
        return { head, rest }
      `),
    ).toEqual({ head: 'a1', rest: ['b12', 'c12'] })
  })

  it('TextDecoderStream and TextEncoderStream join a chain like any TransformStream', async () => {
    expect(
      await same(`
        const bytes = new TextEncoder().encode('h\u00e9llo \u{1F600}!')
        const parts = [bytes.slice(0, 2), bytes.slice(2, 8), bytes.slice(8)]
        const text = await collect(from(parts).pipeThrough(new TextDecoderStream()).pipeThrough(new TextEncoderStream()).pipeThrough(new TextDecoderStream()))
        return text.join('')
      `),
    ).toBe('h\u00e9llo \u{1F600}!')
  })

  it('a pipeThrough with options still pipes, and honours them', async () => {
    expect(
      await same(`
        const log = []
        const controller = new AbortController()
        const source = new ReadableStream({ pull(c) { c.enqueue('x') }, cancel(r) { log.push('cancel: ' + r) } })
        const out = source.pipeThrough(new TransformStream(), { signal: controller.signal })
        const reader = out.getReader()
        await reader.read()
        controller.abort('stop')
        const end = await caught((async () => { for (;;) { const r = await reader.read(); if (r.done) return 'closed' } })())
        return { end, log }
      `),
    ).toEqual({ end: { error: 'stop' }, log: ['cancel: stop'] })
  })
})

describe('TransformStream: a chain ends as its pipes would', () => {
  it('a transformer that throws errors the end, cancels the source and the other stages', async () => {
    const result = (await same(`
      const log = []
      const stage = (tag, fail) => new TransformStream({
        transform(x, c) { if (fail && x === 'b') throw new Error('bad ' + x); c.enqueue(x) },
        cancel(r) { log.push(tag + ' cancel: ' + r.message) },
        flush() { log.push(tag + ' flush') },
      })
      // More chunks than the pipes read ahead, so the source is still open when the error comes.
      const out = from(['a', 'b', ...'cdefghijklmnop'], log).pipeThrough(stage(1)).pipeThrough(stage(2, true)).pipeThrough(stage(3))
      const reader = out.getReader()
      const first = await reader.read()
      const second = await caught(reader.read())
      await ticks(40)
      return { first: first.value, second, log: log.filter((l) => l !== 'pull').sort() }
    `)) as object
    expect(result).toEqual({
      first: 'a',
      second: { error: 'Error: bad b' },
      log: ['1 cancel: bad b', '3 cancel: bad b', 'source cancel: Error: bad b'],
    })
  })

  it('an async transform that rejects, and controller.error, end the chain the same way', async () => {
    expect(
      await same(`
        const results = []
        for (const how of ['reject', 'error']) {
          const log = []
          const out = from([1, 2, 3], log)
            .pipeThrough(new TransformStream({
              async transform(x, c) { await ticks(2); if (x === 2) { if (how === 'reject') throw new TypeError('no'); c.error(new TypeError('no')) } else c.enqueue(x) },
            }))
            .pipeThrough(new TransformStream({ cancel(r) { log.push('next cancel: ' + r.message) } }))
          const got = await caught(collect(out))
          await ticks(40)
          results.push({ got, log: log.filter((l) => l !== 'pull').sort() })
        }
        return results
      `),
    ).toEqual([
      { got: { error: 'TypeError: no' }, log: ['next cancel: no', 'source cancel: TypeError: no'] },
      { got: { error: 'TypeError: no' }, log: ['next cancel: no', 'source cancel: TypeError: no'] },
    ])
  })

  it('a source that errors errors the end and cancels every transformer', async () => {
    expect(
      await same(`
        const log = []
        let n = 0
        const source = new ReadableStream({ pull(c) { if (++n === 3) c.error(new RangeError('upstream died')); else c.enqueue(n) } })
        const stage = (tag) => new TransformStream({ cancel(r) { log.push(tag + ': ' + r.message) } })
        const got = []
        const end = await caught((async () => { for await (const x of source.pipeThrough(stage('a')).pipeThrough(stage('b'))) got.push(x) })())
        await ticks(40)
        return { got, end, log: log.sort() }
      `),
    ).toEqual({
      got: [1, 2],
      end: { error: 'RangeError: upstream died' },
      log: ['a: upstream died', 'b: upstream died'],
    })
  })

  it('cancelling the end cancels every transformer and the source with the reason', async () => {
    expect(
      await same(`
        const log = []
        const stage = (tag) => new TransformStream({ cancel(r) { log.push(tag + ' cancel: ' + r) }, flush() { log.push(tag + ' flush') } })
        const out = from(['a', 'b', 'c'], log).pipeThrough(stage(1)).pipeThrough(stage(2))
        const reader = out.getReader()
        const first = (await reader.read()).value
        const cancelled = await caught(reader.cancel('enough'))
        await ticks(40)
        return { first, cancelled, log: log.filter((l) => l !== 'pull').sort() }
      `),
    ).toEqual({
      first: 'a',
      cancelled: { ok: null },
      log: ['1 cancel: enough', '2 cancel: enough', 'source cancel: enough'],
    })
  })

  it('breaking out of for await over the end cancels the chain', async () => {
    expect(
      await same(`
        const log = []
        const out = from([1, 2, 3, 4], log).pipeThrough(new TransformStream({ cancel() { log.push('stage cancel') } }))
        for await (const x of out) if (x === 2) break
        await ticks(40)
        return log.filter((l) => l !== 'pull').sort()
      `),
    ).toEqual(['source cancel: undefined', 'stage cancel'])
  })

  it('controller.terminate closes the stages after it and cancels the source', async () => {
    expect(
      await same(`
        const log = []
        let i = 0
        const items = ['a', 'b', 'c', 'd']
        const source = new ReadableStream({ pull(c) { if (i < items.length) c.enqueue(items[i++]); else c.close() }, cancel(r) { log.push('source cancel: ' + r.name) } })
        const first = new TransformStream({ cancel(r) { log.push('first cancel: ' + r.name) } })
        const cut = new TransformStream({ transform(x, c) { c.enqueue(x); if (x === 'b') c.terminate() }, flush() { log.push('cut flush') } })
        const last = new TransformStream({ flush(c) { log.push('last flush'); c.enqueue('end') } })
        const got = await collect(source.pipeThrough(first).pipeThrough(cut).pipeThrough(last))
        await ticks(40)
        return { got, log: log.sort() }
      `),
    ).toEqual({
      got: ['a', 'b', 'end'],
      log: ['first cancel: TypeError', 'last flush', 'source cancel: TypeError'],
    })
  })

  it('a flush that throws errors the end', async () => {
    expect(
      await same(`
        const out = from(['a']).pipeThrough(new TransformStream({ flush() { throw new SyntaxError('unterminated') } })).pipeThrough(new TransformStream())
        return caught(collect(out))
      `),
    ).toEqual({ error: 'SyntaxError: unterminated' })
  })
})

describe('TransformStream: written and read directly', () => {
  it('applies backpressure to the writer until the readable is read', async () => {
    expect(
      await same(`
        const log = []
        const ts = new TransformStream({ transform(x, c) { log.push('transform ' + x); c.enqueue(x) } })
        const writer = ts.writable.getWriter()
        const sizes = [writer.desiredSize]
        const w1 = writer.write('a')
        sizes.push(writer.desiredSize)
        writer.write('b')
        sizes.push(writer.desiredSize)
        await ticks()
        log.push('before read')
        const reader = ts.readable.getReader()
        const r1 = await reader.read()
        await w1
        const r2 = await reader.read()
        writer.close()
        const r3 = await reader.read()
        return { sizes, log, values: [r1.value, r2.value, r3.done] }
      `),
    ).toEqual({
      sizes: [1, 0, -1],
      log: ['before read', 'transform a', 'transform b'],
      values: ['a', 'b', true],
    })
  })

  it('aborting the writable cancels the transformer and errors the readable', async () => {
    expect(
      await same(`
        const log = []
        const ts = new TransformStream({ cancel(r) { log.push('cancel: ' + r) } })
        const writer = ts.writable.getWriter()
        await writer.abort('gone')
        const read = await caught(ts.readable.getReader().read())
        return { log, read }
      `),
    ).toEqual({ log: ['cancel: gone'], read: { error: 'gone' } })
  })

  it('cancelling the readable errors the writable with the reason', async () => {
    expect(
      await same(`
        const ts = new TransformStream()
        const writer = ts.writable.getWriter()
        await ts.readable.cancel('nope')
        return { closed: await caught(writer.closed), write: await caught(writer.write('x')) }
      `),
    ).toEqual({ closed: { error: 'nope' }, write: { error: 'nope' } })
  })

  it('terminate closes the readable and errors the writable', async () => {
    expect(
      await same(`
        const ts = new TransformStream({ start(c) { c.enqueue('only'); c.terminate() } })
        const got = await collect(ts.readable)
        const write = await caught(ts.writable.getWriter().write('x'))
        return { got, write: write.error.split(':')[0] }
      `),
    ).toEqual({ got: ['only'], write: 'TypeError' })
  })

  it('validates its arguments and brands its members as the standard says', async () => {
    expect(
      await same(`
        const name = (f) => { try { f(); return 'ok' } catch (e) { return e.constructor.name } }
        let controller
        new TransformStream({ start(c) { controller = c } })
        const getter = Object.getOwnPropertyDescriptor(TransformStream.prototype, 'readable').get
        return {
          readableType: name(() => new TransformStream({ readableType: 'bytes' })),
          writableType: name(() => new TransformStream({ writableType: 'bytes' })),
          transform: name(() => new TransformStream({ transform: 1 })),
          transformer: name(() => new TransformStream(5)),
          nullTransformer: name(() => new TransformStream(null)),
          strategy: name(() => new TransformStream({}, { highWaterMark: -1 })),
          controllerCtor: name(() => new TransformStreamDefaultController()),
          brand: name(() => getter.call({})),
          tag: Object.prototype.toString.call(new TransformStream()),
          controllerTag: Object.prototype.toString.call(controller),
          isController: controller instanceof TransformStreamDefaultController,
          desiredSize: controller.desiredSize,
          enumerable: Object.keys(TransformStream.prototype).sort(),
          pipeThroughLength: ReadableStream.prototype.pipeThrough.length,
        }
      `),
    ).toEqual({
      readableType: 'RangeError',
      writableType: 'RangeError',
      transform: 'TypeError',
      transformer: 'TypeError',
      nullTransformer: 'TypeError',
      strategy: 'RangeError',
      controllerCtor: 'TypeError',
      brand: 'TypeError',
      tag: '[object TransformStream]',
      controllerTag: '[object TransformStreamDefaultController]',
      isController: true,
      desiredSize: 0,
      enumerable: ['readable', 'writable'],
      pipeThroughLength: 1,
    })
  })
})
