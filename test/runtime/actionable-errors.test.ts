/**
 * Errors a person can act on: a missing export is ERR_NOT_FOUND naming the exports (and never
 * opens the breaker), an open breaker says which failure opened it, arguments JSON cannot carry
 * are refused with their path, and a mount's onError hears of guest exceptions and timeouts.
 */
import type { AddressInfo } from 'node:net'
import express from 'express'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createRuntime, isFnboxError, type Runtime } from 'fnbox'

let runtime: Runtime
beforeAll(async () => {
  runtime = await createRuntime({ threads: 1, storage: 'memory' })
  await runtime.deploy('math', {
    code: `export const add = (a, b) => a + b
           export function echo(...args) { return args }
           export const version = 3`,
    breaker: { volumeThreshold: 2, errorThresholdPercentage: 50 },
  })
})
afterAll(() => runtime.close())

async function failure(p: Promise<unknown>): Promise<Error & { code?: string; details?: Record<string, unknown> }> {
  return p.then(
    () => {
      throw new Error('expected a failure')
    },
    (err: unknown) => err as Error,
  )
}

describe('a missing export', () => {
  it('is ERR_NOT_FOUND naming the function exports there are', async () => {
    const err = await failure(runtime.call('math', 'sum', 1, 2))
    expect(err.code).toBe('ERR_NOT_FOUND')
    expect(err.message).toBe('the function has no export named sum (its function exports: add, echo)')
  })

  it('never counts against the breaker', async () => {
    for (let i = 0; i < 12; i++) expect((await failure(runtime.call('math', 'nope'))).code).toBe('ERR_NOT_FOUND')
    expect(await runtime.call('math', 'add', 2, 3)).toBe(5)
    expect(runtime.stats().functions.math?.breaker?.failures ?? 0).toBe(0)
  })
})

describe('an open breaker', () => {
  it("names the last failure's code and message; an HTTP client sees only that it is open", async () => {
    await runtime.deploy('flaky', {
      code: `export function go() { throw new Error('db password rejected') }
             export default { fetch() { throw new Error('db password rejected') } }`,
      breaker: { volumeThreshold: 2, errorThresholdPercentage: 50, resetTimeoutMs: 60_000 },
    })
    let err = await failure(runtime.call('flaky', 'go'))
    for (let i = 0; i < 5 && err.code !== 'ERR_CIRCUIT_OPEN'; i++) err = await failure(runtime.call('flaky', 'go'))
    expect(err.code).toBe('ERR_CIRCUIT_OPEN')
    expect(err.message).toMatch(
      /^the circuit breaker of function flaky is open \(retry in \d+ s\); the last failure: ERR_GUEST_EXCEPTION: Error: db password rejected$/,
    )
    expect(err.details?.lastFailure).toEqual({ code: 'ERR_GUEST_EXCEPTION', message: 'Error: db password rejected' })
    const res = await runtime.fetch('http://x/flaky')
    expect(res.status).toBe(503)
    const body = await res.text()
    expect(body).toContain('is open')
    expect(body).not.toContain('password')
  })
})

describe('call arguments JSON cannot carry', () => {
  it.each([
    [[1, { when: 10n }], 'args[1].when: BigInt'],
    [[() => 1], 'args[0]: a function'],
    [[{ n: Number.NaN }], 'args[0].n: NaN'],
    [[[1, undefined]], 'args[0][1]: undefined (use null)'],
    [[new Map([[1, 2]])], 'args[0]: a Map (not a plain object)'],
    [[{ 'a b': { c: Infinity } }], 'args[0]["a b"].c: Infinity'],
  ])('are refused with the path of the value: %#', async (args, problem) => {
    const err = await failure(runtime.call('math', 'echo', ...(args as unknown[])))
    expect(err.code).toBe('ERR_INVALID_ARGUMENT')
    expect(err.message).toBe(`call arguments must be JSON values: ${problem}`)
  })

  it('names a cycle', async () => {
    const a: Record<string, unknown> = { x: 1 }
    a.self = a
    const err = await failure(runtime.call('math', 'echo', a))
    expect(err.message).toBe('call arguments must be JSON values: args[0].self: a cycle (the value contains itself)')
  })

  it('pass plain values, dates as JSON has them, and drop undefined properties (absent)', async () => {
    const when = new Date(Date.UTC(2026, 0, 1))
    expect(await runtime.call('math', 'echo', { a: 1, b: undefined, when }, null, [true, 'x'])).toEqual([
      { a: 1, when: '2026-01-01T00:00:00.000Z' },
      null,
      [true, 'x'],
    ])
  })
})

describe("a mount's onError", () => {
  it('hears of guest exceptions and timeouts, with the request', async () => {
    await runtime.deploy('bad', {
      code: `export default { fetch(request) { if (request.url.endsWith('/slow')) return new Promise(() => {}); throw new TypeError('no such user') } }`,
      limits: { timeoutMs: 300 },
    })
    const seen: [string | undefined, string, string | undefined][] = []
    const app = express()
    app.use(
      '/fn',
      runtime.express({
        onError: (error, request) => {
          seen.push([isFnboxError(error) ? error.code : undefined, (error as Error).message, request?.url])
        },
      }),
    )
    const server = app.listen(0, '127.0.0.1')
    await new Promise((resolve) => server.once('listening', resolve))
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
    try {
      const thrown = await fetch(`${base}/fn/bad/user`)
      expect(thrown.status).toBe(500)
      const slow = await fetch(`${base}/fn/bad/slow`)
      expect(slow.status).toBe(504)
    } finally {
      server.close()
    }
    expect(seen).toEqual([
      ['ERR_GUEST_EXCEPTION', 'TypeError: no such user', `${base}/fn/bad/user`],
      ['ERR_TIMEOUT', expect.stringContaining('timeoutMs'), `${base}/fn/bad/slow`],
    ])
  })
})
