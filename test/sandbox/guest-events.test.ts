// Event and EventTarget (DOM standard, "Events"): checked against Node where Node follows the
// standard, and against the standard's answer where Node 20 does not (isTrusted's place, the
// order AddEventListenerOptions is read in, the error of a nested dispatch).
import { describe, expect, it } from 'vitest'
import { inGuest, sameAsNode } from '../helpers/same-as-node.js'

describe('Event', () => {
  it('initEvent re-initialises an event, except while it is dispatched', async () => {
    expect(
      await sameAsNode(`
        const ev = new Event('a')
        ev.initEvent('b', true, true)
        const t = new EventTarget()
        let during
        t.addEventListener('q', (e) => { e.initEvent('z', true, true); during = [e.type, e.bubbles, e.cancelable] })
        t.dispatchEvent(new Event('q'))
        return { after: [ev.type, ev.bubbles, ev.cancelable], during, length: Event.prototype.initEvent.length, noArgs: errorName(() => ev.initEvent()) }
      `),
    ).toEqual({ after: ['b', true, true], during: ['q', false, false], length: 1, noArgs: 'TypeError' })
  })

  it('initEvent clears the canceled flag', async () => {
    // Node 20 keeps defaultPrevented.
    expect(
      await inGuest(`
        const ev = new Event('a', { cancelable: true })
        ev.preventDefault()
        const before = ev.defaultPrevented
        ev.initEvent('b', true, true)
        return [before, ev.defaultPrevented]
      `),
    ).toEqual([true, false])
  })

  it('isTrusted is an own accessor of every event, one getter for all, false for constructed events', async () => {
    expect(
      await inGuest(`
        const [d1, d2] = [new Event('x'), new CustomEvent('y')].map((e) => Object.getOwnPropertyDescriptor(e, 'isTrusted'))
        return [typeof d1.get, d1.get === d2.get, d1.set, d1.enumerable, d1.configurable, new Event('x').isTrusted, 'isTrusted' in Event.prototype]
      `),
    ).toEqual(['function', true, null, true, false, false, false])
  })

  it('timeStamp counts from the time origin, as performance.now() does', async () => {
    expect(
      await inGuest(`
        const before = performance.now()
        const t = new Event('x').timeStamp
        return t >= before && t <= performance.now()
      `),
    ).toBe(true)
  })

  it('attributes and methods are enumerable prototype members', async () => {
    expect(
      await sameAsNode(`
        const names = (proto, keys) => keys.map((k) => Object.getOwnPropertyDescriptor(proto, k).enumerable)
        return [names(Event.prototype, ['type', 'target', 'timeStamp', 'preventDefault', 'initEvent', 'composedPath']), names(EventTarget.prototype, ['addEventListener', 'removeEventListener', 'dispatchEvent'])]
      `),
    ).toEqual([
      [true, true, true, true, true, true],
      [true, true, true],
    ])
  })
})

describe('EventTarget', () => {
  it('a signal of null or a non-signal is a TypeError, even with a null listener', async () => {
    expect(
      await sameAsNode(`
        const t = new EventTarget()
        return [errorName(() => t.addEventListener('foo', () => {}, { signal: null })), errorName(() => t.addEventListener('foo', null, { signal: null })), errorName(() => t.addEventListener('foo', () => {}, { signal: {} }))]
      `),
    ).toEqual(['TypeError', 'TypeError', 'TypeError'])
  })

  it("a listener's signal removes it in the abort steps, before later listeners run", async () => {
    expect(
      await sameAsNode(`
        const out = []
        {
          let count = 0
          const et = new EventTarget()
          const ac = new AbortController()
          et.addEventListener('test', () => ac.abort(), { signal: ac.signal })
          et.addEventListener('test', () => count++, { signal: ac.signal })
          et.dispatchEvent(new Event('test'))
          out.push(count)
        }
        {
          let count = 0
          const et = new EventTarget()
          const ac = new AbortController()
          et.addEventListener('test', () => { et.addEventListener('test', () => count++, { signal: ac.signal }); ac.abort() }, { signal: ac.signal })
          et.dispatchEvent(new Event('test'))
          out.push(count)
        }
        {
          let count = 0
          const et = new EventTarget()
          const ac = new AbortController()
          et.addEventListener('a', () => count++, { signal: ac.signal, once: true, capture: true })
          et.addEventListener('b', () => count++, { signal: ac.signal, once: true })
          ac.abort()
          et.dispatchEvent(new Event('a'))
          et.dispatchEvent(new Event('b'))
          et.addEventListener('a', () => count++, { signal: ac.signal })
          et.dispatchEvent(new Event('a'))
          out.push(count)
        }
        return out
      `),
    ).toEqual([0, 0, 0])
  })

  it('handleEvent is looked up at each call, with the listener object as this', async () => {
    expect(
      await sameAsNode(`
        const t = new EventTarget()
        const calls = []
        const l = { handleEvent(e) { calls.push(this === l) } }
        t.addEventListener('x', l)
        t.dispatchEvent(new Event('x'))
        l.handleEvent = () => calls.push('swapped')
        t.dispatchEvent(new Event('x'))
        return calls
      `),
    ).toEqual([true, 'swapped'])
  })

  it('reads AddEventListenerOptions in WebIDL order; a nested dispatch is an InvalidStateError', async () => {
    // Node 20 reads `once` first and throws its own error for the nested dispatch.
    expect(
      await inGuest(`
        const read = []
        const spy = (name) => ({ get() { read.push(name) } })
        new EventTarget().addEventListener('x', () => {}, Object.defineProperties({}, { signal: spy('signal'), passive: spy('passive'), once: spy('once'), capture: spy('capture') }))
        const t = new EventTarget()
        let nested
        t.addEventListener('x', (e) => { try { t.dispatchEvent(e) } catch (err) { nested = [err.constructor.name, err.name] } })
        t.dispatchEvent(new Event('x'))
        return { read, nested, notAnEvent: errorName(() => t.dispatchEvent({})) }
      `),
    ).toEqual({
      read: ['capture', 'once', 'passive', 'signal'],
      nested: ['DOMException', 'InvalidStateError'],
      notAnEvent: 'TypeError',
    })
  })

  it('can be subclassed and dispatches CustomEvent details', async () => {
    expect(
      await sameAsNode(`
        class Nicer extends EventTarget { on(...a) { this.addEventListener(...a) } fire(type, detail) { return this.dispatchEvent(new CustomEvent(type, { detail, cancelable: true })) } }
        const t = new Nicer()
        const seen = []
        t.on('foo', (e) => { seen.push(e.detail, e.target === t, e.currentTarget === t, e.eventPhase); e.preventDefault() })
        return { notCanceled: t.fire('foo', 42), seen }
      `),
    ).toEqual({ notCanceled: false, seen: [42, true, true, 2] })
  })
})
