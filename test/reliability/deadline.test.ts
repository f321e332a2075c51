import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { isFnboxError } from 'fnbox'
import { Deadline, InvocationBudget, withTimeout } from '../../src/reliability/deadline.js'
import { processWarnings } from '../helpers/warnings.js'
import { ManualClock } from '../helpers/manual-clock.js'

describe('Deadline on an injected clock', () => {
  it('counts its time and aborts its signal on the clock it is given', () => {
    const clock = new ManualClock(Date.UTC(2026, 0, 1))
    const d = new Deadline(1_000, clock)
    const signal = d.signal
    clock.advance(600)
    expect(d.remaining()).toBe(400)
    clock.advance(400 + 49) // due, but host calls get DEADLINE_GRACE_MS (50) more
    expect(signal.aborted).toBe(false)
    clock.advance(1) // the timer fires, and runs its check after pending messages (a 0 ms timer)
    clock.advance(0)
    expect(signal.aborted).toBe(true)
    expect(isFnboxError(signal.reason, 'ERR_TIMEOUT')).toBe(true)
    d.dispose()
    expect(clock.pending).toBe(0)
  })
})

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
    await vi.advanceTimersByTimeAsync(1) // (once the messages already received are handled)
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
      await vi.advanceTimersByTimeAsync(1) // (once the messages already received are handled)
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

describe('Deadline.extendTo', () => {
  beforeEach(() => vi.useFakeTimers())
  afterEach(() => vi.useRealTimers())

  it('moves the end (and its signal) later for a response that streams, never earlier', async () => {
    const d = new Deadline(1_000)
    const signal = d.signal
    d.extendTo(d.startedAt + 500) // earlier: ignored
    expect(d.at).toBe(d.startedAt + 1_000)
    d.extendTo(d.startedAt + 60_000)
    await vi.advanceTimersByTimeAsync(10_000)
    expect(signal.aborted).toBe(false)
    expect(d.remaining()).toBe(50_000)
    await vi.advanceTimersByTimeAsync(50_051)
    expect(signal.aborted).toBe(true)
    expect((signal.reason as Error).message).toMatch(/the invocation's 60000 ms deadline passed/)
  })

  it('lets a response head that arrived with its timer still move it (the head comes first)', async () => {
    const d = new Deadline(1_000)
    const signal = d.signal
    await vi.advanceTimersByTimeAsync(1_050) // its timer fires; the abort waits for pending messages
    d.extendTo(d.startedAt + 60_000) // a streamed head, sent in time, handled in that same turn
    await vi.advanceTimersByTimeAsync(10)
    expect(signal.aborted).toBe(false)
  })

  it('keeps a passed deadline passed', async () => {
    const d = new Deadline(100)
    const signal = d.signal
    await vi.advanceTimersByTimeAsync(200)
    expect(signal.aborted).toBe(true)
    d.extendTo(d.startedAt + 10_000)
    expect(d.at).toBe(d.startedAt + 100)
  })
})

describe('InvocationBudget', () => {
  const limits = { startedAt: 1_000, timeoutMs: 100, cpuMs: 100, streamIdleMs: 50, streamTotalMs: 1_000 }

  it('gives the time to the response head timeoutMs, waitUntil work after a whole body included', () => {
    const b = new InvocationBudget(limits)
    expect(b.next()).toEqual({ at: 1_100, limit: 'timeoutMs' })
    expect(b.hostDeadline()).toBe(1_100)
    b.chunk(1_050) // chunks belong to streamed bodies only
    expect(b.next()).toEqual({ at: 1_100, limit: 'timeoutMs' })
  })

  it('gives a streamed body streamIdleMs between chunks, within streamTotalMs from the start', () => {
    const b = new InvocationBudget(limits)
    b.streamStarted(1_080)
    expect(b.next()).toEqual({ at: 1_130, limit: 'streamIdleMs' })
    expect(b.hostDeadline()).toBe(2_000)
    b.chunk(1_120)
    expect(b.next()).toEqual({ at: 1_170, limit: 'streamIdleMs' })
    b.chunk(1_110) // a late report of an earlier chunk moves nothing back
    expect(b.next()).toEqual({ at: 1_170, limit: 'streamIdleMs' })
    b.chunk(1_980)
    expect(b.next()).toEqual({ at: 2_000, limit: 'streamTotalMs' })
  })

  it('gives waitUntil work after a streamed body timeoutMs from its end, within streamTotalMs', () => {
    const b = new InvocationBudget(limits)
    b.streamStarted(1_010)
    b.bodyEnded(1_020)
    expect(b.next()).toEqual({ at: 1_120, limit: 'timeoutMs' })
    expect(b.hostDeadline()).toBe(1_120)
    const late = new InvocationBudget(limits)
    late.streamStarted(1_010)
    late.bodyEnded(1_950)
    expect(late.next()).toEqual({ at: 2_000, limit: 'streamTotalMs' })
    expect(late.hostDeadline()).toBe(2_000)
  })

  it('never gives a stream less than timeoutMs in all', () => {
    const b = new InvocationBudget({ ...limits, timeoutMs: 5_000, streamTotalMs: 1_000 })
    b.streamStarted(5_900)
    expect(b.next()).toEqual({ at: 5_950, limit: 'streamIdleMs' })
    b.bodyEnded(5_940)
    expect(b.next()).toEqual({ at: 6_000, limit: 'streamTotalMs' })
  })

  it('lets CPU time bind only where it can come before the wall-clock limit', () => {
    const head = new InvocationBudget(limits)
    expect(head.cpuBinds()).toBe(false) // the guest's time never exceeds the time since the start
    expect(new InvocationBudget({ ...limits, cpuMs: 99 }).cpuBinds()).toBe(true)
    head.streamStarted(1_050)
    expect(head.cpuBinds()).toBe(true) // 100 ms of CPU within a 1 s stream
  })

  it('names the option and its value in each error', () => {
    const b = new InvocationBudget(limits)
    expect(b.error('timeoutMs')).toEqual({
      code: 'ERR_TIMEOUT',
      message: 'the function ran past limits.timeoutMs (100 ms)',
      details: { limit: 100, option: 'limits.timeoutMs' },
    })
    expect(b.error('cpuMs')).toMatchObject({ code: 'ERR_CPU_LIMIT', details: { limit: 100, option: 'limits.cpuMs' } })
    expect(b.error('streamIdleMs')).toMatchObject({ code: 'ERR_TIMEOUT', details: { option: 'limits.streamIdleMs' } })
    expect(b.error('streamTotalMs')).toMatchObject({ code: 'ERR_TIMEOUT', details: { option: 'limits.streamTotalMs' } })
  })
})
