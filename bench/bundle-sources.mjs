// fnbox sources (TypeScript) as one ES module, for what runs outside vitest and outside the
// public build: the bench's jobs engine, the test's host processes. Dependencies stay imports,
// resolved from node_modules (the bundle lives under node_modules/.cache for that).
import { mkdirSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { build } from 'esbuild'

const ROOT = fileURLToPath(new URL('../', import.meta.url))

/**
 * Bundles `entry` (a path from the repository root) or `contents` (module source whose imports
 * are relative to the root) into `node_modules/.cache/fnbox/<name>.mjs`; resolves with its path.
 */
export async function bundleSources({ name, entry, contents }) {
  const dir = `${ROOT}node_modules/.cache/fnbox`
  mkdirSync(dir, { recursive: true })
  const outfile = `${dir}/${name}.mjs`
  await build({
    ...(entry ? { entryPoints: [`${ROOT}${entry}`] } : { stdin: { contents, resolveDir: ROOT, loader: 'ts' } }),
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    packages: 'external',
    outfile,
    logLevel: 'error',
  })
  return outfile
}
