import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createRuntime, isFnboxError, type InvokeEvent, type LogEvent, type Runtime } from 'fnbox'

let runtime: Runtime

beforeAll(async () => {
  runtime = await createRuntime({ threads: 2, limits: { memoryMb: 32, timeoutMs: 5000 } })
})
afterAll(async () => {
  await runtime.close()
})

async function text(res: Response): Promise<string> {
  return res.text()
}

describe('deploy and serve', () => {
  it('serves export default { fetch } with the request url, method, headers and body', async () => {
    await runtime.deploy('echo', {
      code: `export default {
        async fetch(request, ctx) {
          return Response.json({
            method: request.method,
            url: request.url,
            originalUrl: ctx.originalUrl,
            mountPath: ctx.mountPath,
            header: request.headers.get('x-test'),
            body: await request.text(),
            requestId: ctx.requestId,
            fn: ctx.functionName,
          }, { status: 201, headers: { 'x-served-by': 'echo' } })
        }
      }`,
    })
    const res = await runtime.fetch(
      new Request('http://localhost/echo/sub/path?q=1', {
        method: 'POST',
        body: 'hello',
        headers: { 'x-test': 'yes' },
      }),
    )
    expect(res.status).toBe(201)
    expect(res.headers.get('x-served-by')).toBe('echo')
    const json = (await res.json()) as Record<string, string>
    expect(json).toMatchObject({
      method: 'POST',
      url: 'http://localhost/sub/path?q=1',
      originalUrl: 'http://localhost/echo/sub/path?q=1',
      mountPath: '/echo',
      header: 'yes',
      body: 'hello',
      fn: 'echo',
    })
    expect(json.requestId).toMatch(/^[0-9a-f-]{36}$/)
  })

  it('routes per-method exports and answers 405 with Allow for others', async () => {
    await runtime.deploy('methods', {
      code: `export function GET() { return new Response('got') }
             export async function POST(req) { return new Response('posted ' + await req.text()) }`,
    })
    expect(await text(await runtime.fetch(new Request('http://x/methods')))).toBe('got')
    expect(await text(await runtime.fetch(new Request('http://x/methods', { method: 'POST', body: 'b' })))).toBe(
      'posted b',
    )
    const res = await runtime.fetch(new Request('http://x/methods', { method: 'DELETE' }))
    expect(res.status).toBe(405)
    expect(res.headers.get('allow')).toContain('GET')
    expect(res.headers.get('allow')).toContain('POST')
  })

  it('calls named exports with JSON in and out', async () => {
    await runtime.deploy('math', {
      code: `export const add = (a, b) => a + b
             export async function shape(input) { await null; return { keys: Object.keys(input), n: input.list.length } }
             export function nothing() {}`,
    })
    expect(await runtime.call('math', 'add', 2, 3)).toBe(5)
    expect(await runtime.call('math', 'shape', { a: 1, list: [1, 2, 3] })).toEqual({ keys: ['a', 'list'], n: 3 })
    expect(await runtime.call('math', 'nothing')).toBeUndefined()
    await expect(runtime.call('math', 'missing')).rejects.toMatchObject({ code: 'ERR_NOT_FOUND' })
  })

  it('answers 404 for an unknown function, over fetch and call', async () => {
    const res = await runtime.fetch(new Request('http://localhost/nope'))
    expect(res.status).toBe(404)
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe('ERR_NOT_FOUND')
    await expect(runtime.call('nope', 'x')).rejects.toMatchObject({ code: 'ERR_NOT_FOUND' })
  })

  it('maps a guest exception to 500 without host internals, and to ERR_GUEST_EXCEPTION for call', async () => {
    await runtime.deploy('thrower', {
      code: `export default { fetch() { throw new TypeError('secret detail') } }
             export function boom() { throw new RangeError('bad range') }`,
    })
    const res = await runtime.fetch(new Request('http://localhost/thrower'))
    expect(res.status).toBe(500)
    const body = await res.text()
    expect(body).not.toContain('secret detail')
    expect(body).not.toMatch(/node_modules|\/work\/|at /)
    const err = await runtime.call('thrower', 'boom').catch((e: unknown) => e)
    expect(isFnboxError(err, 'ERR_GUEST_EXCEPTION')).toBe(true)
    expect((err as Error).message).toContain('RangeError: bad range')
  })

  it('fails deploy for code that does not compile or whose top level throws', async () => {
    await expect(runtime.deploy('broken', { code: 'export default {' })).rejects.toMatchObject({
      code: 'ERR_DEPLOY_FAILED',
    })
    await expect(runtime.deploy('broken', { code: 'throw new Error("at load")' })).rejects.toMatchObject({
      code: 'ERR_DEPLOY_FAILED',
    })
    expect(runtime.stats().functions.broken).toBeUndefined()
  })

  it('supports top-level await in the module', async () => {
    await runtime.deploy('tla', { code: `const v = await Promise.resolve(41); export const get = () => v + 1` })
    expect(await runtime.call('tla', 'get')).toBe(42)
  })

  it('gives the same version for the same code and a new one for new code', async () => {
    const a = await runtime.deploy('ver', { code: 'export const v = () => 1' })
    const b = await runtime.deploy('ver', { code: 'export const v = () => 1' })
    const c = await runtime.deploy('ver', { code: 'export const v = () => 2' })
    expect(a.version).toBe(b.version)
    expect(c.version).not.toBe(a.version)
    expect(await runtime.call('ver', 'v')).toBe(2)
    expect(runtime.stats().functions.ver?.version).toBe(c.version)
  })

  it('lets in-flight calls finish on the old version while new calls get the new one', async () => {
    await runtime.deploy('swap', {
      code: `export async function slow() { await new Promise(r => setTimeout(r, 300)); return 'old' }
             export const now = () => 'old'`,
    })
    const inflight = runtime.call('swap', 'slow')
    await new Promise((r) => setTimeout(r, 50))
    await runtime.deploy('swap', { code: `export const slow = () => 'new'; export const now = () => 'new'` })
    expect(await runtime.call('swap', 'now')).toBe('new')
    expect(await inflight).toBe('old')
  })

  it('keeps a version deployed again apart from its previous deployment still draining', async () => {
    const A = `export async function slow() { await new Promise(r => setTimeout(r, 300)); return 'A' }
               export const now = () => 'A'`
    await runtime.deploy('flip', { code: A })
    const inflight = runtime.call('flip', 'slow')
    await new Promise((r) => setTimeout(r, 30))
    await runtime.deploy('flip', { code: `export const now = () => 'B'` })
    const again = await runtime.deploy('flip', { code: A }) // the same version as the one draining
    expect(await inflight).toBe('A')
    await new Promise((r) => setTimeout(r, 100)) // the first deployment has drained and unloaded
    expect(await runtime.call('flip', 'now')).toBe('A')
    expect(runtime.stats().functions.flip!.version).toBe(again.version)
    const twins = await Promise.all([1, 2].map(() => runtime.deploy('twin', { code: `export const x = () => 2` })))
    expect(twins[0]!.version).toBe(twins[1]!.version)
    await new Promise((r) => setTimeout(r, 50))
    expect(await runtime.call('twin', 'x')).toBe(2)
  })

  it('ends a streamed response when its body is complete, while waitUntil work goes on', async () => {
    await runtime.deploy('background', {
      code: `export default {
        fetch(request, ctx) {
          ctx.waitUntil(new Promise((r) => setTimeout(r, 1500)).then(() => console.log('background done')))
          const enc = new TextEncoder()
          return new Response(new ReadableStream({
            start(c) { c.enqueue(enc.encode('a')); c.enqueue(enc.encode('b')); c.close() },
          }))
        },
      }`,
    })
    const logs: LogEvent[] = []
    const onLog = (e: LogEvent): void => void logs.push(e)
    runtime.on('log', onLog)
    const started = Date.now()
    const res = await runtime.fetch(new Request('http://x/background'))
    expect(await res.text()).toBe('ab')
    expect(Date.now() - started).toBeLessThan(1000) // not held until the background work ends
    const deadline = Date.now() + 5000
    while (!logs.some((l) => l.message === 'background done') && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 50))
    }
    runtime.off('log', onLog)
    expect(logs.map((l) => l.message)).toContain('background done')
  })

  it('undeploys a function', async () => {
    await runtime.deploy('gone', { code: 'export const x = () => 1' })
    expect(await runtime.undeploy('gone')).toBe(true)
    await expect(runtime.call('gone', 'x')).rejects.toMatchObject({ code: 'ERR_NOT_FOUND' })
    expect(await runtime.undeploy('gone')).toBe(false)
  })

  it('reports per-function stats and reuses warm instances', async () => {
    await runtime.deploy('warm', { code: 'let n = 0; export const hit = () => ++n' })
    const first = await runtime.call('warm', 'hit')
    const second = await runtime.call('warm', 'hit')
    expect(second).toBe((first as number) + 1) // the same warm instance kept its module state
    const s = runtime.stats().functions.warm!
    expect(s).toMatchObject({ instances: 1, idle: 1, inUse: 0, queued: 0, coldStarts: 1 })
    expect(runtime.stats().executors).toHaveLength(2)
  })

  it('keeps pool.min instances warm, counting the one deploy created', async () => {
    await runtime.deploy('warmed', { code: 'export const a = () => 1', pool: { min: 3, max: 5 } })
    const deadline = Date.now() + 5000
    while (runtime.stats().functions.warmed!.instances < 3 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 20))
    }
    await new Promise((r) => setTimeout(r, 100))
    expect(runtime.stats().functions.warmed).toMatchObject({ instances: 3, idle: 3, coldStarts: 3 })
  })

  it('scales out to concurrent calls up to pool.max', async () => {
    await runtime.deploy('conc', {
      code: `export async function wait(ms) { await new Promise(r => setTimeout(r, ms)); return 1 }`,
      pool: { max: 3 },
    })
    const calls = Array.from({ length: 6 }, () => runtime.call('conc', 'wait', 100))
    await new Promise((r) => setTimeout(r, 30))
    const s = runtime.stats().functions.conc!
    expect(s.inUse).toBeLessThanOrEqual(3)
    expect(s.queued).toBeGreaterThan(0)
    expect(await Promise.all(calls)).toEqual([1, 1, 1, 1, 1, 1])
    expect(runtime.stats().functions.conc!.instances).toBe(3)
  })

  it('answers ERR_QUEUE_FULL with Retry-After when the queue is full', async () => {
    await runtime.deploy('tight', {
      code: `export async function wait() { await new Promise(r => setTimeout(r, 200)) }
             export default { async fetch() { await new Promise(r => setTimeout(r, 200)); return new Response('ok') } }`,
      pool: { max: 1, maxQueue: 1 },
    })
    const results = await Promise.allSettled([1, 2, 3].map(() => runtime.call('tight', 'wait')))
    const rejected = results.filter((r) => r.status === 'rejected') as PromiseRejectedResult[]
    expect(rejected).toHaveLength(1)
    expect(rejected[0]!.reason).toMatchObject({ code: 'ERR_QUEUE_FULL' })
    const responses = await Promise.all([1, 2, 3].map(() => runtime.fetch(new Request('http://x/tight'))))
    const full = responses.find((r) => r.status === 503)!
    expect(full.headers.get('retry-after')).toMatch(/^\d+$/)
  })

  it('emits captured console output as log events with function, version and request id', async () => {
    const logs: LogEvent[] = []
    const listener = (e: LogEvent): void => void logs.push(e)
    runtime.on('log', listener)
    const { version } = await runtime.deploy('logger', {
      code: `export function run() { console.log('hello', { a: 1 }); console.error('bad %d', 7); console.warn('w') }`,
    })
    await runtime.call('logger', 'run')
    runtime.off('log', listener)
    expect(logs.map((l) => [l.level, l.message])).toEqual([
      ['log', 'hello'],
      ['error', 'bad 7'],
      ['warn', 'w'],
    ])
    // Plain objects logged keep their structure as the line's fields.
    expect(logs[0]).toMatchObject({ function: 'logger', version, fields: { a: 1 } })
    expect(logs[1]!.fields).toBeUndefined()
    expect(logs[0]!.requestId).toBe(logs[1]!.requestId)
  })

  it('truncates console output past limits.maxLogBytes', async () => {
    const logs: LogEvent[] = []
    const listener = (e: LogEvent): void => void logs.push(e)
    runtime.on('log', listener)
    await runtime.deploy('chatty', {
      code: `export function run() { for (let i = 0; i < 1000; i++) console.log('x'.repeat(100)) }`,
      limits: { maxLogBytes: 1000 },
    })
    await runtime.call('chatty', 'run')
    runtime.off('log', listener)
    expect(logs.length).toBeLessThan(15)
    expect(logs.at(-1)!.message).toContain('maxLogBytes')
  })

  it('emits invoke events', async () => {
    const events: unknown[] = []
    let seenTwo!: () => void
    const twoEvents = new Promise<void>((r) => (seenTwo = r))
    const listener = (e: unknown): void => {
      if (events.push(e) === 2) seenTwo()
    }
    runtime.on('invoke', listener)
    await runtime.call('math', 'add', 1, 1)
    await (await runtime.fetch(new Request('http://x/methods'))).text()
    await twoEvents // a fetch's event follows the end of its body
    runtime.off('invoke', listener)
    expect(events).toMatchObject([
      { function: 'math', kind: 'call', target: 'add', error: undefined },
      { function: 'methods', kind: 'fetch', target: 'GET', status: 200 },
    ])
    const failures: InvokeEvent[] = []
    const onFailure = (e: InvokeEvent): void => void failures.push(e)
    runtime.on('invoke', onFailure)
    await runtime.fetch(new Request('http://x/thrower'))
    await new Promise((r) => setTimeout(r, 50))
    runtime.off('invoke', onFailure)
    // The host sees what went wrong; the client got a generic 500.
    expect(failures).toMatchObject([
      {
        function: 'thrower',
        kind: 'fetch',
        status: 500,
        error: 'ERR_GUEST_EXCEPTION',
        errorMessage: 'TypeError: secret detail',
      },
    ])
  })
})

