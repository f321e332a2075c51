/**
 * The packed tarball installed into a fresh project, as a user gets it: its published types
 * compile under strict settings without `skipLibCheck` and without `@types/*` packages for
 * fnbox's internals, and function code type-checks with the tsconfig the README shows.
 */
import { execFile } from 'node:child_process'
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync, mkdirSync, existsSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ROOT, runNode } from '../helpers/cli.js'

const run = promisify(execFile)
const versionOf = (name: string): string =>
  (JSON.parse(readFileSync(join(ROOT, 'node_modules', name, 'package.json'), 'utf8')) as { version: string }).version

/** The tsconfig for function code, as the README's "Developing functions" section shows it. */
function readmeFunctionTsconfig(): string {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8')
  const section = readme.split(/^## Developing functions\s*$/m)[1] ?? ''
  const block = /```json\n(\{\n {2}"compilerOptions"[\s\S]*?)```/.exec(section)?.[1]
  if (block === undefined) throw new Error('README.md has no tsconfig block under "## Developing functions"')
  return block
}

const STRICT = {
  strict: true,
  exactOptionalPropertyTypes: true,
  noUncheckedIndexedAccess: true,
  noImplicitOverride: true,
  noPropertyAccessFromIndexSignature: true,
  skipLibCheck: false,
  noEmit: true,
}

// A host app touching the public surface: options, deploy, calls, mounts, events, storage, errors.
const APP = `import { bundle, createRuntime, isFnboxError, type PgPoolLike, type RuntimeOptions, type StorageOption } from 'fnbox'

declare const pool: PgPoolLike
const storage: StorageOption = { postgres: pool, kv: { unlogged: true } }
const options: RuntimeOptions = { threads: 1, storage, limits: { timeoutMs: 5000 }, pool: { max: 4 } }
const runtime = await createRuntime(options)
runtime.on('invoke', (e) => console.log(e.function, e.durationMs, e.error ?? 'ok'))
runtime.on('log', (e) => console.log(\`[\${e.function}] \${e.message}\`))
const { code, sourceMap } = await bundle('functions/hello.ts', { minify: true })
const { version } = await runtime.deploy('hello', { code, sourceMap, secrets: ['API_KEY'], allowedHosts: ['api.example.com'] })
const sum: number = await runtime.call<number>('hello', 'add', 1, 2)
const res: Response = await runtime.fetch(new Request('http://localhost/hello'))
const express = runtime.express({ onError: (error) => void console.error(error) })
const koa = runtime.koa({ prefix: '/fn' })
const value = await runtime.kv.get('k')
try {
  await runtime.call('hello', 'nope')
} catch (err) {
  if (isFnboxError(err, 'ERR_NOT_FOUND')) console.log(err.code, err.status, err.details)
}
console.log(version, sum, res.status, express.name, koa.name, value, runtime.stats().functions)
await runtime.close()
`
const APP_CJS = `import fnbox = require('fnbox')
void fnbox.createRuntime({ storage: 'memory' }).then((runtime) => runtime.close())
`
const FUNCTION = `import { kv, secrets, utils, vector, type JsonValue } from 'fnbox:host'
import type { FnboxContext, FnboxFetchExport } from 'fnbox/guest'

export default {
  async fetch(request: Request, ctx: FnboxContext): Promise<Response> {
    const visits: number = await kv.incr('visits')
    const last: JsonValue | undefined = await kv.get('last')
    const hits = await vector.query('docs', { vector: [0.1, 0.2], topK: 3 })
    ctx.waitUntil(kv.set('last', utils.uuid(), { ttl: 60 }))
    return Response.json({ visits, last, hits: hits.length, key: secrets.get('API_KEY') !== undefined, url: request.url })
  },
} satisfies FnboxFetchExport

export const add = (a: number, b: number): number => a + b
`

describe('the packed tarball in a fresh project', () => {
  let project: string
  let packs: string

  beforeAll(async () => {
    packs = mkdtempSync(join(tmpdir(), 'fnbox-pack-'))
    project = mkdtempSync(join(tmpdir(), 'fnbox-user-'))
    const { stdout } = await run('npm', ['pack', '--json', '--ignore-scripts', '--pack-destination', packs], {
      cwd: ROOT,
      timeout: 120_000,
    })
    const tarball = join(packs, (JSON.parse(stdout) as { filename: string }[])[0]!.filename)
    writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'user-app', private: true, type: 'module' }))
    // TypeScript and Node's own types (a host app runs on Node), nothing else: no @types/pg,
    // @types/express, @types/koa, @types/opossum...
    await run(
      'npm',
      [
        'install',
        '--no-audit',
        '--no-fund',
        '--prefer-offline',
        '--ignore-scripts',
        tarball,
        `typescript@${versionOf('typescript')}`,
        `@types/node@${versionOf('@types/node')}`,
      ],
      { cwd: project, timeout: 180_000 },
    )
    const files: Record<string, string> = {
      'app.ts': APP,
      'app.cts': APP_CJS,
      'tsconfig.json': JSON.stringify({
        compilerOptions: {
          target: 'ES2022',
          module: 'NodeNext',
          moduleResolution: 'NodeNext',
          ...STRICT,
          verbatimModuleSyntax: true,
        },
        files: ['app.ts'],
      }),
      'tsconfig.cjs.json': JSON.stringify({
        compilerOptions: { target: 'ES2022', module: 'CommonJS', moduleResolution: 'Node10', ...STRICT },
        files: ['app.cts'],
      }),
      'functions/tsconfig.json': readmeFunctionTsconfig(),
      'functions/hello.ts': FUNCTION,
    }
    for (const [name, text] of Object.entries(files)) {
      mkdirSync(dirname(join(project, name)), { recursive: true })
      writeFileSync(join(project, name), text)
    }
  }, 300_000)

  afterAll(() => {
    rmSync(project, { recursive: true, force: true })
    rmSync(packs, { recursive: true, force: true })
  })

  it('has no @types package but Node’s', () => {
    expect(readdirSync(join(project, 'node_modules/@types'))).toEqual(['node'])
  })

  it.each(['tsconfig.json', 'tsconfig.cjs.json'])(
    'compiles a host app under strict settings without skipLibCheck (%s)',
    async (config) => {
      const tsc = await runNode([join(project, 'node_modules/typescript/bin/tsc'), '-p', config], { cwd: project })
      expect(tsc.stdout + tsc.stderr).toBe('')
      expect(tsc.code).toBe(0)
    },
  )

  it("type-checks a function importing fnbox:host with the README's tsconfig", async () => {
    const tsc = await runNode([join(project, 'node_modules/typescript/bin/tsc'), '-p', 'functions'], { cwd: project })
    expect(tsc.stdout + tsc.stderr).toBe('')
    expect(tsc.code).toBe(0)
  })

  it('bundles it with the installed fnbox bundle --check', async () => {
    const cli = join(project, 'node_modules/fnbox/dist/cli.js')
    const out = await runNode([cli, 'bundle', '--check', 'functions/hello.ts', '-o', 'build/hello.js'], {
      cwd: project,
    })
    expect(out.code, out.stderr).toBe(0)
    expect(out.stderr).toContain('functions/hello.ts: no type errors')
    expect(out.stderr).toContain('functions/tsconfig.json')
    expect(existsSync(join(project, 'build/hello.js'))).toBe(true)
  })
})
