// ReadableStream details (Streams standard, with WebIDL's conversions): async iteration's
// next()/return() queueing, the options dictionaries of getReader() and values(), the order in
// which constructors read their arguments, and tee() and pipes untouched by what guest code puts
// on Object.prototype. Cases run in the guest and in Node, except where Node reads arguments in
// an order of its own (there the standard's answer is asserted).
import { describe, expect, it } from 'vitest'
import { inGuest, sameAsNode } from '../helpers/same-as-node.js'

const SETTLED = `
const settled = async (ps) => (await Promise.allSettled(ps)).map((x) => x.status === 'fulfilled' ? ['ok', x.value && x.value.value, x.value && x.value.done] : ['err', String(x.reason && x.reason.message || x.reason)])
const E = new Error('error1')
`

describe('async iteration', () => {
  it('next() and return() queue behind the step under way', async () => {
    expect(
      await sameAsNode(`${SETTLED}
        const out = {}
        {
          let n = 0
          const it = new ReadableStream({ pull(c) { if (n++ === 0) c.enqueue(0); else c.error(E) } }).values()
          out.nextErrorNext = await settled([it.next(), it.next(), it.next()])
        }
        {
          let n = 0
          const it = new ReadableStream({ pull(c) { if (n++ === 0) c.enqueue(0); else c.error(E) } }).values()
          out.nextErrorReturn = await settled([it.next(), it.next(), it.return('rv')])
        }
        {
          const it = new ReadableStream({ start(c) { c.enqueue(0) } }).values()
          out.nextReturn = await settled([it.next(), it.return('rv')])
        }
        {
          const it = new ReadableStream({ start(c) { c.enqueue(0) } }).values()
          out.returnNext = await settled([it.return('rv'), it.next()])
        }
        {
          const it = new ReadableStream({ start(c) { c.enqueue(0) } }).values()
          out.returnReturn = await settled([it.return('rv'), it.return('rv2')])
        }
        {
          let c
          const it = new ReadableStream({ start(x) { c = x } }).values()
          const next = it.next()
          const ret = it.return('x')
          c.enqueue(1)
          out.pendingNextReturn = await settled([next, ret])
        }
        return out
      `),
    ).toEqual({
      nextErrorNext: [
        ['ok', 0, false],
        ['err', 'error1'],
        ['ok', null, true],
      ],
      nextErrorReturn: [
        ['ok', 0, false],
        ['err', 'error1'],
        ['ok', 'rv', true],
      ],
      nextReturn: [
        ['ok', 0, false],
        ['ok', 'rv', true],
      ],
      returnNext: [
        ['ok', 'rv', true],
        ['ok', null, true],
      ],
      returnReturn: [
        ['ok', 'rv', true],
        ['ok', 'rv2', true],
      ],
      pendingNextReturn: [
        ['ok', 1, false],
        ['ok', 'x', true],
      ],
    })
  })

  it('return() unlocks at once, rejects for an errored stream; preventCancel leaves the rest readable', async () => {
    expect(
      await sameAsNode(`${SETTLED}
        const a = new ReadableStream()
        a.values({ preventCancel: true }).return()
        const b = new ReadableStream()
        b.values().return()
        const errored = await settled([new ReadableStream({ start(c) { c.error(E) } }).values().return('rv')])
        const kept = new ReadableStream({ start(c) { c.enqueue(1); c.enqueue(2) } })
        const it = kept.values({ preventCancel: true })
        await it.next()
        await it.return()
        const closedWhilePending = (() => { let c; const s = new ReadableStream({ start(x) { c = x } }); const it = s.values(); const p = it.next(); c.close(); return settled([p, it.next()]) })()
        const shape = await new ReadableStream({ start(c) { c.enqueue(0) } }).values().next()
        return {
          unlocked: [a.locked, b.locked],
          errored,
          rest: (await kept.getReader().read()).value,
          closedWhilePending: await closedWhilePending,
          shape: [Object.getPrototypeOf(shape) === Object.prototype, Object.getOwnPropertyNames(shape).sort()],
          locked: errorName(() => { const s = new ReadableStream(); s.values(); s.getReader() }),
        }
      `),
    ).toEqual({
      unlocked: [false, false],
      errored: [['err', 'error1']],
      rest: 2,
      closedWhilePending: [
        ['ok', null, true],
        ['ok', null, true],
      ],
      shape: [true, ['done', 'value']],
      locked: 'TypeError',
    })
  })
})

