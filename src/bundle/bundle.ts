/**
 * Bundling a function: a TypeScript (or JavaScript) entry with npm dependencies becomes one ES
 * module the sandbox can evaluate, with its source map. Used by `fnbox bundle` (cli.ts) and by
 * `runtime.deploy(name, { entry })`.
 *
 * The sandbox is a browser-like runtime without Node built-ins, so packages resolve through their
 * `browser`/`worker` conditions and fields (the OpenAI SDK, the AI SDK and zod all ship such
 * builds); `fnbox:host` stays an import, served by the runtime. A `node:` import, or a bare Node
 * built-in, fails the bundle naming the importer: nothing of Node exists inside.
 *
 * @module
 */
import { builtinModules } from 'node:module'
import { FnboxError } from '../errors.js'

/**
 * Options of {@link bundle}.
 *
 * @public
 */
export interface BundleOptions {
  /** Folder that relative entries and `node_modules` lookups start from. Default `process.cwd()`. */
  cwd?: string
  /** Minify the output (smaller, faster to parse; stack traces still map through the source map). Default `false`. */
  minify?: boolean
  /** Extra `define` replacements, e.g. `{ 'process.env.NODE_ENV': '"production"' }` (that one is the default). */
  define?: Record<string, string>
  /** Module names left as imports besides `fnbox:host` (they must be served by the runtime). */
  external?: string[]
}

/**
 * One bundled function, ready for `runtime.deploy(name, { code, sourceMap })`.
 *
 * @public
 */
export interface BundleResult {
  /** The ES module. */
  code: string
  /** Its source map (JSON, version 3) with the sources embedded. */
  sourceMap: string
  /** The input files, relative to `cwd`, with their sizes in the output. */
  inputs: Record<string, number>
}

/** What the sandbox offers beyond ES2023: the output must not be lowered further. */
const TARGET = 'es2023'
/** Conditions of the packages' `exports` maps: a web worker is the nearest thing to the sandbox. */
const CONDITIONS = ['worker', 'browser', 'import', 'module', 'default']
const NODE_BUILTINS = new Set(builtinModules)
/** Marks the plugin's own resolve call, so it does not see it again. */
const RETRY = Symbol('fnbox-bundle-retry')

/**
 * Bundles a function's entry file into one ES module with a source map.
 *
 * @throws FnboxError `ERR_DEPLOY_FAILED` with esbuild's messages (file, line, text) in `details.errors`.
 * @example
 * ```ts
 * import { bundle } from 'fnbox'
 * const { code, sourceMap } = await bundle('functions/chat.ts')
 * await runtime.deploy('chat', { code, sourceMap })
 * ```
 * @public
 */
export async function bundle(entry: string, options: BundleOptions = {}): Promise<BundleResult> {
  if (typeof entry !== 'string' || entry.length === 0) {
    throw new FnboxError('ERR_INVALID_OPTION', 'bundle entry must be a non-empty path', {
      details: { option: 'entry', value: String(entry) },
    })
  }
  // Loaded on first use: hosts that deploy plain code never pay for esbuild.
  const esbuild = await import('esbuild')
  const cwd = options.cwd ?? process.cwd()
  let out: Awaited<ReturnType<typeof esbuild.build>>
  try {
    out = await esbuild.build({
      entryPoints: [entry],
      absWorkingDir: cwd,
      bundle: true,
      write: false,
      outfile: 'function.js',
      format: 'esm',
      // Browser: `browser` fields (including their maps that stub Node modules out) apply.
      platform: 'browser',
      target: TARGET,
      conditions: CONDITIONS,
      mainFields: ['browser', 'module', 'main'],
      resolveExtensions: ['.ts', '.tsx', '.mts', '.js', '.mjs', '.cjs', '.json'],
      external: ['fnbox:host', ...(options.external ?? [])],
      define: { 'process.env.NODE_ENV': '"production"', ...options.define },
      minify: options.minify === true,
      keepNames: true,
      sourcemap: 'external',
      sourcesContent: true,
      legalComments: 'none',
      metafile: true,
      logLevel: 'silent',
      plugins: [
        {
          name: 'fnbox-no-node',
          setup(b) {
            b.onResolve({ filter: /^[a-z_:/]+$/ }, async (args) => {
              const prefixed = args.path.startsWith('node:')
              const name = prefixed ? args.path.slice(5) : args.path
              if (!NODE_BUILTINS.has(name.split('/')[0]!) || args.pluginData === RETRY) return undefined
              // The name may resolve without Node: an npm package of that name ('events', 'buffer'),
              // or the importer's `browser` field mapping it to another module or to `false` (an
              // empty module). Then esbuild's own resolution stands. Its answer is not handed back
              // as ours: a `false` stub resolves to no file, which a plugin may not return.
              const found = await b.resolve(args.path, {
                kind: args.kind,
                importer: args.importer,
                resolveDir: args.resolveDir,
                pluginData: RETRY,
              })
              if (found.errors.length === 0 && !(prefixed && found.external)) return undefined
              return {
                errors: [
                  {
                    text: `"${args.path}" is a Node built-in: functions run in a sandbox with web APIs only (imported by ${args.importer || 'the entry'})`,
                  },
                ],
              }
            })
          },
        },
      ],
    })
  } catch (err) {
    const errors = (err as { errors?: { text: string; location?: { file: string; line: number } | null }[] }).errors
    const lines = (errors ?? []).map((e) => (e.location ? `${e.location.file}:${e.location.line}: ${e.text}` : e.text))
    throw new FnboxError(
      'ERR_DEPLOY_FAILED',
      `bundling ${entry} failed${lines.length ? `: ${lines.slice(0, 5).join('; ')}` : ''}`,
      { cause: err, details: { entry, errors: lines.join('\n') } },
    )
  }
  let code = ''
  let sourceMap = ''
  for (const file of out.outputFiles ?? []) {
    if (file.path.endsWith('.map')) sourceMap = file.text
    else code = file.text
  }
  // The map is handed over beside the code, not found through a comment.
  code = code.replace(/\n\/\/# sourceMappingURL=\S+\s*$/, '\n')
  const inputs: Record<string, number> = {}
  const output = Object.values(out.metafile?.outputs ?? {}).find((o) => o.entryPoint !== undefined)
  for (const [path, info] of Object.entries(output?.inputs ?? {})) inputs[path] = info.bytesInOutput
  return { code, sourceMap, inputs }
}
