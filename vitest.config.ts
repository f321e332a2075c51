import { defineConfig } from 'vitest/config'
import { guestSourceVitePlugin } from './build/guest-source.js'

export default defineConfig({
  // Host modules import the guest bundles (`?guest`, `?guest-chunks`), built from source here.
  plugins: [guestSourceVitePlugin()],
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    pool: 'forks',
    fileParallelism: false,
  },
})
