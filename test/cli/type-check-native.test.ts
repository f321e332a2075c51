/**
 * `fnbox bundle --check` with TypeScript 7 (the native compiler, what `npm install typescript`
 * gives now): its package exports only its version, no compiler API, so fnbox runs its `tsc`.
 * The stand-in here is a package shaped like TypeScript 7's (main: the version; bin: tsc) whose
 * `tsc` is this repository's TypeScript 5 command line, so the check is real.
 */
import { existsSync, readdirSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { parseTscOutput } from '../../src/cli/type-check.js'
import { ROOT, runCli, tempProject } from '../helpers/cli.js'

const NATIVE_TS = {
  'node_modules/typescript/package.json': JSON.stringify({
    name: 'typescript',
    version: '7.0.0-stand-in',
    exports: { './package.json': './package.json', '.': './lib/version.cjs' },
    bin: { tsc: './bin/tsc.cjs' },
  }),
  'node_modules/typescript/lib/version.cjs': `exports.version = '7.0.0-stand-in'\n`,
  'node_modules/typescript/bin/tsc.cjs': `require(${JSON.stringify(join(ROOT, 'node_modules/typescript/lib/tsc.js'))})\n`,
}

const FUNCTION = `import { kv } from 'fnbox:host'
export async function count(): Promise<string> {
  const n: number = await kv.incr('n')
  return n
}
`
const TSCONFIG = JSON.stringify({
  compilerOptions: {
    target: 'ES2023',
    module: 'ESNext',
    moduleResolution: 'Bundler',
    lib: ['ES2023', 'DOM'],
    types: ['fnbox/guest'],
    strict: true,
    noEmit: true,
  },
})

describe('fnbox bundle --check with a TypeScript that has no compiler API (TypeScript 7)', () => {
  it("runs the project's tsc with its tsconfig, prints each error as file:line:col, and cleans up", async () => {
    const project = tempProject(
      {
        ...NATIVE_TS,
        'functions/tsconfig.json': TSCONFIG,
        'functions/count.ts': FUNCTION,
        'functions/ok.ts': FUNCTION.replace('Promise<string>', 'Promise<number>'),
      },
      ['fnbox'],
    )
    try {
      const bad = await runCli(['bundle', '--check', 'functions/count.ts', '-o', 'build/count.js'], {
        cwd: project.dir,
      })
      expect(bad.code, bad.stderr).toBe(1)
      expect(bad.stderr).toMatch(
        /^functions\/count\.ts:4:3 - error TS2322: Type 'number' is not assignable to type 'string'\.$/m,
      )
      expect(bad.stderr).toContain('1 type error (TypeScript 7.0.0-stand-in, functions/tsconfig.json)')
      expect(existsSync(join(project.dir, 'build/count.js'))).toBe(false)

      const good = await runCli(['bundle', '--check', 'functions/ok.ts', '-o', 'build/ok.js'], { cwd: project.dir })
      expect(good, good.stderr).toMatchObject({ code: 0 })
      expect(good.stderr).toContain('functions/ok.ts: no type errors (TypeScript 7.0.0-stand-in')
      expect(existsSync(join(project.dir, 'build/ok.js'))).toBe(true)
      // The check's own config, written beside the project's, is gone.
      expect(readdirSync(join(project.dir, 'functions')).sort()).toEqual(['count.ts', 'ok.ts', 'tsconfig.json'])
    } finally {
      project.remove()
    }
  })

  it('reads tsc --pretty false output: located errors, continuation lines, global errors', () => {
    expect(
      parseTscOutput(
        [
          "functions/a.ts(3,7): error TS2322: Type 'number' is not assignable to type 'string'.",
          "  Type 'x' is not 'y'.",
          "error TS5083: Cannot read file '/x/tsconfig.json'.",
          '',
        ].join('\n'),
      ),
    ).toEqual([
      "functions/a.ts:3:7 - error TS2322: Type 'number' is not assignable to type 'string'.\n  Type 'x' is not 'y'.",
      "error TS5083: Cannot read file '/x/tsconfig.json'.",
    ])
  })
})