describe('options', () => {
  it('rejects invalid options with messages that name the option', async () => {
    await expect(createRuntime({ threads: 0 })).rejects.toThrow(/options\.threads/)
    await expect(createRuntime({ limits: { memoryMb: 8 } })).rejects.toThrow(/options\.limits\.memoryMb.*16 to 2048/)
    await expect(createRuntime({ pool: { min: 5, max: 2 } })).rejects.toThrow(/options\.pool\.min/)
    await expect(createRuntime({ allowedHosts: ['http://x/'] })).rejects.toThrow(/allowedHosts\[0\]/)
    await expect(createRuntime({ limitz: {} } as never)).rejects.toThrow(/options\.limitz/)
    await expect(runtime.deploy('bad name!', { code: 'x' })).rejects.toMatchObject({ code: 'ERR_INVALID_OPTION' })
    await expect(runtime.deploy('ok', { code: '' })).rejects.toThrow(/options\.code/)
    await expect(runtime.deploy('ok', { code: 'x', limits: { timeoutMs: -1 } })).rejects.toThrow(
      /options\.limits\.timeoutMs/,
    )
  })

  it('refuses request bodies past limits.maxRequestBytes with 413', async () => {
    await runtime.deploy('small', {
      code: `export default { fetch: async (r) => new Response(String((await r.arrayBuffer()).byteLength)) }`,
      limits: { maxRequestBytes: 100 },
    })
    const ok = await runtime.fetch(new Request('http://x/small', { method: 'POST', body: 'x'.repeat(100) }))
    expect(await ok.text()).toBe('100')
    const res = await runtime.fetch(new Request('http://x/small', { method: 'POST', body: 'x'.repeat(101) }))
    expect(res.status).toBe(413)
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe('ERR_REQUEST_TOO_LARGE')
  })
})

