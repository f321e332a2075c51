/**
 * Loading a folder of functions from its fnbox.json (`loadFunctions`, used by `fnbox dev`): the
 * manifest's errors name the field, entries are bundled with their source maps, and everything
 * `deploy` takes is passed on.
 */
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { loadFunctions } from '../../src/dev/load.js'
import { readManifest } from '../../src/dev/manifest.js'
import { createRuntime, isFnboxError, type Runtime } from 'fnbox'
import { ROOT, tempProject } from '../helpers/cli.js'

const GREET = `import { greeting } from './lib/greeting'
export default {
  fetch: (request: Request) => new Response(greeting(new URL(request.url).searchParams.get('name') ?? 'you')),
}
export function fail(): never {
  throw new Error('failed on purpose')
}
`
const GREETING = `export const greeting = (name: string): string => \`hello, \${name}\`\n`

let runtime: Runtime
beforeAll(async () => {
  runtime = await createRuntime({ threads: 1, storage: 'memory' })
})
afterAll(() => runtime.close())

/** The error `fn` rejects with (fails the test when it resolves). */
async function failure(
  fn: () => Promise<unknown>,
): Promise<Error & { code?: string; details?: Record<string, unknown> }> {
  try {
    await fn()
  } catch (err) {
    return err as Error
  }
  throw new Error('expected a failure')
}

/** Loads a temporary folder holding `manifest` (and the greet function); resolves with its error. */
async function load(manifest: unknown): Promise<Error & { code?: string; details?: Record<string, unknown> }> {
  const project = tempProject({
    'fnbox.json': typeof manifest === 'string' ? manifest : JSON.stringify(manifest, null, 2),
    'functions/greet.ts': GREET,
    'functions/lib/greeting.ts': GREETING,
  })
  try {
    const err = await failure(() => loadFunctions(runtime, project.dir))
    // Paths outside the working folder are shown whole: compare them from the project's folder.
    err.message = err.message.replaceAll(`${project.dir}/`, '')
    return err
  } finally {
    project.remove()
  }
}

