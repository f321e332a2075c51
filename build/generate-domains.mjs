// Runs build/generate-domains.ts (bundled by esbuild, packages left external): `npm run types`.
import { mkdir, mkdtemp, rm } from 'node:fs/promises'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { build } from 'esbuild'

const root = new URL('..', import.meta.url).pathname
// Inside the package, so the bundle's external imports resolve from its node_modules.
const cache = join(root, 'node_modules/.cache')
await mkdir(cache, { recursive: true })
const out = await mkdtemp(join(cache, 'fnbox-types-'))
try {
  const file = join(out, 'generate.mjs')
  await build({
    entryPoints: [join(root, 'build/generate-domains.ts')],
    bundle: true,
    platform: 'node',
    format: 'esm',
    packages: 'external',
    outfile: file,
    logLevel: 'warning',
  })
  const { generate } = await import(pathToFileURL(file).href)
  const check = process.argv.includes('--check')
  const stale = await generate(root, check)
  if (check && stale.length > 0) {
    console.error(`generated from the domain registry but stale: ${stale.join(', ')} (run npm run types)`)
    process.exitCode = 1
  } else {
    for (const path of stale) console.log(`wrote ${path}`)
  }
} finally {
  await rm(out, { recursive: true, force: true })
}
