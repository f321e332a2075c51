/**
 * The runtime (not only the engine) through two failures of issue 14: its LISTEN connection
 * killed on server Postgres (new jobs still start promptly), and `kill -9` of a host process on
 * PGlite right after acknowledged enqueues (every one of them runs after the restart).
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pg from 'pg'
import { afterEach, describe, expect, it } from 'vitest'
import { createRuntime, type Runtime } from 'fnbox'
import { describeOn, testPostgres } from '../../helpers/postgres.js'
import { RuntimeHost } from './runtime-host-process.js'

const server = await testPostgres('runtime_recovery')

const CODE = `
import { kv } from 'fnbox:host'
export async function noop(payload, ctx) {
  await kv.set('ran:' + ctx.job.id, true)
}
`

const runtimes: Runtime[] = []
const hosts: RuntimeHost[] = []
afterEach(async () => {
  for (const host of hosts.splice(0)) {
    host.child.kill('SIGKILL')
    await host.exited
  }
  await Promise.all(runtimes.splice(0).map((r) => r.close({ timeoutMs: 100 })))
})

describeOn(server, 'a runtime whose LISTEN connection is killed', () => {
  it('still starts new jobs promptly: the listener reconnects and wakes the worker', async () => {
    const url = await server.url()
    // A poll once a minute: a job starting within seconds was woken, not polled.
    const runtime = await createRuntime({
      threads: 1,
      storage: { postgres: url },
      jobs: { pollIntervalMs: 60_000 },
    })
    runtimes.push(runtime)
    await runtime.deploy('w', { code: CODE, jobs: { noop: 'noop' } })
    const state = (id: string) => runtime.jobs.get(id).then((j) => j?.state)
    const first = await runtime.jobs.enqueue('noop')
    await expect.poll(() => state(first.id), { timeout: 15_000 }).toBe('completed')

    const admin = new pg.Client({ connectionString: url })
    await admin.connect()
    try {
      const listeners = async () =>
        (
          await admin.query<{ pid: number }>(
            `select pid from pg_stat_activity where datname = current_database() and application_name = 'fnbox_listener'`,
          )
        ).rows.map((r) => r.pid)
      const [killed] = await listeners()
      expect(killed).toBeDefined()
      await admin.query('select pg_terminate_backend($1)', [killed])

      const second = await runtime.jobs.enqueue('noop')
      await expect.poll(() => state(second.id), { timeout: 15_000 }).toBe('completed')
      // A new listener, and it carries the next wake-up too.
      await expect.poll(async () => (await listeners()).filter((pid) => pid !== killed).length).toBe(1)
      const third = await runtime.jobs.enqueue('noop')
      await expect.poll(() => state(third.id), { timeout: 15_000 }).toBe('completed')
    } finally {
      await admin.end()
    }
  }, 60_000)
})

describe('a runtime process on PGlite killed with -9 right after acknowledged enqueues', () => {
  it('loses none: every acknowledged job runs after the restart', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'fnbox-kill9-'))
    try {
      const folder = join(dir, 'pglite')
      // This host only enqueues (jobs: false), so nothing runs before the kill.
      const victim = await RuntimeHost.start({ pglite: folder, jobs: false }, (h) => hosts.push(h))
      victim.child.send({ type: 'enqueue', count: 500 })
      await victim.until((m) => m.type === 'enqueued' && victim.enqueued.length >= 20)
      victim.child.kill('SIGKILL') // while it is still enqueueing
      await victim.exited
      const acknowledged = victim.enqueued
      expect(acknowledged.length).toBeGreaterThanOrEqual(20)

      const runtime = await createRuntime({ threads: 1, storage: { pglite: folder }, files: 'memory' })
      runtimes.push(runtime)
      await runtime.deploy('worker', { code: CODE, jobs: { noop: 'noop' } })
      for (const id of acknowledged) {
        await expect.poll(() => runtime.jobs.get(id).then((j) => j?.state), { timeout: 30_000 }).toBe('completed')
      }
    } finally {
      await Promise.all(runtimes.splice(0).map((r) => r.close({ timeoutMs: 100 })))
      await rm(dir, { recursive: true, force: true })
    }
  }, 120_000)
})
