/**
 * Jobs under `createTestRuntime`'s clock (memory storage): retries wait their backoff on that
 * clock, so a test walks a job through its attempts to the dead letter by advancing it, and reads
 * each step through `runtime.jobs.get`.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { createTestRuntime, type TestRuntime } from 'fnbox/testing'

const CODE = `
import { kv } from 'fnbox:host'
export async function flaky(payload, ctx) {
  await kv.set('attempt', ctx.job.attempt)
  throw new Error('upstream down (attempt ' + ctx.job.attempt + ')')
}
export async function tick({ scheduledTime }) {
  await kv.set('tick:' + scheduledTime, true)
}
`

describe('jobs on the test clock', () => {
  let t: TestRuntime | undefined
  afterEach(async () => {
    await t?.close()
    t = undefined
  })

  it('retries after exponential backoff with jitter on the test clock, then dead with the last error', async () => {
    t = await createTestRuntime({ clock: Date.UTC(2030, 0, 1) })
    const runtime = t
    await runtime.deploy('fx', { code: CODE, jobs: { flaky: 'flaky' } })
    const { id } = await runtime.jobs.enqueue('flaky', {}, { maxAttempts: 3 })
    const job = () => runtime.jobs.get(id)
    const start = t.clock.now()

    // Attempt 1 runs at once (no time passes), fails, and waits 1 s × 2⁰ × [1, 2).
    await expect.poll(async () => (await job())?.attempts, { timeout: 10_000 }).toBe(1)
    await expect.poll(async () => (await job())?.state, { timeout: 10_000 }).toBe('failed')
    const first = (await job())!
    expect(first.lastError).toContain('upstream down (attempt 1)')
    const wait1 = Date.parse(first.runAt) - start
    expect(wait1).toBeGreaterThanOrEqual(1000)
    expect(wait1).toBeLessThan(2000)
    expect(first.finishedAt).toBeNull()

    // The worker finds a due retry at its next poll (every second, on the test clock): move the
    // clock a quarter second at a time until the attempt starts, which is never before runAt.
    const attemptsAfterSteps = async (attempts: number) =>
      expect
        .poll(
          async () => {
            const seen = (await job())!
            if (seen.attempts < attempts) await t!.clock.advance(250)
            return seen.attempts
          },
          { timeout: 20_000 },
        )
        .toBe(attempts)
    await attemptsAfterSteps(2)
    expect(t.clock.now()).toBeGreaterThanOrEqual(Date.parse(first.runAt))
    await expect.poll(async () => (await job())?.state, { timeout: 10_000 }).toBe('failed')
    const second = (await job())!
    expect(second.lastError).toContain('upstream down (attempt 2)')
    // It failed between first.runAt and now; it waits 1 s × 2¹ × [1, 2) from then.
    expect(Date.parse(second.runAt) - Date.parse(first.runAt)).toBeGreaterThanOrEqual(2000)
    expect(Date.parse(second.runAt) - t.clock.now()).toBeLessThan(4000)

    // The last attempt: dead, its error kept, finished on the test clock.
    await attemptsAfterSteps(3)
    expect(t.clock.now()).toBeGreaterThanOrEqual(Date.parse(second.runAt))
    await expect.poll(async () => (await job())?.state, { timeout: 10_000 }).toBe('dead')
    const dead = (await job())!
    expect(dead).toMatchObject({ attempts: 3, maxAttempts: 3 })
    expect(dead.lastError).toContain('upstream down (attempt 3)')
    expect(Date.parse(dead.finishedAt!)).toBeGreaterThanOrEqual(Date.parse(second.runAt))
    expect(Date.parse(dead.finishedAt!)).toBeLessThanOrEqual(t.clock.now())
    expect((await runtime.jobs.list({ state: 'dead' })).jobs.map((j) => j.id)).toEqual([id])
    expect(await runtime.kv.get('attempt')).toBe(3)
  })

  it('fires cron slots as the test clock passes them, each once, with its scheduledTime', async () => {
    const start = Date.UTC(2030, 0, 1, 12, 0, 0, 500)
    t = await createTestRuntime({ clock: start })
    const runtime = t
    await runtime.deploy('fx', { code: CODE, cron: [{ schedule: '* * * * * *', export: 'tick' }] })
    await t.clock.advance('3s')
    const slots = ['2030-01-01T12:00:01.000Z', '2030-01-01T12:00:02.000Z', '2030-01-01T12:00:03.000Z']
    await expect
      .poll(async () => (await runtime.kv.list({ prefix: 'tick:' })).keys.map((k) => k.key), { timeout: 10_000 })
      .toEqual(slots.map((slot) => `tick:${slot}`))
  })
})
