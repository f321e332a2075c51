/**
 * A new user's first hour, from the packed tarball and the README only, in an `npm init -y`
 * project (CommonJS by default): the Quick start as `app.mjs`, a TypeScript function bundled and
 * type-checked with the CLI, `bundle()`'s result deployed as it is, `fnbox/testing` from a plain
 * script with no test framework installed, then a vitest test of the function, and strict `tsc`
 * (no `skipLibCheck`) over the user's host code and tests.
 */
import { execFile } from 'node:child_process'
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ROOT, runNode } from '../helpers/cli.js'

const run = promisify(execFile)
const versionOf = (name: string): string =>
  (JSON.parse(readFileSync(join(ROOT, 'node_modules', name, 'package.json'), 'utf8')) as { version: string }).version

/** The first ```lang block of a README section. */
function readmeBlock(heading: string, lang: string): string {
  const section = readFileSync(join(ROOT, 'README.md'), 'utf8').split(new RegExp(`^## ${heading}\\s*$`, 'm'))[1]
  const block = section === undefined ? undefined : new RegExp('```' + lang + '\\n([\\s\\S]*?)```').exec(section)?.[1]
  if (block === undefined) throw new Error(`README.md has no \`\`\`${lang} block under "## ${heading}"`)
  return block
}

const FUNCTION = `import { kv } from 'fnbox:host'

export default {
  async fetch(request: Request): Promise<Response> {
    const visits = await kv.incr('visits')
    return Response.json({ visits, path: new URL(request.url).pathname })
  },
}

export async function remember(key: string, value: string): Promise<string | undefined> {
  const before = await kv.get<string>(key)
  await kv.set(key, value, { ttl: 60 })
  return before
}

export const add = (a: number, b: number): number => a + b
`

// A host module of the user's: deploys what bundle() returns, as is and spread with more options.
const HOST = `import { bundle, type Runtime } from 'fnbox'

export async function deployAll(runtime: Runtime): Promise<string[]> {
  const hello = await bundle('functions/hello.ts')
  const a = await runtime.deploy('hello', hello)
  const b = await runtime.deploy('hello2', { ...hello, limits: { timeoutMs: 2000 }, allowedHosts: [] })
  return [a.version, b.version]
}
`

// fnbox/testing from a plain Node script: no test framework is installed yet.
const SCRIPT = `import { createTestRuntime } from 'fnbox/testing'

const t = await createTestRuntime({ clock: new Date('2026-01-01T00:00:00Z') })
await t.deploy('a', { code: 'export const now = () => new Date().toISOString()' })
await t.clock.advance('1h')
console.log('now:', await t.call('a', 'now'))
await t.close()
`

const VITEST = `import { afterEach, beforeEach, expect, it } from 'vitest'
import { createTestRuntime, type TestRuntime } from 'fnbox/testing'
import { deployAll } from '../host.js'

let t: TestRuntime
beforeEach(async () => {
  t = await createTestRuntime({ clock: new Date('2026-03-01T12:00:00Z') })
  await deployAll(t)
})
afterEach(() => t.close())

it('counts visits, adds, and forgets after the ttl', async () => {
  expect(await t.call('hello', 'add', 2, 3)).toBe(5)
  const res = await t.fetch('http://localhost/hello/a/b')
  expect(await res.json()).toEqual({ visits: 1, path: '/a/b' })
  expect(await t.call('hello2', 'remember', 'k', 'v1')).toBeUndefined()
  expect(await t.call('hello2', 'remember', 'k', 'v2')).toBe('v1')
  await t.clock.advance('61s')
  expect(await t.call('hello2', 'remember', 'k', 'v3')).toBeUndefined()
})
`

