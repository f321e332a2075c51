/**
 * The rule of test/helpers/backends.ts, checked: a run without server Postgres does not fail its
 * server tests and does not pass them without running them; it skips them, and every skipped
 * test's suite names the reason. The secrets conformance file, run by vitest with the server
 * pointed at a closed port, stands for every file on the matrix.
 */
import { execFile } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { expect, it } from 'vitest'

const ROOT = fileURLToPath(new URL('../..', import.meta.url))

interface JsonReport {
  testResults: { assertionResults: { ancestorTitles: string[]; title: string; status: string }[] }[]
}

it('skips the server Postgres row with the reason in its name, and runs the others', async () => {
  const stdout = await new Promise<string>((resolve, reject) =>
    execFile(
      process.execPath,
      ['node_modules/vitest/vitest.mjs', 'run', '--reporter=json', 'test/conformance/secrets.test.ts'],
      {
        cwd: ROOT,
        env: { ...process.env, FNBOX_TEST_POSTGRES: 'postgres://postgres@127.0.0.1:1/' },
        maxBuffer: 16 * 1024 * 1024,
      },
      (err, out) => (err ? reject(err) : resolve(out)),
    ),
  )
  const report = JSON.parse(stdout.slice(stdout.indexOf('{'))) as JsonReport
  const tests = report.testResults.flatMap((file) => file.assertionResults)
  const server = tests.filter((t) => t.ancestorTitles[0]!.startsWith('server Postgres'))
  expect(server.length).toBeGreaterThan(0)
  for (const t of server) {
    expect(t.status).toBe('skipped')
    expect(t.ancestorTitles[0]).toMatch(/^server Postgres \(skipped: needs server Postgres, .*127\.0\.0\.1:1.*\)$/)
  }
  const others = tests.filter((t) => !t.ancestorTitles[0]!.startsWith('server Postgres'))
  expect(others.filter((t) => t.status === 'passed').length).toBeGreaterThan(0)
  expect(others.filter((t) => t.status === 'failed')).toEqual([])
}, 120_000)
