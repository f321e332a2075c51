import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { bundle, createRuntime, isFnboxError, type Runtime } from 'fnbox'

const root = new URL('../..', import.meta.url).pathname
const fixtures = join(root, 'test/fixtures/bundle')

describe('bundle()', () => {
  it('makes one ES module of a TypeScript entry, its local modules and npm dependencies, fnbox:host left external', async () => {
    const out = await bundle(join(fixtures, 'entry.ts'))
    expect(out.code).toMatch(/from "fnbox:host"/)
    expect(out.code).not.toMatch(/\brequire\(/)
    expect(out.code).toMatch(/export \{/)
    const inputs = Object.keys(out.inputs)
    expect(inputs.some((p) => p.includes('node_modules/zod/'))).toBe(true)
    expect(inputs).toContain('test/fixtures/bundle/helper.ts')
    const map = JSON.parse(out.sourceMap) as { version: number; sources: string[]; sourcesContent: string[] }
    expect(map.version).toBe(3)
    const i = map.sources.findIndex((s) => s.endsWith('helper.ts'))
    expect(map.sourcesContent[i]).toContain('helper failed')
  })

  it('minifies on request', async () => {
    const [plain, minified] = await Promise.all([
      bundle(join(fixtures, 'entry.ts')),
      bundle(join(fixtures, 'entry.ts'), { minify: true }),
    ])
    expect(minified.code.length).toBeLessThan(plain.code.length * 0.7)
  })

  it('refuses Node built-ins, naming the module and its importer', async () => {
    const err = await bundle(join(fixtures, 'uses-node.ts')).catch((e: unknown) => e)
    expect(isFnboxError(err, 'ERR_DEPLOY_FAILED')).toBe(true)
    expect((err as Error).message).toMatch(/"node:fs" is a Node built-in.*uses-node\.ts/)
  })

  it('takes an installed npm package named like a built-in (buffer) as that package', async () => {
    const out = await bundle(join(fixtures, 'uses-buffer-package.ts'))
    expect(Object.keys(out.inputs).some((p) => p.includes('node_modules/buffer/'))).toBe(true)
  })

  it('reports a missing file or a type-less syntax error with its location', async () => {
    const missing = await bundle(join(fixtures, 'nope.ts')).catch((e: unknown) => e)
    expect((missing as Error).message).toMatch(/Could not resolve/)
    const empty = await bundle('').catch((e: unknown) => e)
    expect(isFnboxError(empty, 'ERR_INVALID_OPTION')).toBe(true)
  })
})

// The command line (`fnbox bundle`) is tested in test/integration/cli.test.ts.

describe('deploy({ entry })', () => {
  let runtime: Runtime
  beforeAll(async () => {
    runtime = await createRuntime({ threads: 1, storage: 'memory' })
  })
  afterAll(() => runtime.close())

  it('bundles at deploy and runs the function with its dependencies', async () => {
    await runtime.deploy('bundled', { entry: join(fixtures, 'entry.ts') })
    expect(await runtime.call('bundled', 'greet', { name: 'ada' })).toBe('HELLO ADA!')
    expect(await runtime.call('bundled', 'hash', 'x')).toMatch(/^[0-9a-f]{64}$/)
    const invalid = await runtime.call('bundled', 'greet', { name: '' }).catch((e: unknown) => e)
    expect(isFnboxError(invalid, 'ERR_GUEST_EXCEPTION')).toBe(true)
    expect((invalid as Error).message).toMatch(/too_small|at least 1/)
  })

  it('maps guest stack traces to the TypeScript source', async () => {
    await runtime.deploy('mapped', { entry: join(fixtures, 'entry.ts'), bundle: { minify: true } })
    const events: { errorStack?: string }[] = []
    runtime.on('invoke', (e) => events.push(e))
    const err = await runtime.call('mapped', 'boom').catch((e: unknown) => e)
    expect(isFnboxError(err, 'ERR_GUEST_EXCEPTION')).toBe(true)
    const stack = (err as { details: { stack: string } }).details.stack
    expect(stack).toMatch(/test\/fixtures\/bundle\/helper\.ts:6:\d+/)
    expect(stack).toMatch(/test\/fixtures\/bundle\/entry\.ts:17:\d+/)
    expect(events.at(-1)?.errorStack).toBe(stack)
  })

  it('refuses code and entry together, a bad sourceMap, and an entry that does not bundle', async () => {
    const both = await runtime.deploy('x', { code: 'export {}', entry: 'a.ts' }).catch((e: unknown) => e)
    expect(isFnboxError(both, 'ERR_INVALID_OPTION')).toBe(true)
    const map = await runtime.deploy('x', { code: 'export {}', sourceMap: '{nope' }).catch((e: unknown) => e)
    expect((map as Error).message).toMatch(/options\.sourceMap/)
    const bad = await runtime.deploy('x', { entry: join(fixtures, 'uses-node.ts') }).catch((e: unknown) => e)
    expect(isFnboxError(bad, 'ERR_DEPLOY_FAILED')).toBe(true)
  })
})
