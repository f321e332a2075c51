// The example's own vitest config (so the repository's does not apply when run from here).
import { defineConfig } from 'vitest/config'

export default defineConfig({ test: { include: ['*.test.ts'] } })
