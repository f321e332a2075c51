import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { isFnboxError } from 'fnbox'
import { Deadline, withTimeout } from '../src/reliability/deadline.js'
import { processWarnings } from './helpers/warnings.js'

describe('Deadline', () => {
  beforeEach(() => vi.useFakeTimers())
  afterEach(() => vi.useRealTimers())

  it('tells the time left, never below zero', () => {
    const d = new Deadline(1_000)
    vi.advanceTimersByTime(400)
    expect(d.remaining()).toBe(600)
    vi.advanceTimersByTime(700)
    expect(d.remaining()).toBe(0)
    expect(d.expired).toBe(true)
  })

  it('cuts a host call that would outlive it short, with ERR_TIMEOUT naming the call', async () => {
    const d = new Deadline(1_000)
    vi.advanceTimersByTime(800)
    const slow = d.run('kv.get', () => new Promise((resolve) => setTimeout(() => resolve('late'), 5_000)))
    const result = slow.catch((e: unknown) => e)
    await vi.advanceTimersByTimeAsync(249)
    expect(d.expired).toBe(true) // the sandbox's own limit ends the invocation first...
    await vi.advanceTimersByTimeAsync(1) // ...then, DEADLINE_GRACE_MS later, the host call is cut
    const err = await result
    expect(isFnboxError(err, 'ERR_TIMEOUT')).toBe(true)
    expect((err as Error).message).toMatch(/^kv\.get was cut short: the invocation's 1000 ms deadline passed/)
  })

  it('refuses a call once no time is left, and lets quick ones through', async () => {
    const d = new Deadline(1_000)
    await expect(d.run('kv.set', async () => 'ok')).resolves.toBe('ok')
    vi.advanceTimersByTime(1_000)
    let started = false
    await expect(
      d.run('kv.set', async () => {
        started = true
      }),
    ).rejects.toMatchObject({ code: 'ERR_TIMEOUT' })
    expect(started).toBe(false)
  })

  it('takes 200 concurrent host calls with one listener on its signal: no MaxListeners warning', async () => {
    const d = new Deadline(1_000)
    const warnings = await processWarnings(async () => {
      const quick = Array.from({ length: 200 }, (_, i) => d.run('kv.get', async () => i))
      expect(await Promise.all(quick)).toHaveLength(200)
      const stuck = Array.from({ length: 200 }, () => d.run('kv.get', () => new Promise<never>(() => {})))
      const settled = Promise.allSettled(stuck)
      await vi.advanceTimersByTimeAsync(1_050)
      // Every one of them is cut short, by the one listener's fan-out.
      const results = await settled
      expect(results.every((r) => r.status === 'rejected' && isFnboxError(r.reason, 'ERR_TIMEOUT'))).toBe(true)
    })
    expect(warnings).toEqual([])
  })

  it('aborts its signal when the invocation ends early', () => {
    const d = new Deadline(60_000)
    const { signal } = d
    expect(signal.aborted).toBe(false)
    d.dispose()
    expect(signal.aborted).toBe(true)
  })
})

describe('withTimeout', () => {
  beforeEach(() => vi.useFakeTimers())
  afterEach(() => vi.useRealTimers())

  it('aborts only the timed-out call, and releases a result that arrives late', async () => {
    const late: string[] = []
    let signal: AbortSignal | undefined
    const call = withTimeout(
      (s) => {
        signal = s
        return new Promise<string>((resolve) => setTimeout(() => resolve('response'), 500)) // ignores the signal
      },
      100,
      () => new Error('head timeout'),
      { onLate: (v) => late.push(v) },
    )
    const other = withTimeout(
      () => new Promise<string>((resolve) => setTimeout(() => resolve('other'), 300)),
      1_000,
      () => new Error('x'),
    )
    const outcome = call.catch((e: Error) => e.message)
    await vi.advanceTimersByTimeAsync(100)
    expect(await outcome).toBe('head timeout')
    expect(signal?.aborted).toBe(true)
    await vi.advanceTimersByTimeAsync(400)
    await expect(other).resolves.toBe('other')
    expect(late).toEqual(['response'])
  })

  it('follows its parent signal', async () => {
    const parent = new AbortController()
    const call = withTimeout(
      (s) => new Promise((_, reject) => s.addEventListener('abort', () => reject(s.reason))),
      undefined,
      () => 0,
      {
        parent: parent.signal,
      },
    )
    parent.abort(new Error('guest aborted'))
    await expect(call).rejects.toThrow('guest aborted')
  })

  it('takes 200 concurrent calls under one parent signal without a MaxListeners warning', async () => {
    const parent = new AbortController()
    const warnings = await processWarnings(async () => {
      const calls = Array.from({ length: 200 }, () =>
        withTimeout(
          (s) => new Promise((_, reject) => s.addEventListener('abort', () => reject(s.reason))),
          5_000,
          () => 0,
          {
            parent: parent.signal,
          },
        ),
      )
      parent.abort(new Error('invocation over'))
      const results = await Promise.allSettled(calls)
      expect(results.every((r) => r.status === 'rejected' && (r.reason as Error).message === 'invocation over')).toBe(
        true,
      )
    })
    expect(warnings).toEqual([])
  })
})