describe('loadFunctions', () => {
  it('bundles each entry with its imports and deploys it; stacks point at the TypeScript source', async () => {
    const project = tempProject({
      'fnbox.json': JSON.stringify({
        functions: { greet: { entry: 'functions/greet.ts', limits: { timeoutMs: 4000 }, scope: 'tenant-1' } },
      }),
      'functions/greet.ts': GREET,
      'functions/lib/greeting.ts': GREETING,
    })
    try {
      const steps: string[] = []
      const result = await loadFunctions(runtime, project.dir, {
        onProgress: (s) => steps.push(`${s.phase} ${s.function}`),
      })
      expect(steps).toEqual(['bundle greet', 'deploy greet'])
      expect(result.manifest).toBe(join(project.dir, 'fnbox.json'))
      expect(result.functions).toHaveLength(1)
      const [greet] = result.functions
      expect(greet!.entry).toBe(join(project.dir, 'functions/greet.ts'))
      expect(greet!.inputs.sort()).toEqual([
        join(project.dir, 'functions/greet.ts'),
        join(project.dir, 'functions/lib/greeting.ts'),
      ])
      const res = await runtime.fetch(new Request('http://x/greet?name=Ada'))
      expect(await res.text()).toBe('hello, Ada')
      const err = await failure(() => runtime.call('greet', 'fail'))
      expect(err.details?.stack).toMatch(/at fail \(functions\/greet\.ts:6:\d+\)/)
      // Loading the same folder again changes nothing: same version.
      const again = await loadFunctions(runtime, project.dir)
      expect(again.functions[0]!.version).toBe(greet!.version)
    } finally {
      project.remove()
    }
  })

  it('names a missing manifest, and shows what it holds', async () => {
    const project = tempProject({ 'functions/greet.ts': GREET })
    try {
      const err = await failure(() => loadFunctions(runtime, project.dir))
      expect(isFnboxError(err, 'ERR_NOT_FOUND')).toBe(true)
      expect(err.message).toMatch(/fnbox\.json not found: it names each function, e\.g\. \{"functions"/)
    } finally {
      project.remove()
    }
  })

  it('gives the line and column of a JSON syntax error', async () => {
    const err = await load('{\n  "functions": {\n    "greet": { "entry": "functions/greet.ts", }\n  }\n}\n')
    expect(isFnboxError(err, 'ERR_INVALID_OPTION')).toBe(true)
    expect(err.message).toMatch(/fnbox\.json:3:\d+: not valid JSON \(/)
  })

  it.each([
    [{}, /fnbox\.json: functions must be an object \(got undefined\)/],
    [{ functions: [] }, /fnbox\.json: functions must be an object \(got an array\)/],
    [{ function: {} }, /fnbox\.json: function must be a known key: one of \$schema, functions/],
    [
      { functions: { 'no spaces': { entry: 'functions/greet.ts' } } },
      /fnbox\.json: functions\["no spaces"\] must be named with letters/,
    ],
    [
      { functions: { greet: 'functions/greet.ts' } },
      /fnbox\.json: functions\.greet must be an object \(got "functions\/greet\.ts"\)/,
    ],
    [
      { functions: { greet: {} } },
      /fnbox\.json: functions\.greet\.entry must be the path of the function file .*\(got undefined\)/,
    ],
    [
      { functions: { greet: { entry: 'functions/nope.ts' } } },
      /fnbox\.json: functions\.greet\.entry must be a file \(there is none at .*functions\/nope\.ts\)/,
    ],
    [{ functions: { greet: { entry: 'functions' } } }, /functions\.greet\.entry must be a file/],
    [
      { functions: { greet: { entry: 'functions/greet.ts', limitz: {} } } },
      /fnbox\.json: functions\.greet\.limitz must be a known key: one of entry, bundle, limits, pool, /,
    ],
    [
      { functions: { greet: { entry: 'functions/greet.ts', code: 'export default {}' } } },
      /functions\.greet\.code must be a known key/,
    ],
    [
      { functions: { greet: { entry: 'functions/greet.ts', bundle: { minify: 'yes' } } } },
      /fnbox\.json: functions\.greet\.bundle\.minify must be true or false \(got "yes"\)/,
    ],
    [
      { functions: { greet: { entry: 'functions/greet.ts', bundle: { cwd: '/' } } } },
      /fnbox\.json: functions\.greet\.bundle\.cwd must be a known key: one of minify, define, external/,
    ],
  ])('checks the manifest itself, naming the field: %j', async (manifest, message) => {
    const err = await load(manifest)
    expect(err.code).toBe('ERR_INVALID_OPTION')
    expect(err.message).toMatch(message)
    expect(err.details?.file).toMatch(/fnbox\.json$/)
  })

  it.each([
    [
      { limits: { timeoutMs: '5s' } },
      'fnbox.json: functions.greet.limits.timeoutMs must be an integer from 1 to 86400000 (got "5s")',
    ],
    [
      { limits: { timeoutMS: 5 } },
      /^fnbox\.json: functions\.greet\.limits\.timeoutMS must be one of memoryMb, timeoutMs/,
    ],
    [
      { pool: { min: 4, max: 2 } },
      'fnbox.json: functions.greet.pool.min must be at most functions.greet.pool.max (2) (got 4)',
    ],
    [{ secrets: ['OK', 'not ok'] }, /^fnbox\.json: functions\.greet\.secrets\[1\] must be a secret name/],
    [{ allowedHosts: 'api.example.com' }, /^fnbox\.json: functions\.greet\.allowedHosts must be an array/],
    [
      { upstreams: ['openai'] },
      /^fnbox\.json: functions\.greet\.upstreams\[0\] must be the name of an upstream declared/,
    ],
  ])('passes deploy options to deploy, whose errors name the manifest field: %j', async (options, message) => {
    const err = await load({ functions: { greet: { entry: 'functions/greet.ts', ...options } } })
    expect(err.code).toBe('ERR_INVALID_OPTION')
    if (typeof message === 'string') expect(err.message).toBe(message)
    else expect(err.message).toMatch(message)
    expect(err.details?.option).toMatch(/^functions\.greet\./)
  })

  it('says routes is not supported yet, naming the field', async () => {
    const err = await load({ functions: { greet: { entry: 'functions/greet.ts', routes: {} } } })
    expect(err.code).toBe('ERR_INVALID_OPTION')
    expect(err.message).toBe(
      `fnbox.json: functions.greet.routes is not supported yet by this version of fnbox (remove it to deploy the function)`,
    )
  })

  it.each([
    ['cron', {}],
    ['jobs', { resize: 42 }],
    ['hooks', { 'order.created': 42 }],
  ])('passes %s to deploy, and names the manifest field when deploy refuses it', async (key, value) => {
    const err = await load({ functions: { greet: { entry: 'functions/greet.ts', [key]: value } } })
    expect(err.code).toBe('ERR_INVALID_OPTION')
    expect(err.message).toMatch(new RegExp(`^fnbox\\.json: functions\\.greet\\.${key}\\b`))
    expect(err.details?.option).toMatch(new RegExp(`^functions\\.greet\\.${key}`))
  })

  it('bundles every function before deploying any: a syntax error deploys nothing', async () => {
    const project = tempProject({
      'fnbox.json': JSON.stringify({
        functions: { first: { entry: 'good.ts' }, second: { entry: 'bad.ts' } },
      }),
      'good.ts': 'export default { fetch: () => new Response("ok") }\n',
      'bad.ts': 'export default {\n',
    })
    try {
      const err = await failure(() => loadFunctions(runtime, project.dir))
      expect(err.code).toBe('ERR_DEPLOY_FAILED')
      expect(err.message).toMatch(/^bundling bad\.ts failed: bad\.ts:2: /)
      const notFound = await failure(() => runtime.call('first', 'x'))
      expect(isFnboxError(notFound, 'ERR_NOT_FOUND')).toBe(true)
    } finally {
      project.remove()
    }
  })

  it("accepts the README's fnbox.json example", async () => {
    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8')
    const section = readme.split(/^## Developing functions\s*$/m)[1] ?? ''
    const example = /```json\n(\{\n {2}"functions"[\s\S]*?)```/.exec(section)?.[1]
    expect(example, 'a ```json block with "functions" under "## Developing functions"').toBeDefined()
    const manifest = JSON.parse(example!) as { functions: Record<string, { entry: string }> }
    const files: Record<string, string> = { 'fnbox.json': example! }
    for (const fn of Object.values(manifest.functions))
      files[fn.entry] = 'export default { fetch: () => new Response("") }\n'
    const project = tempProject(files)
    try {
      const read = await readManifest(project.dir)
      expect(read.functions.map((f) => f.name)).toEqual(Object.keys(manifest.functions))
    } finally {
      project.remove()
    }
  })
})

describe('runtime.load(dir)', () => {
  it("deploys a folder's functions, and a second load of a changed folder swaps only what changed", async () => {
    const project = tempProject({
      'fnbox.json': JSON.stringify({
        functions: { greet: { entry: 'functions/greet.ts' }, other: { entry: 'functions/other.ts' } },
      }),
      'functions/greet.ts': GREET,
      'functions/lib/greeting.ts': GREETING,
      'functions/other.ts': `export const ping = (): string => 'pong'\n`,
    })
    try {
      const first = await runtime.load(project.dir)
      expect(first.functions.map((f) => f.name)).toEqual(['greet', 'other'])
      expect(await (await runtime.fetch('http://x/greet?name=Ada')).text()).toBe('hello, Ada')
      expect(await runtime.call('other', 'ping')).toBe('pong')

      writeFileSync(
        join(project.dir, 'functions/lib/greeting.ts'),
        `export const greeting = (name: string): string => \`hi, \${name}\`\n`,
      )
      const second = await runtime.load(project.dir)
      const version = (name: string, r: typeof first) => r.functions.find((f) => f.name === name)?.version
      expect(version('greet', second)).not.toBe(version('greet', first))
      expect(version('other', second)).toBe(version('other', first))
      expect(await (await runtime.fetch('http://x/greet?name=Ada')).text()).toBe('hi, Ada')
    } finally {
      project.remove()
    }
  })

  it('names the missing manifest', async () => {
    const project = tempProject({ 'functions/other.ts': `export const ping = () => 'pong'\n` })
    try {
      const err = await failure(() => runtime.load(project.dir))
      expect(isFnboxError(err, 'ERR_NOT_FOUND')).toBe(true)
      expect(err.message).toContain('fnbox.json')
    } finally {
      project.remove()
    }
  })
})
