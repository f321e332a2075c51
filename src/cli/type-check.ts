/**
 * `fnbox bundle --check`: type-checks a function against fnbox's guest types (`fnbox/guest`,
 * which declares `fnbox:host`) with the TypeScript compiler of the user's project.
 *
 * TypeScript is not a dependency of fnbox (it is 20+ MB, and a project that writes TypeScript has
 * its own, at the version its editor uses): it is resolved from the entry's folder, as `tsc` in
 * that project would be. The compiler options are those of the nearest `tsconfig.json` above the
 * entry (the README shows one for function code), else fnbox's defaults for the sandbox.
 *
 * @internal
 * @module
 */
import { execFile } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { existsSync, readFileSync } from 'node:fs'
import { rm, writeFile } from 'node:fs/promises'
import { createRequire } from 'node:module'
import { basename, dirname, join, relative, resolve } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import type * as TS from 'typescript'
import { FnboxError } from '../errors.js'

/** Options for function code when the project has no tsconfig.json: what the sandbox offers. */
const DEFAULTS = {
  target: 'ES2023',
  module: 'ESNext',
  moduleResolution: 'Bundler',
  lib: ['ES2023', 'DOM', 'DOM.Iterable'],
  types: [],
  strict: true,
  skipLibCheck: true,
  noEmit: true,
  allowImportingTsExtensions: true,
  resolveJsonModule: true,
  isolatedModules: true,
}

/** The result of {@link typeCheck}. */
export interface TypeCheckResult {
  /** One line per problem: `functions/chat.ts:3:7 - error TS2322: ...` (paths relative to `cwd`). */
  diagnostics: string[]
  errors: number
  /** The tsconfig.json used, relative to `cwd`, or undefined for fnbox's defaults. */
  config: string | undefined
  /** The TypeScript version that checked. */
  version: string
}

/**
 * Type-checks `entry` (and what it imports) with the project's TypeScript.
 *
 * @throws FnboxError `ERR_NOT_FOUND` when TypeScript is not installed where the entry is.
 */
export async function typeCheck(entry: string, cwd = process.cwd()): Promise<TypeCheckResult> {
  const file = resolve(cwd, entry)
  const ts = await loadTypeScript(dirname(file))
  // TypeScript 7 (the native compiler) has no JavaScript compiler API (its main export is only
  // its version): its `tsc` checks instead.
  if (typeof ts.createProgram !== 'function') return typeCheckWithTsc(file, cwd, dirname(file))
  const show = (f: string): string => relative(cwd, f) || f
  const diagnostics: TS.Diagnostic[] = []
  const configFile = ts.findConfigFile(dirname(file), ts.sys.fileExists)
  let options: TS.CompilerOptions
  if (configFile === undefined) {
    options = ts.convertCompilerOptionsFromJson(DEFAULTS, dirname(file)).options
  } else {
    const parsed = ts.getParsedCommandLineOfConfigFile(
      configFile,
      {},
      {
        ...ts.sys,
        onUnRecoverableConfigFileDiagnostic: (d) => diagnostics.push(d),
      },
    )
    options = parsed?.options ?? {}
    // Only its options: the entry is what is checked, not every file the config includes.
    diagnostics.push(...(parsed?.errors ?? []).filter((d) => d.code !== 18003 /* no inputs */))
  }
  const roots = [file]
  // `fnbox:host` is declared by fnbox/guest: add it unless the config lists it already.
  if (!(options.types ?? []).some((t) => t === 'fnbox/guest' || t.startsWith('fnbox/guest/'))) {
    roots.push(GUEST_TYPES())
  }
  const program = ts.createProgram(roots, { ...options, noEmit: true })
  diagnostics.push(...ts.getPreEmitDiagnostics(program))
  const lines = diagnostics.map((d) => {
    const category = ts.DiagnosticCategory[d.category].toLowerCase()
    const text = ts.flattenDiagnosticMessageText(d.messageText, '\n  ')
    if (d.file === undefined || d.start === undefined) return `${category} TS${d.code}: ${text}`
    const { line, character } = d.file.getLineAndCharacterOfPosition(d.start)
    return `${show(d.file.fileName)}:${line + 1}:${character + 1} - ${category} TS${d.code}: ${text}`
  })
  return {
    diagnostics: lines,
    errors: diagnostics.filter((d) => d.category === ts.DiagnosticCategory.Error).length,
    config: configFile === undefined ? undefined : show(configFile),
    version: ts.version,
  }
}