describe('pull', () => {
  it("waits for the pull's promise, a microtask even when pull returns nothing, so reads made meanwhile wait", async () => {
    // The standard's counts (web-platform-tests readable-streams/general); Node 20 pulls later.
    expect(
      await inGuest(`
        const flush = () => new Promise((res) => setTimeout(res, 0))
        const out = {}
        {
          let pulls = 0
          const rs = new ReadableStream({ pull(c) { if (pulls > 0) c.enqueue(pulls); ++pulls } })
          await flush()
          const afterStart = pulls
          const read = rs.getReader().read()
          const atRead = pulls
          const { value } = await Promise.resolve().then(() => read)
          out.startedEmpty = [afterStart, atRead, pulls, value]
        }
        {
          let pulls = 0
          const rs = new ReadableStream({ start(c) { c.enqueue('a') }, pull() { pulls++ } })
          await flush()
          const afterStart = pulls
          const read = rs.getReader().read()
          const atRead = pulls
          const { value } = await read
          await flush()
          out.fullQueue = [afterStart, atRead, value, pulls]
        }
        {
          let pulls = 0
          let controller
          const rs = new ReadableStream({ start(c) { controller = c }, pull() { ++pulls } })
          const reader = rs.getReader()
          await flush()
          const afterStart = pulls
          controller.enqueue('a')
          const afterEnqueue = pulls
          await reader.read()
          const afterRead = pulls
          await flush()
          out.lastChunk = [afterStart, afterEnqueue, afterRead, pulls]
        }
        return out
      `),
    ).toEqual({ startedEmpty: [1, 2, 3, 1], fullQueue: [0, 1, 'a', 1], lastChunk: [1, 1, 2, 2] })
  })
})

describe('options dictionaries', () => {
  it('getReader(), values() and pipe options take undefined, null or an object; anything else is a TypeError', async () => {
    expect(
      await sameAsNode(`
        return {
          getReader: [5, 'x', { mode: 'bad' }, { mode: undefined }, null, {}, { mode: 'byob' }].map((o) => errorName(() => new ReadableStream().getReader(o))),
          values: [5, null, {}, { preventCancel: 1 }].map((o) => errorName(() => new ReadableStream().values(o))),
          pipeTo: await failed(new ReadableStream().pipeTo(new WritableStream(), 5)),
        }
      `),
    ).toEqual({
      getReader: ['TypeError', 'TypeError', 'TypeError', 'ok', 'ok', 'ok', 'TypeError'],
      values: ['TypeError', 'ok', 'ok', 'ok'],
      pipeTo: 'TypeError',
    })
  })
})