describe('close', () => {
  it('lets calls in flight finish, then refuses new ones with ERR_CLOSED', async () => {
    const rt = await createRuntime({ threads: 1 })
    await rt.deploy('slow', {
      code: `export async function run() { await new Promise(r => setTimeout(r, 200)); return 'done' }`,
    })
    const inflight = rt.call('slow', 'run')
    await new Promise((r) => setTimeout(r, 20))
    const closing = rt.close()
    await expect(rt.call('slow', 'run')).rejects.toMatchObject({ code: 'ERR_CLOSED' })
    expect(await inflight).toBe('done')
    await closing
    await expect(rt.deploy('x', { code: 'export const a = 1' })).rejects.toMatchObject({ code: 'ERR_CLOSED' })
  })

  it('returns by its deadline when a call never ends, failing that call with ERR_CLOSED', async () => {
    const rt = await createRuntime({ threads: 1 })
    await rt.deploy('stuck', { code: `export async function run() { await new Promise(() => {}) }` })
    const hanging = rt.call('stuck', 'run').catch((e: unknown) => e)
    await new Promise((r) => setTimeout(r, 20))
    const started = Date.now()
    await rt.close({ timeoutMs: 300 })
    expect(Date.now() - started).toBeLessThan(2000)
    expect(await hanging).toMatchObject({ code: 'ERR_CLOSED' })
  })
})
