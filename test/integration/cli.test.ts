/**
 * The `fnbox` command line, run as users run it: `node dist/cli.js ...` in a project folder.
 */
import { spawn } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { CLI, hasStack, ROOT, runCli, tempProject } from '../helpers/cli.js'

const VERSION = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version

const HELLO = `export default { fetch: () => new Response('hi') }\n`
// Over 2 MB of output: far more than a pipe holds, so the writer meets the closed pipe.
const BIG = `export const text = ${JSON.stringify('x'.repeat(2 * 1024 * 1024))}\nexport default { fetch: () => new Response(text) }\n`
const TYPE_ERROR = `import { kv } from 'fnbox:host'

export default {
  async fetch(): Promise<Response> {
    const count: string = await kv.incr('hits')
    return Response.json({ count })
  },
}
`
const TYPED = `import { kv, type JsonValue } from 'fnbox:host'
import type { FnboxContext } from 'fnbox/guest'

export default {
  async fetch(request: Request, ctx: FnboxContext): Promise<Response> {
    const count: number = await kv.incr('hits')
    const last: JsonValue | undefined = await kv.get('last')
    return Response.json({ count, last, id: ctx.requestId, url: request.url })
  },
}
`

describe('fnbox (the command line)', () => {
  const project = tempProject({
    'src/api.ts': HELLO,
    'src/big.ts': BIG,
    'src/broken.ts': 'export default {\n',
    'src/node.ts':
      "import { readFileSync } from 'node:fs'\nexport default { fetch: () => new Response(readFileSync('x')) }\n",
  })
  afterAll(() => project.remove())

  it('prints its version with --version and -v', async () => {
    for (const flag of ['--version', '-v']) {
      const run = await runCli([flag], { cwd: project.dir })
      expect(run).toMatchObject({ code: 0, stdout: `${VERSION}\n`, stderr: '' })
    }
  })

  it('documents its exit codes in --help, and answers a missing command with the usage and exit code 2', async () => {
    const help = await runCli(['--help'], { cwd: project.dir })
    expect(help.code).toBe(0)
    expect(help.stdout).toMatch(/^Exit codes:\n {2}0 .*\n {2}1 .*\n {2}2 /m)
    expect(help.stdout).toContain('--check')
    expect(help.stdout).toContain('dev [dir]')
    const none = await runCli([], { cwd: project.dir })
    expect(none).toMatchObject({ code: 2, stdout: '' })
    expect(none.stderr).toContain('Usage: fnbox <command>')
  })

  it('refuses a wrong command line with one line, no stack, and exit code 2', async () => {
    for (const args of [
      ['frobnicate'],
      ['bundle'],
      ['bundle', 'a.ts', 'b.ts'],
      ['bundle', 'src/api.ts', '--port', '1'],
      ['--nope'],
      ['dev', '--port', 'x'],
    ]) {
      const run = await runCli(args, { cwd: project.dir })
      expect(run.code, args.join(' ')).toBe(2)
      expect(run.stderr.split('\n')[0]).toMatch(/^fnbox: \S/)
      expect(hasStack(run.stderr)).toBe(false)
    }
  })

  it('creates the output folder of bundle -o', async () => {
    const run = await runCli(['bundle', 'src/api.ts', '-o', 'build/deep/api.js'], { cwd: project.dir })
    expect(run, run.stderr).toMatchObject({ code: 0, stdout: '' })
    expect(run.stderr).toMatch(/^src\/api\.ts: [\d.]+ KB from 1 file -> build\/deep\/api\.js \(\+ api\.js\.map\)\n$/)
    expect(readFileSync(join(project.dir, 'build/deep/api.js'), 'utf8')).toContain('//# sourceMappingURL=api.js.map')
    expect(JSON.parse(readFileSync(join(project.dir, 'build/deep/api.js.map'), 'utf8'))).toMatchObject({ version: 3 })
  })

  it('is the package bin', () => {
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { bin: Record<string, string> }
    expect(pkg.bin.fnbox).toBe('./dist/cli.js')
    expect(readFileSync(CLI, 'utf8')).toMatch(/^#!\/usr\/bin\/env node\n/)
  })

  it('reports a bundling error in one line with file and line, and exit code 1', async () => {
    const expected: Record<string, RegExp> = {
      'src/broken.ts': /^fnbox: bundling src\/broken\.ts failed: src\/broken\.ts:2: /,
      'src/missing.ts': /^fnbox: .*missing\.ts/,
      'src/node.ts': /^fnbox: bundling src\/node\.ts failed: src\/node\.ts:1: "node:fs" is a Node built-in/,
    }
    for (const [entry, message] of Object.entries(expected)) {
      const run = await runCli(['bundle', entry, '-o', 'out/x.js'], { cwd: project.dir })
      expect(run.code, run.stderr).toBe(1)
      expect(run.stderr.trimEnd().split('\n')).toHaveLength(1)
      expect(run.stderr).toMatch(message)
      expect(existsSync(join(project.dir, 'out/x.js'))).toBe(false)
    }
  })

  it('ends quietly with exit code 0 when the reader of its output goes away (| head)', async () => {
    const child = spawn(process.execPath, [CLI, 'bundle', 'src/big.ts'], {
      cwd: project.dir,
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let stderr = ''
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()))
    let received = 0
    child.stdout.on('data', (chunk: Buffer) => {
      received += chunk.length
      child.stdout.destroy() // as `head -c` does once it has what it wants
    })
    const code = await new Promise<number | null>((resolve) => child.on('close', (c) => resolve(c)))
    expect(received).toBeGreaterThan(0)
    expect(received).toBeLessThan(2 * 1024 * 1024)
    expect({ code, stderr }).toEqual({ code: 0, stderr: '' })
  })
})

describe('fnbox bundle --check', () => {
  it("type-checks the entry against fnbox/guest with the project's TypeScript, and stops on errors", async () => {
    const project = tempProject({ 'functions/count.ts': TYPE_ERROR, 'functions/typed.ts': TYPED }, [
      'typescript',
      'fnbox',
    ])
    try {
      const bad = await runCli(['bundle', '--check', 'functions/count.ts', '-o', 'build/count.js'], {
        cwd: project.dir,
      })
      expect(bad.code, bad.stderr).toBe(1)
      expect(bad.stderr).toMatch(
        /^functions\/count\.ts:5:11 - error TS2322: Type 'number' is not assignable to type 'string'\.$/m,
      )
      expect(bad.stderr).toMatch(
        /^fnbox: functions\/count\.ts: 1 type error \(TypeScript 5\.\d+\.\d+, fnbox's defaults/m,
      )
      expect(existsSync(join(project.dir, 'build/count.js'))).toBe(false)

      const good = await runCli(['bundle', '--check', 'functions/typed.ts', '-o', 'build/typed.js'], {
        cwd: project.dir,
      })
      expect(good, good.stderr).toMatchObject({ code: 0 })
      expect(good.stderr).toMatch(/^functions\/typed\.ts: no type errors/m)
      expect(readFileSync(join(project.dir, 'build/typed.js'), 'utf8')).toContain('from "fnbox:host"')
    } finally {
      project.remove()
    }
  })

  it('uses the nearest tsconfig.json above the entry (the README\'s, with types: ["fnbox/guest"])', async () => {
    const tsconfig = JSON.stringify({
      compilerOptions: {
        target: 'ES2023',
        module: 'ESNext',
        moduleResolution: 'Bundler',
        lib: ['ES2023', 'DOM'],
        types: ['fnbox/guest'],
        strict: true,
        noUnusedLocals: true,
        noEmit: true,
      },
    })
    const project = tempProject(
      {
        'functions/tsconfig.json': tsconfig,
        'functions/typed.ts': TYPED,
        'functions/unused.ts': `const unused = 1\n${HELLO}`,
      },
      ['typescript', 'fnbox'],
    )
    try {
      const good = await runCli(['bundle', '--check', 'functions/typed.ts'], { cwd: project.dir })
      expect(good.code, good.stderr).toBe(0)
      expect(good.stderr).toContain('no type errors (TypeScript 5.')
      expect(good.stderr).toContain('functions/tsconfig.json)')
      // The config's own flags apply.
      const unused = await runCli(['bundle', '--check', 'functions/unused.ts'], { cwd: project.dir })
      expect(unused.code).toBe(1)
      expect(unused.stderr).toMatch(
        /^functions\/unused\.ts:1:7 - error TS6133: 'unused' is declared but its value is never read\.$/m,
      )
    } finally {
      project.remove()
    }
  })

  it('says how to install TypeScript when the project has none', async () => {
    const project = tempProject({ 'functions/typed.ts': TYPED })
    try {
      const run = await runCli(['bundle', '--check', 'functions/typed.ts'], { cwd: project.dir })
      expect(run.code).toBe(1)
      expect(run.stderr).toMatch(/^fnbox: --check needs TypeScript .*: npm install --save-dev typescript\n$/)
    } finally {
      project.remove()
    }
  })
})
