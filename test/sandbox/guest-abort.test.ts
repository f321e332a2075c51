// AbortController and AbortSignal (DOM standard, "Aborting ongoing activities"): the abort event
// is trusted, AbortSignal.any() follows the non-dependent sources so events fire in the standard's
// order and a chain of any() calls needs none of its middle links.
import { describe, expect, it } from 'vitest'
import { inGuest, sameAsNode } from '../helpers/same-as-node.js'

describe('AbortSignal', () => {
  it('fires a trusted abort event synchronously, once', async () => {
    expect(
      await sameAsNode(`
        const c = new AbortController()
        const s = c.signal
        let props
        let count = 0
        s.onabort = (e) => { count++; props ??= [e.type, e.target === s, e.currentTarget === s, e.bubbles, e.cancelable, e.isTrusted, e.eventPhase] }
        c.abort()
        const sync = count
        c.abort()
        let redispatched
        s.addEventListener('abort', (e) => { redispatched = e.isTrusted })
        s.dispatchEvent(new Event('abort'))
        return { props, sync, count, redispatched, same: c.signal === s, reason: [s.reason.name, s.reason instanceof DOMException] }
      `),
    ).toEqual({
      props: ['abort', true, true, false, false, true, 2],
      sync: 1,
      count: 2,
      redispatched: false,
      same: true,
      reason: ['AbortError', true],
    })
  })

  it('performs brand checks', async () => {
    await sameAsNode(`
      const bad = [null, undefined, 0, NaN, true, 'AbortController', Object.create(AbortController.prototype), Object.create(AbortSignal.prototype)]
      const signalGet = Object.getOwnPropertyDescriptor(AbortController.prototype, 'signal').get
      const abortedGet = Object.getOwnPropertyDescriptor(AbortSignal.prototype, 'aborted').get
      return bad.map((b) => [errorName(() => signalGet.call(b)), errorName(() => AbortController.prototype.abort.call(b)), errorName(() => abortedGet.call(b))])
    `)
  })

  it('any(): follows one or many signals, the first aborted one wins, duplicates are fine', async () => {
    expect(
      await sameAsNode(`
        const out = {}
        const c = new AbortController()
        const clone = AbortSignal.any([c.signal])
        let target
        clone.onabort = (e) => { target = e.target === clone }
        out.before = [clone.aborted, 'reason' in clone, clone.reason, clone !== c.signal]
        c.abort('reason string')
        out.after = [clone.aborted, clone.reason, target]
        const cs = [new AbortController(), new AbortController(), new AbortController()]
        cs[1].abort('reason 1'); cs[2].abort('reason 2')
        out.firstAborted = AbortSignal.any(cs.map((x) => x.signal)).reason
        const d = new AbortController()
        const twice = AbortSignal.any([d.signal, d.signal])
        d.abort('r')
        out.twice = [twice.aborted, twice.reason]
        out.empty = AbortSignal.any([]).aborted
        out.errors = [errorName(() => AbortSignal.any([{}])), errorName(() => AbortSignal.any(5)), errorName(() => AbortSignal.any())]
        return out
      `),
    ).toEqual({
      before: [false, true, null, true],
      after: [true, 'reason string', true],
      firstAborted: 'reason 1',
      twice: [true, 'r'],
      empty: false,
      errors: ['TypeError', 'TypeError', 'TypeError'],
    })
  })

  it('any() takes any iterable; timeout() enforces its range with TypeError', async () => {
    // WebIDL: a sequence is any iterable, [EnforceRange] throws TypeError; Node 20 wants an
    // Array and throws RangeError.
    expect(
      await inGuest(`
        return [AbortSignal.any(new Set([AbortSignal.abort('set')])).reason, errorName(() => AbortSignal.timeout(-1)), errorName(() => AbortSignal.timeout(NaN))]
      `),
    ).toEqual(['set', 'TypeError', 'TypeError'])
  })

  it('any(): composed and intermediate signals fire, in the order the standard gives', async () => {
    expect(
      await sameAsNode(`
        const c = new AbortController()
        let combined = AbortSignal.any([c.signal])
        combined = AbortSignal.any([combined])
        combined = AbortSignal.any([combined])
        let fired
        combined.onabort = () => { fired = combined.reason }
        c.abort('the reason')
        const c2 = new AbortController()
        const signals = [c2.signal]
        signals.push(AbortSignal.any([c2.signal]), AbortSignal.any([c2.signal]))
        signals.push(AbortSignal.any([signals[0]]), AbortSignal.any([signals[1]]))
        let order = ''
        signals.forEach((s, i) => s.addEventListener('abort', () => { order += i }))
        c2.abort()
        const composed = []
        for (let i = 0; i < 3; i++) {
          const cs = [new AbortController(), new AbortController(), new AbortController()]
          const inner = AbortSignal.any([cs[0].signal, cs[1].signal])
          const outer = AbortSignal.any([inner, cs[2].signal])
          cs[i].abort()
          composed.push([inner.aborted, outer.aborted, outer.reason.name])
        }
        return { fired, order, composed }
      `),
    ).toEqual({
      fired: 'the reason',
      order: '01234',
      composed: [
        [true, true, 'AbortError'],
        [true, true, 'AbortError'],
        [false, true, 'AbortError'],
      ],
    })
  })

  it('any(): a result referenced only by its listener still fires', async () => {
    // QuickJS frees an object as soon as nothing references it: a weak link alone would lose it.
    expect(
      await sameAsNode(`
        const c = new AbortController()
        let fired = false
        AbortSignal.any([AbortSignal.any([c.signal])]).addEventListener('abort', () => { fired = true })
        await new Promise((r) => setTimeout(r, 5))
        c.abort()
        return fired
      `),
    ).toBe(true)
  })

  it('timeout() aborts with a TimeoutError, also through any()', async () => {
    expect(
      await sameAsNode(`
        const c = new AbortController()
        const s = AbortSignal.any([c.signal, AbortSignal.timeout(5)])
        const reason = await new Promise((resolve) => { s.onabort = () => resolve([s.reason instanceof DOMException, s.reason.name]) })
        return { reason }
      `),
    ).toEqual({ reason: [true, 'TimeoutError'] })
  })

  it('its members are enumerable, as WebIDL makes them', async () => {
    // Node 20 leaves aborted and reason non-enumerable.
    expect(
      await inGuest(`
        return ['aborted', 'reason', 'throwIfAborted', 'onabort'].map((k) => Object.getOwnPropertyDescriptor(AbortSignal.prototype, k).enumerable)
          .concat(['signal', 'abort'].map((k) => Object.getOwnPropertyDescriptor(AbortController.prototype, k).enumerable))
      `),
    ).toEqual([true, true, true, true, true, true])
  })
})
