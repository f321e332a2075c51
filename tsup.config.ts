import { defineConfig } from 'tsup'
import { guestSourcePlugin } from './build/guest-source.js'

export default defineConfig({
  entry: {
    index: 'src/index.ts',
    worker: 'src/sandbox/worker.ts',
    cli: 'src/cli.ts',
    testing: 'src/testing/index.ts',
    'testing-conformance': 'src/testing/conformance/index.ts',
  },
  format: ['esm', 'cjs'],
  // vitest stays external (a peer dependency): only `fnbox/testing/conformance` imports it.
  dts: {
    entry: {
      index: 'src/index.ts',
      testing: 'src/testing/index.ts',
      'testing-conformance': 'src/testing/conformance/index.ts',
    },
  },
  target: 'node20',
  platform: 'node',
  sourcemap: true,
  clean: true,
  shims: true,
  // ESM splits (tsup's default): the SQL backend is a chunk of its own, so kysely loads with it.
  // The CommonJS build stays one file, its modules initialized (and kysely required) on first use.
  // p-retry is ESM-only: bundled, so the CommonJS build also loads on Node 20.18 (no require(esm)).
  // ipaddr.js is CommonJS: imported from ESM, Node scans its source for export names, and V8
  // optimizes that scan over a 38 KB file: ~10 MB of RSS that stays. Bundled, nothing is scanned.
  noExternal: ['p-retry', 'is-network-error', 'ipaddr.js'],
  esbuildPlugins: [guestSourcePlugin],
})
