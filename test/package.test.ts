import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import { describe, expect, it } from 'vitest'

const run = promisify(execFile)
const root = new URL('..', import.meta.url).pathname

describe('the package as users get it', () => {
  it('works from CommonJS (require) as well as ESM', async () => {
    const script = `
      const { createRuntime, isFnboxError } = require('fnbox')
      ;(async () => {
        const runtime = await createRuntime({ threads: 1 })
        await runtime.deploy('cjs', { code: 'export const hi = (n) => "hi " + n' })
        const out = await runtime.call('cjs', 'hi', 'cjs')
        const err = await runtime.call('nope', 'x').catch((e) => e)
        await runtime.close()
        console.log(JSON.stringify({ out, notFound: isFnboxError(err, 'ERR_NOT_FOUND') }))
      })()`
    const { stdout } = await run(process.execPath, ['-e', script], { cwd: root, timeout: 30_000 })
    expect(JSON.parse(stdout)).toEqual({ out: 'hi cjs', notFound: true })
  })

  it('packs the builds, the executor entry and the guest types', async () => {
    const { stdout } = await run('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], {
      cwd: root,
      timeout: 60_000,
    })
    const files = (JSON.parse(stdout) as { files: { path: string }[] }[])[0]!.files.map((f) => f.path)
    for (const f of [
      'dist/index.js',
      'dist/index.cjs',
      'dist/index.d.ts',
      'dist/index.d.cts',
      'dist/worker.js',
      'dist/cli.js',
      'guest.d.ts',
      'host.d.ts',
    ]) {
      expect(files).toContain(f)
    }
    expect(files.some((f) => f.startsWith('src/') || f.startsWith('test/'))).toBe(false)
  })
})
