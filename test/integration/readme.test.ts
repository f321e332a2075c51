/**
 * The README's promises, run for real: the example app's self-test, and the "Quick start" and
 * "Data" code blocks themselves, extracted from README.md and executed.
 */
import { randomBytes, randomUUID } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { rm, writeFile } from 'node:fs/promises'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'
import { createRuntime } from 'fnbox'
import { runNode, type CliRun } from '../helpers/cli.js'

const ROOT = fileURLToPath(new URL('../..', import.meta.url))

/** Runs `node <args>` in the repository root; never rejects. */
function node(args: string[], timeoutMs: number): Promise<CliRun> {
  return runNode(args, { cwd: ROOT, timeoutMs })
}

describe('examples/express-app.mjs --self-test', () => {
  it('exits 0 after printing the greeting, the streamed countdown and the runtime.call sum', async () => {
    const run = await node(['examples/express-app.mjs', '--self-test'], 60_000)
    expect(run, `stdout:\n${run.stdout}\nstderr:\n${run.stderr}`).toMatchObject({ code: 0, signal: null })
    expect(run.stdout).toMatch(/^200 \{"message":"Hello, Ada!","requestId":"[0-9a-f-]{36}"\}$/m)
    expect(run.stdout).toContain('greeting Ada') // the guest's console.log, as a log event
    expect(run.stdout).toContain('3...\n2...\n1...\nliftoff!\n')
    expect(run.stdout).toContain('sum via runtime.call: 6')
    expect(run.stdout).toContain('note stored: true') // through kv on the embedded default storage
    expect(run.stdout).toMatch(/^notes counted by the host: [1-9]\d*$/m)
  }, 70_000)
})

