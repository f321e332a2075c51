/**
 * Executor threads kept warm between runtimes of one process (pool/warm-threads.ts): the next
 * runtime takes a thread a closed one left, and nothing of the closed runtime survives on it.
 */
import { randomUUID } from 'node:crypto'
import { rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { expect, it } from 'vitest'
import { createRuntime, type LogEvent, type Runtime } from 'fnbox'
import { createTestRuntime } from 'fnbox/testing'
import { ROOT, runNode } from '../helpers/cli.js'

/** Threads waiting in the process-wide cache (every copy of fnbox shares it). */
function warm(): number {
  const cache = (globalThis as Record<symbol, unknown>)[Symbol.for('fnbox.warmExecutorThreads')] as
    Map<string, unknown[]> | undefined
  let n = 0
  for (const idle of cache?.values() ?? []) n += idle.length
  return n
}

/** Closes a runtime (its thread goes to the cache), then starts one that takes it; logs it hears. */
async function handOver(close: () => Promise<void>): Promise<{ b: Runtime; lines: LogEvent[] }> {
  const before = warm()
  await close()
  expect(warm()).toBe(before + 1)
  const b = await createRuntime({ threads: 1 })
  // b took the thread the closed runtime left.
  expect(warm()).toBe(before)
  const lines: LogEvent[] = []
  b.on('log', (line) => lines.push(line))
  return { b, lines }
}

it('hands a closed runtime’s idle thread to the next runtime, with no function, instance, global or timer of the first', async () => {
  const a = await createRuntime({ threads: 1 })
  await a.deploy('leaky', {
    code: `export function arm() {
      globalThis.leaked = 'from a'
      setTimeout(() => console.log('timer of a'), 300)
      return 'armed'
    }`,
  })
  expect(await a.call('leaky', 'arm')).toBe('armed')
  const { b, lines } = await handOver(() => a.close())
  try {
    // a's function is not loaded there: b does not know it, and its instances are gone.
    await expect(b.call('leaky', 'arm')).rejects.toMatchObject({ code: 'ERR_NOT_FOUND' })
    await b.deploy('probe', { code: `export const read = () => typeof globalThis.leaked` })
    expect(await b.call('probe', 'read')).toBe('undefined')
    // a's guest timer would have fired by now.
    await new Promise((r) => setTimeout(r, 600))
    expect(lines).toEqual([])
    expect(b.stats().executors[0]!.restarts).toBe(0)
  } finally {
    await b.close()
  }
})

it('a thread a test clock drove follows the system clock in the next runtime, and its guest timers are gone', async () => {
  const t = await createTestRuntime({ clock: new Date('2001-01-01T00:00:00Z') })
  await t.deploy('clock', {
    code: `export const now = () => Date.now()
      export const arm = () => { setTimeout(() => console.log('timer of the test runtime'), 60_000); return 'armed' }`,
  })
  expect(await t.call('clock', 'now')).toBe(Date.parse('2001-01-01T00:00:00Z'))
  // A guest timer on the test clock, never advanced to.
  expect(await t.call('clock', 'arm')).toBe('armed')
  const { b, lines } = await handOver(() => t.close())
  try {
    await b.deploy('clock', { code: `export const now = () => Date.now()` })
    const guest = await b.call<number>('clock', 'now')
    expect(Math.abs(guest - Date.now())).toBeLessThan(60_000)
    expect(lines).toEqual([])
  } finally {
    await b.close()
  }
})

it('does not keep a runtime’s thread that still ran a call when it closed', async () => {
  const a = await createRuntime({ threads: 1 })
  await a.deploy('slow', { code: 'export const wait = (ms) => new Promise((r) => setTimeout(() => r(ms), ms))' })
  const pending = a.call('slow', 'wait', 5_000).catch((e: unknown) => e)
  await new Promise((r) => setTimeout(r, 100))
  const before = warm()
  await a.close({ timeoutMs: 50 })
  expect(await pending).toMatchObject({ code: 'ERR_CLOSED' })
  expect(warm()).toBe(before)
})

it('a script exits at once with a warm thread waiting', async () => {
  const file = join(ROOT, `.warm-threads-${randomUUID()}.mjs`)
  writeFileSync(
    file,
    `import { createRuntime } from 'fnbox'
const runtime = await createRuntime({ threads: 1 })
await runtime.deploy('f', { code: 'export const f = () => 42' })
console.log(await runtime.call('f', 'f'))
await runtime.close()
const start = Date.now()
process.on('exit', () => console.log(Date.now() - start < 4000 ? 'exited' : 'waited'))\n`,
  )
  try {
    const run = await runNode([file], { cwd: ROOT, timeoutMs: 60_000 })
    expect(run, run.stderr).toMatchObject({ code: 0, signal: null })
    expect(run.stdout).toBe('42\nexited\n')
  } finally {
    rmSync(file, { force: true })
  }
}, 70_000)
