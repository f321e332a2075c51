/**
 * `t.clock.advance('1d')` and longer, as the README promises (`'2d'`): the runtime's own periodic
 * timers (the load sampler every 500 ms, breaker wheels and the autoscaler every second) fall due
 * ~170,000 times a day, which once hit the advance's step limit (meant for 0 ms intervals) and
 * threw. Steps that move the clock are not counted against it now.
 */
import { expect, it } from 'vitest'
import { createTestRuntime } from 'fnbox/testing'

it("advances a day, firing a guest's hourly interval 24 times and its one-day timer", async () => {
  await using t = await createTestRuntime({ clock: new Date('2026-01-01T00:00:00Z') })
  await t.deploy('ticks', {
    code: `
      let ticks = 0
      export async function day() {
        const id = setInterval(() => ticks++, 3_600_000)
        await new Promise((resolve) => setTimeout(resolve, 86_400_000))
        clearInterval(id)
        return { ticks, at: new Date().toISOString() }
      }`,
  })
  const day = t.call('ticks', 'day')
  await t.clock.advance('1d')
  expect(await day).toEqual({ ticks: 24, at: '2026-01-02T00:00:00.000Z' })
}, 120_000)

it('still stops an advance whose timers never let the clock move (a 0 ms interval)', async () => {
  await using t = await createTestRuntime()
  const spin = (): void => void t.clock.setTimeout(spin, 0)
  spin()
  await expect(t.clock.advance('1s')).rejects.toMatchObject({ code: 'ERR_INVALID_ARGUMENT' })
}, 120_000)
