/**
 * An idle runtime does not keep a script alive (its threads are unref'd while nothing is
 * pending, as Node's own agents are), and a call in flight does.
 */
import { randomUUID } from 'node:crypto'
import { rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { expect, it } from 'vitest'
import { ROOT, runNode, type CliRun } from '../helpers/cli.js'

/** Runs a module script in the repository's root (where `fnbox` resolves to the build). */
async function script(body: string): Promise<CliRun> {
  const file = join(ROOT, `.process-life-${randomUUID()}.mjs`)
  writeFileSync(file, `import { createRuntime } from 'fnbox'\n${body}\n`)
  try {
    return await runNode([file], { cwd: ROOT, timeoutMs: 60_000 })
  } finally {
    rmSync(file, { force: true })
  }
}

it('a script that never calls close() exits once its calls are done', async () => {
  const run = await script(
    `const runtime = await createRuntime({ threads: 2, storage: 'memory' })
await runtime.deploy('f', { code: 'export const f = () => 42' })
console.log(await runtime.call('f', 'f'))`,
  )
  expect(run, run.stderr).toMatchObject({ code: 0, signal: null })
  expect(run.stdout).toBe('42\n')
}, 70_000)

it('a call in flight keeps the script alive until it answers, though nothing awaits it', async () => {
  const run = await script(
    `const runtime = await createRuntime({ threads: 1, storage: 'memory' })
await runtime.deploy('slow', { code: 'export const wait = (ms) => new Promise((r) => setTimeout(() => r(ms), ms))' })
runtime.call('slow', 'wait', 300).then((v) => console.log('answered', v))`,
  )
  expect(run, run.stderr).toMatchObject({ code: 0, signal: null })
  expect(run.stdout).toBe('answered 300\n')
}, 70_000)
