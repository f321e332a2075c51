/**
 * The names issue 14 fixes as the contract, where no other test reaches them whole: the guest's
 * `jobs.enqueue` with every option, what `runtime.jobs.get` answers, and the jobs' default time
 * limit.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createRuntime, DEFAULT_LIMITS, type Runtime } from 'fnbox'

const CODE = `
import { jobs } from 'fnbox:host'
export async function enqueue(task, payload, options) {
  return jobs.enqueue(task, payload, options)
}
export async function resize() {}
`

describe('the jobs API names', () => {
  let runtime: Runtime
  beforeAll(async () => {
    runtime = await createRuntime({ threads: 1, storage: 'memory', jobs: false })
    await runtime.deploy('images', { code: CODE, jobs: { resize: 'resize' } })
  })
  afterAll(() => runtime?.close())

  it('the guest enqueue takes runAt, key, priority, maxAttempts and timeoutMs, or delayMs, and answers { id }', async () => {
    const runAt = new Date(Date.now() + 3_600_000).toISOString()
    const options = { runAt, key: 'img:1', priority: 7, maxAttempts: 9, timeoutMs: 120_000 }
    const first = await runtime.call<{ id: string; deduplicated: boolean }>(
      'images',
      'enqueue',
      'resize',
      { n: 1 },
      options,
    )
    expect(first).toEqual({ id: expect.stringMatching(/^[0-9a-f-]{36}$/), deduplicated: false })
    const job = await runtime.jobs.get(first.id)
    expect(job).toEqual({
      id: first.id,
      task: 'resize',
      state: 'queued',
      attempts: 0,
      maxAttempts: 9,
      priority: 7,
      key: 'img:1',
      runAt,
      lastError: null,
      createdAt: expect.any(String),
      finishedAt: null,
    })

    const delayed = await runtime.call<{ id: string }>('images', 'enqueue', 'resize', { n: 2 }, { delayMs: 60_000 })
    const later = (await runtime.jobs.get(delayed.id))!
    expect(Date.parse(later.runAt) - Date.parse(later.createdAt)).toBe(60_000)

    // The same names on the host API, and the states list filters by.
    const host = await runtime.jobs.enqueue('resize', { n: 3 }, { key: 'img:1' })
    expect(host).toEqual({ id: first.id, deduplicated: true })
    expect(await runtime.jobs.cancel(first.id)).toBe(true)
    const { jobs } = await runtime.jobs.list({ state: 'cancelled', task: 'resize', limit: 10 })
    expect(jobs.map((j) => [j.id, j.state])).toEqual([[first.id, 'cancelled']])
  })

  it('jobs get 15 minutes by default (limits.jobTimeoutMs), calls keep limits.timeoutMs', () => {
    expect(DEFAULT_LIMITS.jobTimeoutMs).toBe(15 * 60_000)
    expect(DEFAULT_LIMITS.timeoutMs).toBeLessThan(DEFAULT_LIMITS.jobTimeoutMs)
  })
})
