// Timers (HTML "timers" and "microtask queuing"): order by due time, shared ids, clearing either
// kind with either function, arguments, string handlers and `this`. Cases run in the guest and in
// Node; where Node departs from the standard (string handlers, `this`, timer objects as ids), the
// standard's answer is asserted. Delays are far apart, so a busy machine cannot reorder them.
import { describe, expect, it } from 'vitest'
import { inGuest, sameAsNode } from '../helpers/same-as-node.js'

const WAIT = `const wait = (ms) => new Promise((res) => setTimeout(res, ms))`

describe('timers', () => {
  it('fire by due time, set order breaking ties; nested timers run after those already due', async () => {
    expect(
      await sameAsNode(`${WAIT}
        const log = []
        setTimeout(() => log.push('late'), 200)
        setTimeout(() => log.push('a'), 0)
        setTimeout(() => log.push('b'), 0)
        setTimeout(() => { log.push('outer'); setTimeout(() => log.push('inner'), 0) }, 0)
        setTimeout(() => log.push('c'), 0)
        await wait(260)
        return log
      `),
    ).toEqual(['a', 'b', 'outer', 'c', 'inner', 'late'])
  })

  it('microtasks run before timers; queueMicrotask takes only functions', async () => {
    expect(
      await sameAsNode(`${WAIT}
        const log = []
        queueMicrotask(() => log.push('micro'))
        setTimeout(() => log.push('timer'), 0)
        Promise.resolve().then(() => log.push('promise'))
        log.push('sync')
        await wait(5)
        return { log, errors: [errorName(() => queueMicrotask(5)), errorName(() => queueMicrotask())] }
      `),
    ).toEqual({ log: ['sync', 'micro', 'promise', 'timer'], errors: ['TypeError', 'TypeError'] })
  })

  it('intervals repeat until cleared; either clear function clears either kind; arguments are passed', async () => {
    expect(
      await sameAsNode(`${WAIT}
        const log = []
        const thrice = new Promise((resolve) => {
          const id = setInterval(() => { log.push('i'); if (log.length === 3) { clearTimeout(id); setTimeout(resolve, 20) } }, 1)
        })
        const once = setTimeout(() => log.push('cleared'), 1)
        clearInterval(once)
        clearInterval(once)
        let args
        setTimeout((x, y) => { args = [x, y] }, 0, 'p', 2)
        const ids = [setTimeout(() => {}, 0), setInterval(() => {}, 1000), setTimeout(() => {}, 0)]
        clearInterval(ids[1])
        await thrice
        return { log, args, distinct: new Set(ids.map(Number)).size, clears: [clearTimeout(undefined), clearTimeout('x'), clearTimeout(null), clearTimeout(99999)] }
      `),
    ).toEqual({ log: ['i', 'i', 'i'], args: ['p', 2], distinct: 3, clears: [null, null, null, null] })
  })

  it('negative, NaN and string delays mean 0 or their number', async () => {
    expect(
      await sameAsNode(`${WAIT}
        const log = []
        setTimeout(() => log.push('neg'), -5)
        setTimeout(() => log.push('nan'), NaN)
        setTimeout(() => log.push('str'), '1')
        await wait(20)
        return log.sort()
      `),
    ).toEqual(['nan', 'neg', 'str'])
  })

  it('ids are positive integers; a string handler runs as a script; callbacks see the global object as this', async () => {
    // Node 20 returns Timeout objects, throws for string handlers and calls with the Timeout as this.
    expect(
      await inGuest(`${WAIT}
        globalThis.fromString = []
        const id = setTimeout('fromString.push(typeof id, this === globalThis)', 0)
        let self
        setTimeout(function () { 'use strict'; self = this }, 0)
        await wait(10)
        return [typeof id, id > 0, Number.isInteger(id), fromString, self === globalThis, typeof setInterval('0', 1000), errorName(() => setTimeout())]
      `),
    ).toEqual(['number', true, true, ['undefined', true], true, 'number', 'TypeError'])
  })
})
