/**
 * A call's result JSON cannot carry is refused, as arguments are: a function, NaN, an undefined
 * element, a Map, a BigInt, a cycle... fail the call with ERR_GUEST_EXCEPTION naming the path of
 * the value (`result.items[2]: a function`) and what it is, never a silently changed answer.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createRuntime, isFnboxError, type Runtime } from 'fnbox'

let runtime: Runtime
beforeAll(async () => {
  runtime = await createRuntime({ threads: 1, storage: 'memory' })
  await runtime.deploy('results', {
    breaker: false, // every test here fails calls on purpose
    code: `
      const cyclic = { x: 1 }
      cyclic.self = cyclic
      const values = {
        fn: { items: [1, 2, () => 3] },
        nan: { n: NaN },
        inf: [Infinity],
        hole: [1, undefined],
        map: new Map([[1, 2]]),
        set: { tags: new Set(['a']) },
        bigint: { when: 10n },
        symbol: { s: Symbol('x') },
        cycle: cyclic,
        error: { error: new Error('x') },
        quoted: { 'a b': { c: -Infinity } },
        plain: { a: 1, b: undefined, when: new Date(Date.UTC(2026, 0, 1)), list: [null, 'x', true], o: Object.create(null) },
        // What a toJSON returns is JSON's business, whatever it holds: a Map in it becomes {}.
        made: { money: new (class Money { toJSON() { return { cents: 5, m: new Map(), f: () => 1 } } })() },
        callable: { f: Object.assign(() => 1, { toJSON: () => 'f' }) },
      }
      export const get = (name) => values[name]
      export const later = async (name) => values[name]
      export const nothing = () => undefined
    `,
  })
})
afterAll(() => runtime.close())

describe('a call result JSON cannot carry', () => {
  it.each([
    ['fn', 'result.items[2]: a function'],
    ['nan', 'result.n: NaN'],
    ['inf', 'result[0]: Infinity'],
    ['hole', 'result[1]: undefined (use null)'],
    ['map', 'result: a Map (not a plain object)'],
    ['set', 'result.tags: a Set (not a plain object)'],
    ['bigint', 'result.when: BigInt'],
    ['symbol', 'result.s: a Symbol'],
    ['cycle', 'result.self: a cycle (the value contains itself)'],
    ['error', 'result.error: an Error (not a plain object)'],
    ['quoted', 'result["a b"].c: -Infinity'],
  ])('is refused with the path of the value (%s), returned or resolved', async (name, problem) => {
    for (const exportName of ['get', 'later']) {
      const err = await runtime.call('results', exportName, name).then(
        () => undefined,
        (e: unknown) => e,
      )
      expect(isFnboxError(err, 'ERR_GUEST_EXCEPTION'), String(err)).toBe(true)
      if (!isFnboxError(err)) return
      expect(err.message).toBe(`the function's result must be a JSON value: ${problem}`)
      const colon = problem.indexOf(': ')
      expect(err.details).toMatchObject({ path: problem.slice(0, colon), value: problem.slice(colon + 2) })
    }
  })

  it('passes plain values, dates as JSON has them, drops undefined properties; undefined is no result', async () => {
    const expected = { a: 1, when: '2026-01-01T00:00:00.000Z', list: [null, 'x', true], o: {} }
    expect(await runtime.call('results', 'get', 'plain')).toEqual(expected)
    expect(await runtime.call('results', 'later', 'plain')).toEqual(expected)
    expect(await runtime.call('results', 'nothing')).toBeUndefined()
  })

  it('passes what a toJSON made of a value, as JSON.stringify writes it', async () => {
    for (const exportName of ['get', 'later']) {
      expect(await runtime.call('results', exportName, 'made')).toEqual({ money: { cents: 5, m: {} } })
      expect(await runtime.call('results', exportName, 'callable')).toEqual({ f: 'f' })
    }
  })
})
