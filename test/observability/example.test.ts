/** examples/observability.mjs runs as written: what its self-test prints is what the README shows. */
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'
import { runNode } from '../helpers/cli.js'

const ROOT = fileURLToPath(new URL('../..', import.meta.url))

describe('examples/observability.mjs --self-test', () => {
  it('prints pino lines with ids, the span tree, fnbox metrics beside Node’s, and health', async () => {
    const run = await runNode(['examples/observability.mjs', '--self-test'], { cwd: ROOT, timeoutMs: 60_000 })
    expect(run, `stdout:\n${run.stdout}\nstderr:\n${run.stderr}`).toMatchObject({ code: 0, signal: null })
    const out = run.stdout
    expect(out).toMatch(
      /^status 200 x-request-id req-ada-1 \{"user":"ada","visits":1,"dims":3,"requestId":"req-ada-1","traceId":"[0-9a-f]{32}"\}$/m,
    )
    expect(out).toContain('status 500 x-request-id req-mallory-1')
    const lines = out
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as Record<string, unknown>)
    expect(lines.find((l) => l.msg === 'Processing' && l.user === 'ada')).toMatchObject({
      function: 'agent',
      requestId: 'req-ada-1',
      traceId: expect.stringMatching(/^[0-9a-f]{32}$/),
    })
    expect(lines.find((l) => l.msg === 'invocation failed')).toMatchObject({
      requestId: 'req-mallory-1',
      code: 'ERR_GUEST_EXCEPTION',
    })
    for (const span of [
      'kv.incr kind=0 parent=agent',
      'GET kind=2 parent=agent',
      'embed kind=0 parent=agent',
      'agent kind=1 parent=-',
    ]) {
      expect(out).toContain(`span ${span}`)
    }
    expect(out).toMatch(
      /^fnbox_invocations_total\{function="agent",version="[0-9a-f]{16}",trigger="http",outcome="ok"\} 1$/m,
    )
    expect(out).toMatch(/^fnbox_egress_requests_total\{upstream="127\.0\.0\.1:\d+",status="200"\} 2$/m)
    expect(out).toContain('nodejs metrics in the same registry: true')
    expect(out).toContain('health 200 ok')
  }, 70_000)
})
