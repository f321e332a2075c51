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
import { createRequire } from 'node:module'
import { dirname, relative, resolve } from 'node:path'
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
    roots.push(fileURLToPath(new URL('../guest.d.ts', import.meta.url)))
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

/** The `typescript` package installed for `dir`'s project. */
async function loadTypeScript(dir: string): Promise<typeof TS> {
  let path: string
  try {
    path = createRequire(resolve(dir, 'noop.js')).resolve('typescript')
  } catch {
    throw new FnboxError(
      'ERR_NOT_FOUND',
      `--check needs TypeScript in the project (none resolves from ${relative(process.cwd(), dir) || '.'}/): npm install --save-dev typescript`,
    )
  }
  const mod = (await import(pathToFileURL(path).href)) as typeof TS & { default?: typeof TS }
  return mod.default ?? mod
}
