/**
 * `fnbox dev`, run as a user runs it: the built CLI in a project folder with a TypeScript function,
 * called over HTTP while its files are edited.
 */
import type { ChildProcess } from 'node:child_process'
import { createServer, type AddressInfo, type Socket } from 'node:net'
import { existsSync, renameSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { spawnCli, tempProject } from '../helpers/cli.js'
import { waitFor } from '../helpers/wait.js'

const API = `import { kv } from 'fnbox:host'
import { VERSION } from './version'

export default {
  async fetch(request: Request): Promise<Response> {
    const path = new URL(request.url).pathname
    if (path.endsWith('/slow')) {
      await kv.set('slow-started', true)
      while (!(await kv.get('release'))) await new Promise((resolve) => setTimeout(resolve, 10))
      return new Response(\`slow answered by \${VERSION}\`)
    }
    if (path.endsWith('/started')) return Response.json(await kv.get('slow-started'))
    if (path.endsWith('/release')) {
      await kv.set('release', true)
      return new Response('released')
    }
    if (path.endsWith('/throw')) throw new Error('thrown on purpose')
    console.log('serving', VERSION)
    return new Response(VERSION)
  },
}
`
const version = (v: string): string => `export const VERSION: string = '${v}'\n`

/** A running `fnbox dev`, its output collected line by line. */
class Dev {
  readonly child: ChildProcess
  readonly lines: string[] = []
  readonly exited: Promise<number | null>

  constructor(args: string[], cwd: string, env: NodeJS.ProcessEnv = process.env) {
    this.child = spawnCli(['dev', ...args], { cwd, env })
    let partial = ''
    const take = (chunk: Buffer): void => {
      const text = partial + chunk.toString()
      const parts = text.split('\n')
      partial = parts.pop() ?? ''
      this.lines.push(...parts)
    }
    this.child.stdout!.on('data', take)
    this.child.stderr!.on('data', take)
    this.exited = new Promise((resolve) => this.child.on('exit', (code) => resolve(code)))
  }

  /** Waits until a line matches; resolves with its match. */
  async line(pattern: RegExp, from = 0, timeoutMs = 60_000): Promise<RegExpMatchArray> {
    let found: RegExpMatchArray | null = null
    await waitFor(() => this.lines.slice(from).some((l) => (found = pattern.exec(l)) !== null), timeoutMs)
    if (found === null) throw new Error(`no line matched ${pattern}; output:\n${this.lines.join('\n')}`)
    return found
  }

  output(): string {
    return this.lines.join('\n')
  }
}

async function text(url: string): Promise<string> {
  return (await fetch(url)).text()
}

/** Polls `url` until its body is `expected`. */
async function answers(url: string, expected: string, dev: Dev): Promise<void> {
  let last = ''
  const deadline = Date.now() + 60_000
  while (Date.now() < deadline) {
    last = await text(url)
    if (last === expected) return
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
  throw new Error(`${url} answered ${JSON.stringify(last)}, not ${JSON.stringify(expected)}; output:\n${dev.output()}`)
}

describe('fnbox dev', () => {
  it('serves a TypeScript function, swaps in each saved version without dropping a call in flight, and prints what happens', async () => {
    const project = tempProject({
      'fnbox.json': JSON.stringify({
        functions: { api: { entry: 'functions/api.ts', limits: { timeoutMs: 120_000 } } },
      }),
      'functions/api.ts': API,
      'functions/version.ts': version('v1'),
    })
    const dev = new Dev(['--port', '0', '--storage', 'memory'], project.dir)
    try {
      const base = (await dev.line(/^listening on (http:\/\/127\.0\.0\.1:\d+)$/))[1]!
      expect(dev.lines).toContain('bundling api (functions/api.ts)...')
      expect(dev.output()).toMatch(/^deployed api@[0-9a-f]{8} \(\d+ ms\)$/m)
      expect(await text(`${base}/`)).toContain(`api  ${base}/api`)

      // Guest console output and a request line.
      expect(await text(`${base}/api`)).toBe('v1')
      await dev.line(/^\[api\] serving v1$/)
      await dev.line(/^\[api\] GET 200 \d+ ms$/)

      // A guest exception: its message and its stack, mapped to the TypeScript file.
      const thrown = await fetch(`${base}/api/throw`)
      expect(thrown.status).toBe(500)
      await dev.line(/^\[api\] GET 500 \d+ ms ERR_GUEST_EXCEPTION: Error: thrown on purpose$/)
      await dev.line(/^ {4}at fetch \(functions\/api\.ts:17:\d+\)$/)

      // A slow call in flight on v1 while an imported file is saved as v2.
      const slow = fetch(`${base}/api/slow`).then(async (r) => ({ status: r.status, body: await r.text() }))
      await answers(`${base}/api/started`, 'true', dev)
      const mark = dev.lines.length
      writeFileSync(join(project.dir, 'functions/version.ts'), version('v2'))
      await answers(`${base}/api`, 'v2', dev)
      await dev.line(/^bundling api \(functions\/version\.ts changed\)\.\.\.$/, mark)
      await dev.line(/^redeployed api@[0-9a-f]{8} \(\d+ ms\)$/, mark)
      expect(await text(`${base}/api/release`)).toBe('released')
      expect(await slow).toEqual({ status: 200, body: 'slow answered by v1' })

      // A save that does not bundle: the error is printed, the previous version keeps serving.
      const broken = dev.lines.length
      writeFileSync(join(project.dir, 'functions/api.ts'), `${API}\nexport const oops = (\n`)
      await dev.line(/^bundling functions\/api\.ts failed: functions\/api\.ts:\d+: /, broken)
      await dev.line(/^api: still serving [0-9a-f]{8}$/, broken)
      expect(await text(`${base}/api`)).toBe('v2')

      // Fixed, saved the way editors do (a new file renamed over the old one).
      writeFileSync(join(project.dir, 'functions/version.ts.tmp'), version('v3'))
      renameSync(join(project.dir, 'functions/version.ts.tmp'), join(project.dir, 'functions/version.ts'))
      writeFileSync(join(project.dir, 'functions/api.ts'), API)
      await answers(`${base}/api`, 'v3', dev)

      // fnbox.json edited: a new function is deployed; a broken manifest keeps things as they are.
      writeFileSync(join(project.dir, 'functions/other.ts'), `export default { fetch: () => new Response('other') }\n`)
      writeFileSync(
        join(project.dir, 'fnbox.json'),
        JSON.stringify({ functions: { api: { entry: 'functions/api.ts' }, other: { entry: 'functions/other.ts' } } }),
      )
      await answers(`${base}/other`, 'other', dev)
      const bad = dev.lines.length
      writeFileSync(
        join(project.dir, 'fnbox.json'),
        JSON.stringify({ functions: { other: { entry: 'functions/other.ts', limits: { timeoutMs: -1 } } } }),
      )
      await dev.line(
        /^fnbox\.json: functions\.other\.limits\.timeoutMs must be an integer from 1 to \d+ \(got -1\)$/,
        bad,
      )
      expect(await text(`${base}/other`)).toBe('other')
      // A function dropped from fnbox.json is removed.
      writeFileSync(
        join(project.dir, 'fnbox.json'),
        JSON.stringify({ functions: { other: { entry: 'functions/other.ts' } } }),
      )
      await dev.line(/^removed api$/, bad)
      expect((await fetch(`${base}/api`)).status).toBe(404)
      expect(await text(`${base}/other`)).toBe('other')

      // Ctrl-C: a clean stop, exit code 0.
      dev.child.kill('SIGINT')
      expect(await dev.exited).toBe(0)
      expect(dev.output()).toContain('stopping (calls in flight finish first; Ctrl-C again to quit now)...')
    } finally {
      dev.child.kill('SIGKILL')
      project.remove()
    }
  }, 180_000)

  it('starts the embedded database under <dir>/.fnbox with a line of progress, and hands granted secrets their values from its environment', async () => {
    const project = tempProject({
      'fnbox.json': JSON.stringify({
        functions: { token: { entry: 'token.ts', secrets: ['DEV_TOKEN', 'UNSET_TOKEN'] } },
      }),
      'token.ts': `import { kv, secrets } from 'fnbox:host'
export default {
  async fetch(): Promise<Response> {
    return Response.json({ token: secrets.get('DEV_TOKEN') === 'sesame', unset: secrets.get('UNSET_TOKEN') ?? null, n: await kv.incr('n') })
  },
}
`,
    })
    const env: NodeJS.ProcessEnv = { ...process.env, DEV_TOKEN: 'sesame' }
    delete env.FNBOX_SECRET_KEY
    delete env.UNSET_TOKEN
    const dev = new Dev(['--port', '0'], project.dir, env)
    try {
      const base = (await dev.line(/^listening on (http:\/\/[^\s]+)$/))[1]!
      // A fresh folder: made from the template, or (the first time on this machine) by initdb.
      const progress = dev.lines.findIndex((l) => /^creating the embedded database\b.*\.\.\.$/.test(l))
      expect(progress, dev.output()).toBeGreaterThan(-1)
      const ready = dev.lines.findIndex((l) => /^database ready in \d+\.\d s$/.test(l))
      expect(ready).toBeGreaterThan(progress)
      expect(dev.output()).toContain(
        'token: secret UNSET_TOKEN has no value (set UNSET_TOKEN in the environment of fnbox dev)',
      )
      expect(await (await fetch(`${base}/token`)).json()).toEqual({ token: true, unset: null, n: 1 })
      expect(existsSync(join(project.dir, '.fnbox/pglite'))).toBe(true)
      expect(statSync(join(project.dir, '.fnbox/secret.key')).mode & 0o777).toBe(0o600)
      dev.child.kill('SIGTERM')
      expect(await dev.exited).toBe(0)
    } finally {
      dev.child.kill('SIGKILL')
      project.remove()
    }
  }, 120_000)

  it('answers 503 with Retry-After, not 404, while the database and the first deploys are starting', async () => {
    const project = tempProject({
      'fnbox.json': JSON.stringify({ functions: { counter: { entry: 'counter.ts' } } }),
      'counter.ts': `import { kv } from 'fnbox:host'
export default { async fetch(): Promise<Response> { return Response.json(await kv.incr('n')) } }
`,
    })
    // A "Postgres" that accepts connections and never answers holds the start where it waits for the database.
    const held: Socket[] = []
    const silent = createServer((socket) => held.push(socket))
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve))
    const database = `postgres://postgres@127.0.0.1:${(silent.address() as AddressInfo).port}/never`
    const port = await freePort()
    const dev = new Dev(['--port', String(port), '--storage', database], project.dir)
    try {
      await dev.line(/^connecting to Postgres\.\.\.$/)
      for (const path of ['/counter', '/']) {
        const response = await fetch(`http://127.0.0.1:${port}${path}`)
        expect(response.status).toBe(503)
        expect(response.headers.get('retry-after')).toBe('1')
        expect(await response.text()).toMatch(/^fnbox dev is starting\b/)
      }
      expect(dev.output()).not.toContain('listening on')
    } finally {
      dev.child.kill('SIGKILL')
      for (const socket of held) socket.destroy()
      silent.close()
      project.remove()
    }
  })

  it('fails to start with one line naming the problem when the manifest is missing', async () => {
    const project = tempProject({ 'functions/a.ts': 'export default {}\n' })
    const dev = new Dev(['--port', '0', '--storage', 'memory'], project.dir)
    try {
      expect(await dev.exited).toBe(1)
      expect(dev.lines.filter((l) => l !== '')).toEqual([
        'fnbox: fnbox.json not found: it names each function, e.g. {"functions": {"hello": {"entry": "functions/hello.ts"}}}',
      ])
    } finally {
      project.remove()
    }
  })

  it('fails at once with one line when its port is taken', async () => {
    const project = tempProject({
      'fnbox.json': JSON.stringify({ functions: { a: { entry: 'a.ts' } } }),
      'a.ts': 'export default {}\n',
    })
    const taken = createServer()
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve))
    const port = (taken.address() as AddressInfo).port
    const dev = new Dev(['--port', String(port), '--storage', 'memory'], project.dir)
    try {
      expect(await dev.exited).toBe(1)
      expect(dev.lines.filter((l) => l !== '')).toEqual([
        `fnbox: port ${port} on 127.0.0.1 is in use (another fnbox dev? --port picks another; --port 0 any free one)`,
      ])
    } finally {
      taken.close()
      project.remove()
    }
  })
})

/** A port nothing listens on now (taken and given back). */
async function freePort(): Promise<number> {
  const probe = createServer()
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve))
  const { port } = probe.address() as AddressInfo
  await new Promise((resolve) => probe.close(resolve))
  return port
}