/** fnbox's guest types (`fnbox/guest`, which declares `fnbox:host`), beside dist/. */
const GUEST_TYPES = (): string => fileURLToPath(new URL('../guest.d.ts', import.meta.url))

/**
 * Type-checks `file` with the project's `tsc` command: a config of the check's own, written
 * beside the project's tsconfig.json (so `types` and `extends` resolve as they do for it) and
 * removed after, extends it with the entry and the guest types as the only files.
 */
async function typeCheckWithTsc(file: string, cwd: string, dir: string): Promise<TypeCheckResult> {
  const pkg = typeScriptPackage(dir)
  const { version, bin } = JSON.parse(readFileSync(pkg, 'utf8')) as { version: string; bin: { tsc: string } }
  const configFile = findUp(dirname(file), 'tsconfig.json')
  const home = configFile === undefined ? dirname(file) : dirname(configFile)
  const config = join(home, `.fnbox-check-${randomBytes(4).toString('hex')}.json`)
  const files = [file, GUEST_TYPES()]
  await writeFile(
    config,
    JSON.stringify(
      configFile === undefined
        ? { compilerOptions: DEFAULTS, files, include: [] }
        : { extends: `./${basename(configFile)}`, compilerOptions: { noEmit: true }, files, include: [] },
    ),
  )
  let output: string
  try {
    output = await new Promise<string>((done) =>
      execFile(
        process.execPath,
        [join(dirname(pkg), bin.tsc), '-p', config, '--pretty', 'false'],
        { cwd, maxBuffer: 64 * 1024 * 1024 },
        (_error, stdout, stderr) => done(`${stdout}${stderr}`),
      ),
    )
  } finally {
    await rm(config, { force: true })
  }
  const diagnostics = parseTscOutput(output)
  return {
    diagnostics,
    errors: diagnostics.filter((d) => / - error TS\d+:|^error TS\d+:/.test(d)).length,
    config: configFile === undefined ? undefined : relative(cwd, configFile) || configFile,
    version,
  }
}

/**
 * `tsc --pretty false` lines (`src/a.ts(3,7): error TS2322: text`, continuation lines indented)
 * in the form the API path prints (`src/a.ts:3:7 - error TS2322: text`).
 */
export function parseTscOutput(output: string): string[] {
  const lines: string[] = []
  for (const line of output.split(/\r?\n/)) {
    if (line.trim() === '') continue
    const located = /^(.+?)\((\d+),(\d+)\): (error|warning|message) (TS\d+): (.*)$/.exec(line)
    if (located) {
      const [, path, row, column, category, code, text] = located
      lines.push(`${path}:${row}:${column} - ${category} ${code}: ${text}`)
    } else if (/^\s/.test(line) && lines.length > 0) {
      lines[lines.length - 1] += `\n  ${line.trim()}`
    } else {
      lines.push(line)
    }
  }
  return lines
}

/** The nearest `name` in `dir` or a folder above it. */
function findUp(dir: string, name: string): string | undefined {
  for (let at = dir; ; at = dirname(at)) {
    if (existsSync(join(at, name))) return join(at, name)
    if (dirname(at) === at) return undefined
  }
}

/** The package.json of the `typescript` package installed for `dir`'s project. */
function typeScriptPackage(dir: string): string {
  try {
    return createRequire(resolve(dir, 'noop.js')).resolve('typescript/package.json')
  } catch {
    throw new FnboxError(
      'ERR_NOT_FOUND',
      `--check needs TypeScript in the project (none resolves from ${relative(process.cwd(), dir) || '.'}/): npm install --save-dev typescript`,
    )
  }
}

/** The `typescript` package installed for `dir`'s project. */
async function loadTypeScript(dir: string): Promise<typeof TS> {
  typeScriptPackage(dir) // throws ERR_NOT_FOUND, saying how to install it
  const path = createRequire(resolve(dir, 'noop.js')).resolve('typescript')
  const mod = (await import(pathToFileURL(path).href)) as typeof TS & { default?: typeof TS }
  return mod.default ?? mod
}