describe('README "Quick start"', () => {
  /** The first ```ts block after the "## Quick start" heading. */
  function quickStartBlock(): string {
    const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8')
    const section = readme.split(/^## Quick start\s*$/m)[1]
    const block = section === undefined ? undefined : /```ts\n([\s\S]*?)```/.exec(section)?.[1]
    if (block === undefined) throw new Error('README.md has no ```ts block under "## Quick start"')
    return block
  }

  /** Replaces exactly one occurrence of `find`, so an edited README fails loudly, not silently. */
  function replaceOnce(source: string, find: string | RegExp, replacement: string): string {
    const count =
      typeof find === 'string' ? source.split(find).length - 1 : (source.match(new RegExp(find, 'gm')) ?? []).length
    if (count !== 1) throw new Error(`the Quick start block changed: expected one ${String(find)}, found ${count}`)
    return source.replace(find, replacement)
  }

  it('runs as written (port 0 instead of 3000) and its calls give the documented answers', async () => {
    let source = quickStartBlock()
    expect(source).toMatch(/^import \{ createRuntime \} from 'fnbox'$/m)
    // The only edits: listen on a free port, and keep the values the block computes.
    source = replaceOnce(source, /^app\.listen\(3000\)/m, "const __server = app.listen(0, '127.0.0.1')")
    source = replaceOnce(source, /^await runtime\.call\('hello', 'add', 2, 3\)/m, 'const __sum = $&')
    source += `
await new Promise((resolve) => (__server.listening ? resolve() : __server.once('listening', resolve)))
const __http = await fetch('http://127.0.0.1:' + __server.address().port + '/fn/hello?name=Ada')
const __result = {
  sum: __sum,
  fetchStatus: res.status,
  fetchBody: await res.json(),
  httpStatus: __http.status,
  httpBody: await __http.json(),
}
console.log('__RESULT__' + JSON.stringify(__result))
__server.close()
await runtime.close()
`
    // Inside the package, so that 'fnbox' resolves to this package (self-reference via "exports").
    const file = fileURLToPath(new URL(`./.readme-quickstart-${randomUUID()}.mjs`, import.meta.url))
    await writeFile(file, source)
    let run: CliRun
    try {
      run = await node([file], 60_000)
    } finally {
      await rm(file, { force: true })
    }
    expect(run, `stdout:\n${run.stdout}\nstderr:\n${run.stderr}`).toMatchObject({ code: 0, signal: null })
    const line = run.stdout.split('\n').find((l) => l.startsWith('__RESULT__'))
    expect(line, run.stdout).toBeDefined()
    const result = JSON.parse(line!.slice('__RESULT__'.length)) as Record<string, unknown>
    expect(result).toMatchObject({
      sum: 5, // "await runtime.call('hello', 'add', 2, 3) // 5"
      fetchStatus: 200,
      fetchBody: { hello: 'world', requestId: expect.stringMatching(/^[0-9a-f-]{36}$/) },
      httpStatus: 200, // "GET /fn/hello?name=Ada"
      httpBody: { hello: 'Ada', requestId: expect.stringMatching(/^[0-9a-f-]{36}$/) },
    })
    // runtime.on('log', ...) prints the guest's console.log as the block shows.
    expect(run.stdout).toContain('[hello] log: greeting world')
    expect(run.stdout).toContain('[hello] log: greeting Ada')
  }, 70_000)
})

describe('README "Data: kv, vector, files, secrets, tx"', () => {
  it('runs its function as written, given what it reads (a granted secret, a docs index, an embedding)', async () => {
    const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8')
    const section = readme.split(/^## Data: kv, vector, files, secrets, tx\s*$/m)[1] ?? ''
    const code = /```js\n([\s\S]*?)```/.exec(section)?.[1]
    expect(code, 'a ```js block under "## Data"').toBeDefined()
    const runtime = await createRuntime({
      threads: 1,
      storage: 'memory',
      secrets: { key: randomBytes(32).toString('hex') },
    })
    try {
      await runtime.secrets.set('OPENAI_API_KEY', 'sk-test')
      await runtime.vector.createIndex('docs', { dimensions: 3 })
      await runtime.vector.upsert('docs', [{ id: 'a', values: [1, 0, 0], metadata: { lang: 'en' } }])
      await runtime.deploy('data', { code: code!, secrets: ['OPENAI_API_KEY'] })
      const res = await runtime.fetch(
        new Request('http://localhost/data', { method: 'POST', body: JSON.stringify({ embedding: [1, 0, 0] }) }),
      )
      expect(res.status, await res.clone().text()).toBe(200)
      const body = (await res.json()) as { visits: number; hits: { id: string }[] }
      expect(body.visits).toBe(1)
      expect(body.hits.map((h) => h.id)).toEqual(['a'])
      expect(await runtime.files.read('out/report.txt')).not.toBeNull()
      expect(await runtime.kv.get('order:1')).toEqual({ paid: true })
      expect((await runtime.vector.get('orders', ['1'])).map((v) => v.id)).toEqual(['1'])
    } finally {
      await runtime.close()
    }
  })
})

describe('README "Background work: jobs, cron, hooks"', () => {
  it('runs its function and host code as written', async () => {
    const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8')
    const section = readme.split(/^## Background work: jobs, cron, hooks\s*$/m)[1] ?? ''
    const code = /```js\n([\s\S]*?)```/.exec(section)?.[1]
    const host = /```ts\n([\s\S]*?)```/.exec(section)?.[1]
    expect(code, 'a ```js block').toBeDefined()
    expect(host, 'a ```ts block').toBeDefined()
    const runtime = await createRuntime({ threads: 1, storage: 'memory', jobs: { pollIntervalMs: 100 } })
    try {
      // The host block as an async function of `runtime` and `code`.
      const AsyncFunction = Object.getPrototypeOf(async () => {}).constructor as new (
        ...args: string[]
      ) => (...args: unknown[]) => Promise<void>
      await new AsyncFunction('runtime', 'code', host!)(runtime, code)
      const res = await runtime.fetch(
        new Request('http://localhost/docs', { method: 'POST', body: JSON.stringify({ fileId: 'f2' }) }),
      )
      expect(res.status).toBe(202)
      const { id } = (await res.json()) as { id: string }
      await expect.poll(() => runtime.jobs.get(id).then((j) => j?.state), { timeout: 10_000 }).toBe('completed')
      expect(await runtime.kv.get('embedded:f2')).toEqual({ attempt: 1 })
      const notified = await runtime.jobs.list({ task: 'notify' })
      expect(notified.jobs.length).toBeGreaterThanOrEqual(1)
      await expect(runtime.hooks.run('order.created', { total: -1 })).rejects.toMatchObject({
        message: expect.stringMatching(/negative total/),
      })
    } finally {
      await runtime.close()
    }
  })
})
