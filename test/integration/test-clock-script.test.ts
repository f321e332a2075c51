/**
 * `fnbox/testing` in a plain Node script (no test runner): awaiting the clock on an idle runtime
 * keeps the script alive until it settles. Its executor threads are unref'd while idle, and a
 * clock's sync with them used to leave nothing holding the event loop: the script exited with
 * code 13 (an unsettled top-level await) in the middle of `clock.advance`.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, expect, it } from 'vitest'
import { ROOT, runNode } from '../helpers/cli.js'

const dir = mkdtempSync(join(ROOT, 'test', 'integration', '.tmp-clock-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

it('a script awaiting clock.advance on an idle test runtime runs to its end', async () => {
  writeFileSync(
    join(dir, 'script.mjs'),
    `import { createTestRuntime } from 'fnbox/testing'
const t = await createTestRuntime({ clock: new Date('2026-01-01T00:00:00Z') })
await t.deploy('a', { code: 'export const now = () => new Date().toISOString()' })
await t.clock.advance('1h')
await t.clock.settle()
console.log(await t.call('a', 'now'))
await t.close()
`,
  )
  const run = await runNode([join(dir, 'script.mjs')], { cwd: dir })
  expect(run, run.stderr).toMatchObject({ code: 0 })
  expect(run.stdout).toBe('2026-01-01T01:00:00.000Z\n')
})
