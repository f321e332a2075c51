import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import { describe, expect, it } from 'vitest'

const run = promisify(execFile)
const root = new URL('../..', import.meta.url).pathname

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

  // undici (guest fetch) and kysely (SQL storage) cost ~20 MB RSS once loaded: a host that uses
  // neither must not pay for them. The child records every module it loads: ESM resolutions through
  // a loader hook, CommonJS ones in require.cache. It then uses both features, which must load them
  // (a detector that saw nothing would pass the first check vacuously). A function allowed to
  // fetch starts loading undici at deploy, so that its first fetch does not wait ~70 ms for it.
  for (const build of ['esm', 'cjs'] as const) {
    it(`loads undici and kysely at first use only, not with the package (${build})`, async () => {
      const script = `
        const { appendFileSync, readFileSync, rmSync } = require('node:fs')
        const { register } = require('node:module')
        const log = require('node:path').join(require('node:os').tmpdir(), 'fnbox-loaded-' + process.pid)
        const hook = "import { appendFileSync } from 'node:fs'; let file; export function initialize(f) { file = f }" +
          " export async function resolve(s, c, next) { const r = await next(s, c); appendFileSync(file, r.url + ' '); return r }"
        appendFileSync(log, '')
        register('data:text/javascript,' + encodeURIComponent(hook), { data: log })
        const loaded = () => {
          const urls = readFileSync(log, 'utf8').split(' ').concat(Object.keys(require.cache))
          const has = (name) => urls.some((u) => u.includes('/node_modules/' + name + '/'))
          return { undici: has('undici'), kysely: has('kysely') }
        }
        ;(async () => {
          const { createRuntime } = ${build === 'esm' ? "await import('fnbox')" : "require('fnbox')"}
          const atImport = loaded()
          const code = 'export const get = async (url) => (await fetch(url)).text()'
          // A function that may not fetch anything does not load undici.
          const offline = await createRuntime({ threads: 1, storage: 'memory' })
          await offline.deploy('f', { code })
          await new Promise((resolve) => setTimeout(resolve, 200))
          const offlineDeploy = loaded()
          await offline.close()
          const server = require('node:http').createServer((req, res) => res.end('pong'))
          await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve))
          const host = '127.0.0.1:' + server.address().port
          const runtime = await createRuntime({ threads: 1, storage: { pglite: 'memory://' }, allowedHosts: [host] })
          // One that may fetch starts loading it at deploy, before its first fetch.
          await runtime.deploy('f', { code })
          for (let i = 0; i < 100 && !loaded().undici; i++) await new Promise((resolve) => setTimeout(resolve, 20))
          const afterDeploy = loaded()
          const fetched = await runtime.call('f', 'get', 'http://' + host + '/')
          await runtime.kv.set('k', 1)
          const stored = await runtime.kv.get('k')
          const afterUse = loaded()
          await runtime.close()
          server.close()
          rmSync(log)
          console.log(JSON.stringify({ atImport, offlineDeploy, afterDeploy, fetched, stored, afterUse }))
        })()`
      const { stdout } = await run(process.execPath, ['-e', script], { cwd: root, timeout: 60_000 })
      expect(JSON.parse(stdout)).toEqual({
        atImport: { undici: false, kysely: false },
        offlineDeploy: { undici: false, kysely: false },
        afterDeploy: { undici: true, kysely: false },
        fetched: 'pong',
        stored: 1,
        afterUse: { undici: true, kysely: true },
      })
    }, 60_000)
  }

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