describe('a new user, from the packed tarball and the README', () => {
  let project: string
  let packs: string
  let tarball: string
  const npm = (args: string[]) =>
    run('npm', [...args, '--no-audit', '--no-fund', '--prefer-offline'], { cwd: project, timeout: 180_000 })
  const write = (files: Record<string, string>) => {
    for (const [name, text] of Object.entries(files)) {
      mkdirSync(dirname(join(project, name)), { recursive: true })
      writeFileSync(join(project, name), text)
    }
  }

  beforeAll(async () => {
    packs = mkdtempSync(join(tmpdir(), 'fnbox-pack-'))
    project = mkdtempSync(join(tmpdir(), 'fnbox-newuser-'))
    const { stdout } = await run('npm', ['pack', '--json', '--ignore-scripts', '--pack-destination', packs], {
      cwd: ROOT,
      timeout: 120_000,
    })
    tarball = join(packs, (JSON.parse(stdout) as { filename: string }[])[0]!.filename)
    await run('npm', ['init', '-y'], { cwd: project })
    // What a user installs for the README's examples: fnbox, Express, TypeScript. No vitest yet.
    await npm([
      'install',
      tarball,
      `express@${versionOf('express')}`,
      `typescript@${versionOf('typescript')}`,
      `@types/node@${versionOf('@types/node')}`,
      `@types/express@${versionOf('@types/express')}`,
    ])
    write({ 'functions/hello.ts': FUNCTION, 'functions/tsconfig.json': readmeBlock('Developing functions', 'json') })
  }, 300_000)

  afterAll(() => {
    rmSync(project, { recursive: true, force: true })
    rmSync(packs, { recursive: true, force: true })
  })

  it('runs the Quick start saved as app.mjs, as the README says, in a CommonJS package', async () => {
    expect(JSON.parse(readFileSync(join(project, 'package.json'), 'utf8'))).toMatchObject({ type: 'commonjs' })
    const quickStart = readmeBlock('Quick start', 'ts').replace(
      /^app\.listen\(3000\)$/m,
      "const server = app.listen(0, '127.0.0.1')",
    )
    expect(quickStart).toContain('const server =')
    write({
      'app.mjs': `${quickStart}
await new Promise((resolve) => (server.listening ? resolve() : server.once('listening', resolve)))
const answer = await fetch('http://127.0.0.1:' + server.address().port + '/fn/hello?name=Ada')
console.log('mounted:', answer.status, JSON.stringify((await answer.json()).hello))
server.close()
await runtime.close()
`,
    })
    const app = await runNode(['app.mjs'], { cwd: project })
    expect(app, app.stderr).toMatchObject({ code: 0 })
    expect(app.stdout).toContain('mounted: 200 "Ada"')
    expect(app.stdout).toContain('[hello] log: greeting Ada')
  })

  it('bundles the TypeScript function with `fnbox bundle --check` into a folder that does not exist', async () => {
    const out = await runNode(
      ['node_modules/fnbox/dist/cli.js', 'bundle', 'functions/hello.ts', '--check', '-o', 'build/hello.js'],
      {
        cwd: project,
      },
    )
    expect(out.code, out.stderr).toBe(0)
    expect(out.stderr).toContain('functions/hello.ts: no type errors')
    expect(existsSync(join(project, 'build/hello.js'))).toBe(true)
  })

  it('uses fnbox/testing from a plain script, without vitest installed; the conformance entry names vitest', async () => {
    expect(existsSync(join(project, 'node_modules/vitest'))).toBe(false)
    write({ 'script.mjs': SCRIPT, 'conformance.mjs': `import 'fnbox/testing/conformance'\n` })
    const script = await runNode(['script.mjs'], { cwd: project })
    expect(script, script.stderr).toMatchObject({ code: 0 })
    expect(script.stdout).toBe('now: 2026-01-01T01:00:00.000Z\n')
    const suites = await runNode(['conformance.mjs'], { cwd: project })
    expect(suites.code).not.toBe(0)
    expect(suites.stderr).toMatch(/Cannot find (package|module) 'vitest'/)
  })

  it("tests the function with vitest and fnbox/testing, deploying bundle()'s result as is", async () => {
    await npm(['install', '--save-dev', `vitest@${versionOf('vitest')}`])
    write({ 'host.ts': HOST, 'test/hello.test.ts': VITEST })
    const vitest = await runNode(['node_modules/vitest/vitest.mjs', 'run'], {
      cwd: project,
      env: { ...process.env, NO_COLOR: '1', FORCE_COLOR: '0' },
      timeoutMs: 120_000,
    })
    expect(vitest, `${vitest.stdout}\n${vitest.stderr}`).toMatchObject({ code: 0 })
    expect(vitest.stdout).toMatch(/Tests\s+1 passed/)
  }, 180_000)

  it('type-checks the host code and its tests under strict, without skipLibCheck', async () => {
    write({
      'tsconfig.json': JSON.stringify({
        compilerOptions: {
          target: 'ES2022',
          module: 'NodeNext',
          moduleResolution: 'NodeNext',
          strict: true,
          exactOptionalPropertyTypes: true,
          noUncheckedIndexedAccess: true,
          skipLibCheck: false,
          noEmit: true,
          types: ['node'],
        },
        include: ['host.ts', 'test'],
      }),
    })
    const tsc = await runNode(['node_modules/typescript/bin/tsc', '-p', '.'], { cwd: project })
    expect(tsc.stdout + tsc.stderr).toBe('')
    expect(tsc.code).toBe(0)
  })
})
