/**
 * The check both multi-host cron tests end with (the engine's and the runtime's): every slot of
 * a per-second schedule made exactly one job, one second after the other, with no slot missed.
 */
import { sql, type Kysely } from 'kysely'
import { expect } from 'vitest'

/** Expects at least `atLeast` slots of `task`, each with one job, each a second after the last. */
export async function expectOneJobPerSecondSlot(db: Kysely<unknown>, task: string, atLeast: number): Promise<void> {
  const { rows } = await sql<{ slot: string; jobs: number }>`
    select payload->>'scheduledTime' as slot, count(*)::int as jobs
    from fnbox_jobs where task = ${task} group by 1 order by 1`.execute(db)
  expect(rows.length).toBeGreaterThanOrEqual(atLeast)
  expect(rows.filter((r) => r.jobs !== 1)).toEqual([])
  const times = rows.map((r) => Date.parse(r.slot))
  expect(times.filter((t, i) => i > 0 && t - times[i - 1]! !== 1000)).toEqual([])
}