describe('constructor argument conversion', () => {
  it('a strategy is converted before the source, sink or transformer, and each member is checked as it is read', async () => {
    // WebIDL converts the arguments (the strategy dictionaries) first; then the constructor
    // converts the source/sink/transformer dictionary, members in alphabetical order. Node 20
    // reads in an order of its own (size before highWaterMark, type first).
    expect(
      await inGuest(`
        const record = (log, name, value) => ({ get() { log.push(name); return value } })
        const run = (make) => { const log = []; try { make(log) } catch (e) { log.push('threw ' + e.constructor.name) } return log }
        return {
          readable: run((log) => new ReadableStream(
            Object.defineProperties({}, { start: record(log, 'start'), pull: record(log, 'pull'), cancel: record(log, 'cancel'), type: record(log, 'type'), autoAllocateChunkSize: record(log, 'autoAllocateChunkSize') }),
            Object.defineProperties({}, { size: record(log, 'size'), highWaterMark: record(log, 'highWaterMark', { valueOf() { log.push('highWaterMark valueOf'); return 1 } }) }),
          )),
          readableBadCancel: run((log) => new ReadableStream(Object.defineProperties({}, { cancel: record(log, 'cancel', 5), pull: record(log, 'pull') }))),
          writable: run((log) => new WritableStream(
            Object.defineProperties({}, { start: record(log, 'start'), write: record(log, 'write'), close: record(log, 'close'), abort: record(log, 'abort'), type: record(log, 'type') }),
            Object.defineProperties({}, { highWaterMark: record(log, 'highWaterMark', -1), size: record(log, 'size') }),
          )),
          transform: run((log) => new TransformStream(
            Object.defineProperties({}, { start: record(log, 'start'), transform: record(log, 'transform'), flush: record(log, 'flush'), cancel: record(log, 'cancel'), readableType: record(log, 'readableType'), writableType: record(log, 'writableType') }),
            Object.defineProperties({}, { highWaterMark: record(log, 'w.highWaterMark'), size: record(log, 'w.size') }),
            Object.defineProperties({}, { highWaterMark: record(log, 'r.highWaterMark'), size: record(log, 'r.size') }),
          )),
          byteErrors: [
            errorName(() => new ReadableStream({ type: 'bytes' }, { size() {} })),
            errorName(() => new ReadableStream({ type: 'bytes', autoAllocateChunkSize: 0 })),
            errorName(() => new ReadableStream({ type: 'bytes', autoAllocateChunkSize: -1 })),
            errorName(() => new ReadableStream({ type: 'bytes' }, { highWaterMark: -1 })),
          ],
        }
      `),
    ).toEqual({
      readable: [
        'highWaterMark',
        'highWaterMark valueOf',
        'size',
        'autoAllocateChunkSize',
        'cancel',
        'pull',
        'start',
        'type',
      ],
      readableBadCancel: ['cancel', 'threw TypeError'],
      writable: ['highWaterMark', 'size', 'abort', 'close', 'start', 'type', 'write', 'threw RangeError'],
      transform: [
        'w.highWaterMark',
        'w.size',
        'r.highWaterMark',
        'r.size',
        'cancel',
        'flush',
        'readableType',
        'start',
        'transform',
        'writableType',
      ],
      byteErrors: ['RangeError', 'TypeError', 'TypeError', 'RangeError'],
    })
  })

  it('size functions are called with no this: the internal state never reaches guest code', async () => {
    expect(
      await sameAsNode(`
        const seen = []
        const size = function () { seen.push(this === undefined || this === globalThis ? 'none' : typeof this); return 1 }
        new ReadableStream({ start(c) { c.enqueue('a') } }, { size })
        new WritableStream({}, { size }).getWriter().write('b')
        return seen
      `),
    ).toEqual(['none', 'none'])
  })
})

describe('guest patches to Object.prototype', () => {
  it('tee() reads no inherited getter and calls no inherited setter; pipes resolve no patched then', async () => {
    expect(
      await sameAsNode(`
        const results = {}
        {
          const rs = new ReadableStream({ start(c) { c.enqueue('a'); c.close() } })
          const trapped = ['highWaterMark', 'size', 'start', 'type', 'mode']
          for (const p of trapped) Object.defineProperty(Object.prototype, p, { get() { throw new Error(p + ' getter called') }, configurable: true })
          try {
            const [b1, b2] = rs.tee()
            results.getters = [(await b1.getReader().read()).value, (await b2.getReader().read()).value]
          } catch (e) {
            results.getters = e.message
          } finally {
            for (const p of trapped) delete Object.prototype[p]
          }
        }
        {
          const names = ['state', 'reader', 'queue', 'controller', 'stream', 'chunk', 'close', 'error', 'requests', 'closed', 'pulling']
          let calls = 0
          for (const p of names) Object.defineProperty(Object.prototype, p, { set() { calls++ }, get() { return undefined }, configurable: true })
          try {
            const [b1, b2] = new ReadableStream({ start(c) { c.enqueue('a'); c.close() } }).tee()
            results.setters = [(await b1.getReader().read()).value, (await b2.getReader().read()).value, calls]
          } catch (e) {
            results.setters = e.message
          } finally {
            for (const p of names) delete Object.prototype[p]
          }
        }
        {
          const rs = new ReadableStream({ start(c) { c.enqueue('a'); c.close() } })
          const ws = new WritableStream({ write(x) { chunks.push(x) } })
          const chunks = []
          Object.defineProperty(Object.prototype, 'then', { get() { throw new Error('then intercepted') }, configurable: true })
          try {
            await rs.pipeTo(ws).catch((e) => chunks.push(e.message))
          } finally {
            delete Object.prototype.then
          }
          results.then = chunks
        }
        return results
      `),
    ).toEqual({ getters: ['a', 'a'], setters: ['a', 'a', 0], then: ['a'] })
  })
})
