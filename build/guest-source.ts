/**
 * Bundles guest-side JavaScript (the sandbox prelude and the npm polyfills it imports) for QuickJS.
 * Used by tsup (esbuild plugin), by vitest (Vite plugin) and by tests that load the prelude
 * without a build.
 *
 * - `import source from './prelude/index.js?guest'`: the module bundled into one IIFE script.
 * - `import chunks from './prelude/chunks?guest-chunks'`: `{ [name]: source }` for every
 *   `chunks/<name>.js` of that directory. A chunk is bundled like a `?guest` module, then wrapped
 *   as `(function (__fnbox_shared) { ... })`: evaluating the source gives a function that the
 *   prelude core calls with its private registry (see prelude/shared.js).
 *
 * Inside a chunk, `import run from 'pkg/file.js?guest-script'` includes a CommonJS/UMD script
 * verbatim (not re-minified) as `run(exports, module)`.
 *
 * Every chunk is its own bundle, so a module imported by two chunks would exist twice, with its
 * own state and its own classes. The build refuses that unless the module declares itself
 * stateless with a `// @fnbox-guest-shared` line; chunks reach each other through the registry.
 */
import { readdir, readFile } from 'node:fs/promises'
import { basename, join } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { build, type BuildOptions, type Plugin } from 'esbuild'
import type { Plugin as VitePlugin } from 'vitest/config'

const OPTIONS = {
  bundle: true,
  write: false as const,
  format: 'iife',
  target: 'es2020',
  minify: true,
  // Guest code sees class and function names (error names, console output, `constructor.name`).
  keepNames: true,
  legalComments: 'none',
  platform: 'neutral',
  mainFields: ['module', 'main'],
} satisfies BuildOptions

export async function bundleGuest(entry: string): Promise<string> {
  const out = await build({ ...OPTIONS, entryPoints: [entry] })
  return out.outputFiles[0]!.text
}

const SHARED_MARK = '// @fnbox-guest-shared'
const SCRIPT_SUFFIX = '?guest-script'

/** Bundles every `<dir>/<name>.js` as a prelude chunk: `{ name: source }`. */
export async function bundleGuestChunks(dir: string): Promise<Record<string, string>> {
  const names = (await readdir(dir))
    .filter((f) => f.endsWith('.js'))
    .map((f) => basename(f, '.js'))
    .sort()
  const built = await Promise.all(names.map((name) => bundleChunk(join(dir, `${name}.js`))))
  // Which chunks bundle each module: a module in two chunks must be marked stateless.
  const owners = new Map<string, string[]>()
  built.forEach(({ inputs }, i) => {
    for (const input of inputs) owners.set(input, [...(owners.get(input) ?? []), names[i]!])
  })
  for (const [input, chunks] of owners) {
    if (chunks.length < 2 || input.includes('node_modules/')) continue
    if (!(await readFile(input, 'utf8')).includes(SHARED_MARK)) {
      throw new Error(
        `${input} is bundled into the chunks ${chunks.join(', ')}: give it one chunk (others load it through ` +
          `the registry) or, if it holds no state, mark it with "${SHARED_MARK}"`,
      )
    }
  }
  return Object.fromEntries(names.map((name, i) => [name, built[i]!.source]))
}

async function bundleChunk(entry: string): Promise<{ source: string; inputs: string[] }> {
  const scripts: string[] = []
  const out = await build({
    ...OPTIONS,
    entryPoints: [entry],
    metafile: true,
    plugins: [
      {
        name: 'fnbox-guest-script',
        setup(b) {
          b.onResolve({ filter: /\?guest-script$/ }, async (args) => {
            const res = await b.resolve(args.path.slice(0, -SCRIPT_SUFFIX.length), {
              kind: args.kind,
              resolveDir: args.resolveDir,
            })
            if (res.errors.length) return { errors: res.errors }
            return { path: res.path, namespace: 'guest-script' }
          })
          b.onLoad({ filter: /.*/, namespace: 'guest-script' }, async (args) => {
            scripts.push(await readFile(args.path, 'utf8'))
            // A free identifier: the wrapper below declares it.
            return { contents: `export default __fnbox_script${scripts.length - 1}`, loader: 'js' }
          })
        },
      },
    ],
  })
  const body = out.outputFiles[0]!.text
  const prefix = scripts.map((s, i) => `var __fnbox_script${i}=function(exports,module){\n${s}\n};\n`).join('')
  return {
    source: `(function(__fnbox_shared){\n${prefix}${body}})`,
    inputs: Object.keys(out.metafile!.inputs)
      .filter((p) => !p.startsWith('guest-script:'))
      .map((p) => join(process.cwd(), p)),
  }
}

type GuestImport = 'guest' | 'guest-chunks'

/** The path and kind of a `?guest` or `?guest-chunks` import, or undefined for other imports. */
function guestImport(specifier: string, resolveDir: string): { path: string; kind: GuestImport } | undefined {
  const m = /\?(guest|guest-chunks)$/.exec(specifier)
  if (!m) return undefined
  const path = fileURLToPath(new URL(specifier.slice(0, -m[0].length), pathToFileURL(resolveDir + '/')))
  return { path, kind: m[1] as GuestImport }
}

async function guestModule(path: string, kind: GuestImport): Promise<string> {
  const value = kind === 'guest' ? await bundleGuest(path) : await bundleGuestChunks(path)
  return `export default ${JSON.stringify(value)}`
}

/** The esbuild plugin (tsup) for `?guest` and `?guest-chunks` imports. */
export const guestSourcePlugin: Plugin = {
  name: 'fnbox-guest-source',
  setup(b) {
    b.onResolve({ filter: /\?guest(-chunks)?$/ }, (args) => {
      const found = guestImport(args.path, args.resolveDir)!
      return { path: found.path, namespace: `fnbox-${found.kind}` }
    })
    for (const kind of ['guest', 'guest-chunks'] as const) {
      b.onLoad({ filter: /.*/, namespace: `fnbox-${kind}` }, async (args) => ({
        contents: await guestModule(args.path, kind),
        loader: 'js',
      }))
    }
  },
}

/** The same imports for Vite (vitest), so tests can import host modules that use them. */
export function guestSourceVitePlugin(): VitePlugin {
  const PREFIX = '\0fnbox-guest:'
  return {
    name: 'fnbox-guest-source',
    enforce: 'pre',
    resolveId(source, importer) {
      const found = importer ? guestImport(source, join(importer, '..')) : undefined
      return found ? `${PREFIX}${found.kind}:${found.path}` : null
    },
    async load(id) {
      if (!id.startsWith(PREFIX)) return null
      const rest = id.slice(PREFIX.length)
      const colon = rest.indexOf(':')
      return guestModule(rest.slice(colon + 1), rest.slice(0, colon) as GuestImport)
    },
  }
}
