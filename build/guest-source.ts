/**
 * Bundles guest-side JavaScript (the sandbox prelude and the npm polyfills it imports) into one
 * IIFE string for QuickJS. Used by tsup (`?guest` imports) and by tests that load the prelude
 * without a build.
 */
import { fileURLToPath, pathToFileURL } from 'node:url'
import { build, type Plugin } from 'esbuild'

export async function bundleGuest(entry: string): Promise<string> {
  const out = await build({
    entryPoints: [entry],
    bundle: true,
    write: false,
    format: 'iife',
    target: 'es2020',
    minify: true,
    // Guest code sees class and function names (error names, console output, `constructor.name`).
    keepNames: true,
    legalComments: 'none',
    platform: 'neutral',
    mainFields: ['module', 'main'],
  })
  return out.outputFiles[0]!.text
}

/** `import source from './prelude/index.js?guest'` gives the bundled source as a string. */
export const guestSourcePlugin: Plugin = {
  name: 'fnbox-guest-source',
  setup(b) {
    b.onResolve({ filter: /\?guest$/ }, (args) => ({
      path: fileURLToPath(new URL(args.path.slice(0, -'?guest'.length), pathToFileURL(args.resolveDir + '/'))),
      namespace: 'guest-source',
    }))
    b.onLoad({ filter: /.*/, namespace: 'guest-source' }, async (args) => ({
      contents: `export default ${JSON.stringify(await bundleGuest(args.path))}`,
      loader: 'js',
    }))
  },
}
