// The checks every enqueue goes through (guest and host alike), before any store.
import { describe, expect, it } from 'vitest'
import { JOB_LIMITS } from '../../../src/host/jobs/jobs.js'
import { jobId, listOptions, toJobRequest } from '../../../src/host/jobs/validate.js'

const invalid = (argument: string) =>
  expect.objectContaining({ code: 'ERR_INVALID_ARGUMENT', details: expect.objectContaining({ argument }) })

describe('toJobRequest', () => {
  it('fills the defaults and keeps what was given', () => {
    expect(toJobRequest('resize', { fileId: 'a' })).toEqual({
      task: 'resize',
      payload: { fileId: 'a' },
      priority: 0,
      maxAttempts: 5,
      onVersionGone: 'latest',
    })
    const now = Date.UTC(2030, 0, 1)
    expect(
      toJobRequest(
        'mail:send',
        undefined,
        { runAt: '2030-01-02T00:00:00Z', key: 'k', priority: -3, maxAttempts: 1, timeoutMs: 60_000 },
        { version: 'abc', onVersionGone: 'dead', now },
      ),
    ).toEqual({
      task: 'mail:send',
      payload: null,
      runAt: Date.UTC(2030, 0, 2),
      key: 'k',
      priority: -3,
      maxAttempts: 1,
      timeoutMs: 60_000,
      version: 'abc',
      onVersionGone: 'dead',
    })
    expect(toJobRequest('t', 1, { runAt: new Date(now), delayMs: undefined }, { now }).runAt).toBe(now)
    expect(toJobRequest('t', 1, { delayMs: 0 }).delayMs).toBe(0)
  })

  it('copies the payload as plain JSON', () => {
    const payload = { at: new Date(0), n: Number.NaN, nested: [1, { x: undefined }] }
    expect(toJobRequest('t', payload).payload).toEqual({ at: '1970-01-01T00:00:00.000Z', n: null, nested: [1, {}] })
  })

  it('refuses a payload past the limit with ERR_TOO_LARGE naming the limit and the size', () => {
    const big = 'x'.repeat(JOB_LIMITS.maxPayloadBytes)
    expect(() => toJobRequest('t', big)).toThrow(
      expect.objectContaining({
        code: 'ERR_TOO_LARGE',
        details: { argument: 'payload', limit: JOB_LIMITS.maxPayloadBytes, value: JOB_LIMITS.maxPayloadBytes + 2 },
      }),
    )
    expect(() => toJobRequest('t', { s: '\0' })).toThrow(invalid('payload'))
    expect(() => toJobRequest('t', () => 1)).toThrow(invalid('payload'))
    const cyclic: Record<string, unknown> = {}
    cyclic.self = cyclic
    expect(() => toJobRequest('t', cyclic)).toThrow(invalid('payload'))
  })

  it('refuses bad task names', () => {
    for (const task of ['', ' resize', 'a b', '-x', 'é', 'x'.repeat(129), 42, null]) {
      expect(() => toJobRequest(task, {})).toThrow(
        expect.objectContaining({ details: expect.objectContaining({ argument: 'task' }) }),
      )
    }
    expect(toJobRequest('A_b.c:d/e-f$1', {}).task).toBe('A_b.c:d/e-f$1')
  })

  it('refuses bad options, naming each', () => {
    const now = Date.UTC(2030, 0, 1)
    const cases: [unknown, string][] = [
      [{ priority: 1001 }, 'options.priority'],
      [{ priority: 1.5 }, 'options.priority'],
      [{ maxAttempts: 0 }, 'options.maxAttempts'],
      [{ maxAttempts: 1001 }, 'options.maxAttempts'],
      [{ timeoutMs: 0 }, 'options.timeoutMs'],
      [{ timeoutMs: JOB_LIMITS.maxTimeoutMs + 1 }, 'options.timeoutMs'],
      [{ delayMs: -1 }, 'options.delayMs'],
      [{ delayMs: JOB_LIMITS.maxDelayMs + 1 }, 'options.delayMs'],
      [{ runAt: 'soon' }, 'options.runAt'],
      [{ runAt: {} }, 'options.runAt'],
      [{ runAt: now + JOB_LIMITS.maxDelayMs + 1 }, 'options.runAt'],
      [{ runAt: now, delayMs: 5 }, 'options.runAt'],
      [{ key: '' }, 'options.key'],
      [{ retries: 3 }, 'options.retries'],
      ['fast', 'options'],
    ]
    for (const [options, argument] of cases) {
      expect(() => toJobRequest('t', {}, options, { now }), JSON.stringify(options)).toThrow(invalid(argument))
    }
    expect(() => toJobRequest('t', {}, { key: 'k'.repeat(513) })).toThrow(
      expect.objectContaining({ code: 'ERR_TOO_LARGE', details: expect.objectContaining({ argument: 'options.key' }) }),
    )
  })
})

describe('job ids and list options', () => {
  it('takes only UUIDs as ids, so garbage finds nothing', () => {
    expect(jobId('0190a000-0000-7000-8000-000000000000')).toBe('0190a000-0000-7000-8000-000000000000')
    for (const id of ['', 'x', "'; drop table fnbox_jobs; --", 42, '0190A000-0000-7000-8000-000000000000']) {
      expect(jobId(id)).toBeUndefined()
    }
  })

  it('checks state, task, limit and cursor', () => {
    expect(listOptions(undefined)).toEqual({ limit: 100 })
    expect(listOptions({ state: 'dead', task: 't', limit: 5, cursor: '0190a000-0000-7000-8000-000000000000' })).toEqual(
      {
        state: 'dead',
        task: 't',
        limit: 5,
        cursor: '0190a000-0000-7000-8000-000000000000',
      },
    )
    expect(() => listOptions({ state: 'done' })).toThrow(invalid('options.state'))
    expect(() => listOptions({ limit: 1001 })).toThrow(invalid('options.limit'))
    expect(() => listOptions({ cursor: 'abc' })).toThrow(invalid('options.cursor'))
    expect(() => listOptions({ task: 'a b' })).toThrow(invalid('options.task'))
  })
})
