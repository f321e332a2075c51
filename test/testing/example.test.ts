/**
 * examples/testing run as a user runs it (`npx vitest run` in that folder, its own config), with
 * the README's "Testing functions" block added as one more test file there, as written.
 */
import { readFileSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, expect, it } from 'vitest'
import { ROOT, runNode } from '../helpers/cli.js'

const EXAMPLE = join(ROOT, 'examples', 'testing')
const README_COPY = join(EXAMPLE, 'readme-block.generated.test.ts')

afterAll(() => rmSync(README_COPY, { force: true }))

function readmeBlock(): string {
  const section = readFileSync(join(ROOT, 'README.md'), 'utf8').split(/^## Testing functions\s*$/m)[1]
  const block = section === undefined ? undefined : /```ts\n([\s\S]*?)```/.exec(section)?.[1]
  if (block === undefined) throw new Error('README.md has no ```ts block under "## Testing functions"')
  return block
}

it("passes examples/testing's suite and the README's testing example, run with vitest in that folder", async () => {
  writeFileSync(README_COPY, readmeBlock())
  const run = await runNode([join(ROOT, 'node_modules', 'vitest', 'vitest.mjs'), 'run'], {
    cwd: EXAMPLE,
    env: { ...process.env, NO_COLOR: '1', FORCE_COLOR: '0' },
    timeoutMs: 120_000,
  })
  expect(run, `stdout:\n${run.stdout}\nstderr:\n${run.stderr}`).toMatchObject({ code: 0 })
  expect(run.stdout).toMatch(/Test Files\s+2 passed/)
  expect(run.stdout).toMatch(/Tests\s+4 passed/)
}, 130_000)
