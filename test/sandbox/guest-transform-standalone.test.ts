// TransformStream written through its writable and read through its readable (Streams standard,
// "Transform streams"): controller sizes, backpressure, flush, terminate, errors and cancel, and
// the constructor's checks. (Fused pipeThrough chains: test/sandbox/guest-transform-stream.test.ts.) Each
// case runs in the guest and in Node and must give the same answer.
import { describe, expect, it } from 'vitest'
import { sameAsNode } from '../helpers/same-as-node.js'

describe('TransformStream, standalone', () => {
  it('passes chunks through; desiredSize follows both ends; the transformer runs only when read', async () => {
    expect(
      await sameAsNode(`
        const ts = new TransformStream()
        const w = ts.writable.getWriter()
        w.write('a')
        w.write('b')
        w.close()
        const identity = await collect(ts.readable)
        let ctl
        const sized = new TransformStream({ start(c) { ctl = c } }, undefined, { highWaterMark: 2 })
        const sw = sized.writable.getWriter()
        const sizes = [ctl.desiredSize, sw.desiredSize]
        await sw.write('x')
        sizes.push(ctl.desiredSize, sw.desiredSize)
        const log = []
        const lazy = new TransformStream({ transform(c, ctl) { log.push('t ' + c); ctl.enqueue(c) } })
        const lw = lazy.writable.getWriter()
        const writes = [lw.write(1), lw.write(2)]
        await ticks()
        log.push('before read')
        const rd = lazy.readable.getReader()
        log.push('read ' + (await rd.read()).value)
        await ticks()
        log.push('read ' + (await rd.read()).value)
        await Promise.all(writes)
        return { identity, sizes, log }
      `),
    ).toEqual({
      identity: ['a', 'b'],
      sizes: [2, 1, 1, 1],
      log: ['before read', 't 1', 'read 1', 't 2', 'read 2'],
    })
  })

  it('flush runs at close and may enqueue; async transforms keep order; terminate closes the readable', async () => {
    expect(
      await sameAsNode(`
        const log = []
        const ts = new TransformStream({ transform(c, ctl) { ctl.enqueue(c * 2) }, flush(ctl) { log.push('flush'); ctl.enqueue('end') } })
        const w = ts.writable.getWriter()
        w.write(1)
        w.close()
        const flushed = await collect(ts.readable)
        const slow = new TransformStream({ async transform(c, ctl) { await ticks(3); ctl.enqueue(c + '!') } })
        const sw = slow.writable.getWriter()
        sw.write('a')
        sw.write('b')
        sw.close()
        const ended = new TransformStream({ start(c) { c.enqueue('a'); c.terminate() } })
        const ew = ended.writable.getWriter()
        return {
          flushed,
          log,
          ordered: await collect(slow.readable),
          terminated: [await collect(ended.readable), await failed(ew.closed), await failed(ew.write('x'))],
        }
      `),
    ).toEqual({
      flushed: [2, 'end'],
      log: ['flush'],
      ordered: ['a!', 'b!'],
      terminated: [['a'], 'TypeError', 'TypeError'],
    })
  })

  it('errors reach both ends; cancel and abort call the transformer cancel with the reason', async () => {
    expect(
      await sameAsNode(`
        const message = (p) => p.then(() => 'ok', (e) => String(e && e.message || e))
        const errored = new TransformStream({ start(c) { c.error(new Error('E')) } })
        const throwing = new TransformStream({ transform() { throw new Error('T') } })
        const rd = throwing.readable.getReader()
        const read = rd.read()
        const tw = throwing.writable.getWriter()
        const log = []
        const cancelled = new TransformStream({ cancel(r) { log.push('cancel ' + r) } })
        await cancelled.readable.cancel('why')
        const aborted = new TransformStream({ cancel(r) { log.push('cancel ' + r) } })
        await aborted.writable.abort('stop')
        const flushing = new TransformStream({ flush() { throw new Error('F') } })
        return {
          errored: [await message(errored.readable.getReader().read()), await message(errored.writable.getWriter().closed)],
          throwing: [await message(tw.write(1)), await message(read), await message(rd.closed)],
          log,
          cancelEnds: [await message(cancelled.writable.getWriter().closed), await message(aborted.readable.getReader().closed)],
          flush: [await message(flushing.writable.getWriter().close()), await message(flushing.readable.getReader().closed)],
        }
      `),
    ).toEqual({
      errored: ['E', 'E'],
      throwing: ['T', 'T', 'T'],
      log: ['cancel why', 'cancel stop'],
      cancelEnds: ['why', 'stop'],
      flush: ['F', 'F'],
    })
  })

  it('the constructor checks its arguments; members are branded; start gets the transformer as this', async () => {
    await sameAsNode(`
      let self
      const transformer = { start() { self = this } }
      new TransformStream(transformer)
      return {
        errors: [
          errorName(() => new TransformStream({ readableType: 'bytes' })),
          errorName(() => new TransformStream({ writableType: 'bytes' })),
          errorName(() => new TransformStream({ transform: 5 })),
          errorName(() => new TransformStream(null)),
          errorName(() => new TransformStream({}, { highWaterMark: -1 })),
          errorName(() => new TransformStream({}, undefined, { size: 5 })),
          errorName(() => new TransformStreamDefaultController()),
          errorName(() => Object.getOwnPropertyDescriptor(TransformStream.prototype, 'readable').get.call({})),
        ],
        keys: [Object.keys(TransformStream.prototype).sort(), Object.keys(TransformStreamDefaultController.prototype).sort()],
        tag: Object.prototype.toString.call(new TransformStream()),
        self: self === transformer,
      }
    `)
  })
})
