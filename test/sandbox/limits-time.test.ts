/**
 * Time limits of an invocation: what ended it is reported (ERR_TIMEOUT, ERR_CPU_LIMIT), not the
 * guest's reaction to it; a streamed response runs under its own budget (idle time between
 * chunks, a total cap) instead of `timeoutMs`, and the guest's CPU time stays bounded throughout.
 */
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createRuntime, isFnboxError, type InvokeEvent, type Runtime } from 'fnbox'
import { Engine } from '../../src/sandbox/engine.js'
import type { InvocationSink } from '../../src/sandbox/instance.js'
import { GuestError } from '../../src/sandbox/natives.js'
import type { HostCall, HostReplyValue } from '../../src/sandbox/protocol.js'
import { invocationLimits, TEST_LIMITS } from '../helpers/sandbox-limits.js'

let runtime: Runtime
let upstream: Server
let upstreamOrigin: string
const invokes: InvokeEvent[] = []

beforeAll(async () => {
  runtime = await createRuntime({ threads: 2, storage: 'memory', limits: { memoryMb: 32 } })
  runtime.on('invoke', (e) => invokes.push(e))
  // Streams `n` chunks `gap` ms apart: an LLM answer, token by token.
  upstream = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x')
    const n = Number(url.searchParams.get('n') ?? 10)
    const gap = Number(url.searchParams.get('gap') ?? 20)
    res.writeHead(200, { 'content-type': 'text/plain' })
    let i = 0
    const tick = (): void => {
      if (i === n) {
        res.end()
        return
      }
      res.write(`t${i++} `)
      setTimeout(tick, gap)
    }
    tick()
  })
  await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve))
  upstreamOrigin = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`
})
afterAll(async () => {
  await runtime.close()
  await new Promise((resolve) => upstream.close(resolve))
})

/** Reads a streamed body to its end or its error. */
async function readAll(res: Response): Promise<{ text: string; error: unknown }> {
  const reader = res.body!.getReader()
  const decoder = new TextDecoder()
  let text = ''
  try {
    for (;;) {
      const { done, value } = await reader.read()
      if (done) return { text, error: undefined }
      text += decoder.decode(value, { stream: true })
    }
  } catch (error) {
    return { text, error }
  }
}

async function invokeEvent(name: string): Promise<InvokeEvent> {
  for (;;) {
    const found = invokes.find((e) => e.function === name)
    if (found) return found
    await new Promise((r) => setTimeout(r, 10))
  }
}

describe('CPU time (limits.cpuMs)', () => {
  it('ends a computing guest with ERR_CPU_LIMIT long before its wall-clock limit', async () => {
    await runtime.deploy('cpuSpin', {
      code: `let n = 0; export const count = () => ++n; export function run() { while (true) {} }`,
      limits: { timeoutMs: 60_000, cpuMs: 100 },
      pool: { max: 1 },
    })
    expect(await runtime.call('cpuSpin', 'count')).toBe(1)
    const err = await runtime.call('cpuSpin', 'run').catch((e: unknown) => e)
    expect(err).toMatchObject({
      code: 'ERR_CPU_LIMIT',
      status: 500,
      message: 'the function used more than limits.cpuMs (100 ms) of CPU time',
      details: { limit: 100, option: 'limits.cpuMs' },
    })
    expect(await runtime.call('cpuSpin', 'count')).toBe(1) // a fresh instance
  })

  it('does not count time the guest spends awaiting', async () => {
    await runtime.deploy('cpuIdle', {
      code: `export async function run() { for (let i = 0; i < 25; i++) await new Promise((r) => setTimeout(r, 50)); return 'slept' }`,
      limits: { timeoutMs: 60_000, cpuMs: 1000 },
    })
    expect(await runtime.call('cpuIdle', 'run')).toBe('slept')
  })

  it('bounds the computing of a streamed body', async () => {
    await runtime.deploy('cpuStream', {
      code: `export default { fetch: () => new Response(new ReadableStream({
        pull(c) { const end = Date.now() + 5; while (Date.now() < end) {} c.enqueue('x') },
      })) }`,
      limits: { timeoutMs: 60_000, cpuMs: 150, streamIdleMs: 60_000 },
    })
    const res = await runtime.fetch(new Request('http://x/cpuStream'))
    expect(res.status).toBe(200)
    const { text, error } = await readAll(res)
    expect(text.length).toBeGreaterThan(0)
    expect(error).toMatchObject({ code: 'ERR_CPU_LIMIT' })
    expect(await invokeEvent('cpuStream')).toMatchObject({ error: 'ERR_CPU_LIMIT', status: 200 })
  })

  it('bounds waitUntil work after the response', async () => {
    await runtime.deploy('cpuAfter', {
      code: `export default { fetch(req, ctx) {
        ctx.waitUntil(new Promise((r) => setTimeout(r, 1)).then(() => { while (true) {} }))
        return new Response(new ReadableStream({ start(c) { c.enqueue('done'); c.close() } }))
      } }`,
      limits: { timeoutMs: 60_000, cpuMs: 100 },
    })
    const res = await runtime.fetch(new Request('http://x/cpuAfter'))
    expect(await readAll(res)).toEqual({ text: 'done', error: undefined })
    expect(await invokeEvent('cpuAfter')).toMatchObject({ error: 'ERR_CPU_LIMIT' })
  })

  it('answers and replaces a thread wedged past cpuMs in a builtin that ignores the interrupt', async () => {
    const restarts: unknown[] = []
    runtime.on('executor:restart', (e) => restarts.push(e))
    await runtime.deploy('cpuWedge', {
      // The data is built at deploy (Math.random keeps it from being snapshotted), so the call's
      // CPU time goes into JSON.stringify, a builtin QuickJS's interrupt does not stop.
      code: `Math.random()
      const big = []; for (let i = 0; i < 200000; i++) big.push({ a: 'x'.repeat(20), b: [i, i, i] })
      export default { fetch: () => new Response(new ReadableStream({
        start(c) { c.enqueue('head') },
        async pull(c) {
          await new Promise((r) => setTimeout(r, 20)) // the head and the first chunk go out first
          let s = ''; for (let i = 0; i < 1000; i++) s = JSON.stringify(big)
          c.enqueue(s.slice(0, 1))
        },
      })) }`,
      limits: { timeoutMs: 60_000, cpuMs: 300, streamIdleMs: 60_000, memoryMb: 256 },
    })
    const res = await runtime.fetch(new Request('http://x/cpuWedge'))
    expect(res.status).toBe(200)
    const { error } = await readAll(res)
    expect(error).toMatchObject({ code: 'ERR_CPU_LIMIT' })
    expect(restarts.length).toBeGreaterThanOrEqual(1)
  })
})

describe('streamed responses (limits.streamIdleMs, limits.streamTotalMs)', () => {
  it('streams past timeoutMs while chunks keep coming', async () => {
    await runtime.deploy('longStream', {
      // Chunks 40 ms apart until the guest itself has streamed for longer than timeoutMs (a
      // fixed count could end inside the limit when a loaded machine is slow to give the head).
      code: `export default { fetch: () => {
        const start = Date.now()
        let i = 0
        return new Response(new ReadableStream({
          async pull(c) {
            await new Promise((r) => setTimeout(r, 40))
            if (Date.now() - start > 1200) { c.enqueue('end'); c.close() } else c.enqueue('c' + i++ + ' ')
          },
        }))
      } }`,
      limits: { timeoutMs: 1000, streamIdleMs: 10_000 },
    })
    const res = await runtime.fetch(new Request('http://x/longStream'))
    expect(res.status).toBe(200)
    const { text, error } = await readAll(res)
    expect(error).toBeUndefined()
    expect(text.endsWith('end')).toBe(true)
  })

  it("relays an upstream's stream past timeoutMs (the host calls feeding it go on too)", async () => {
    await runtime.deploy('relay', {
      code: `export default { fetch: () => fetch('${upstreamOrigin}/?n=30&gap=50') }`,
      limits: { timeoutMs: 1000, streamIdleMs: 10_000 },
      allowedHosts: [upstreamOrigin.slice('http://'.length)],
    })
    const res = await runtime.fetch(new Request('http://x/relay'))
    expect(res.status).toBe(200)
    const { text, error } = await readAll(res)
    expect(error).toBeUndefined()
    expect(text.trim().split(' ')).toHaveLength(30)
  })

  it('cuts a stream that sends nothing for streamIdleMs, with ERR_TIMEOUT naming it', async () => {
    await runtime.deploy('idleStream', {
      code: `export default { fetch: () => new Response(new ReadableStream({
        start(c) { c.enqueue('first') },
        pull() { return new Promise(() => {}) },
      })) }`,
      limits: { timeoutMs: 60_000, streamIdleMs: 150 },
    })
    const res = await runtime.fetch(new Request('http://x/idleStream'))
    expect(res.status).toBe(200)
    const { text, error } = await readAll(res)
    expect(text).toBe('first')
    expect(error).toMatchObject({ code: 'ERR_TIMEOUT', details: { limit: 150, option: 'limits.streamIdleMs' } })
  })

  it('cuts a stream at streamTotalMs however busy it is', async () => {
    await runtime.deploy('endlessStream', {
      code: `export default { fetch: () => new Response(new ReadableStream({
        async pull(c) { await new Promise((r) => setTimeout(r, 10)); c.enqueue('.') },
      })) }`,
      limits: { timeoutMs: 1000, streamIdleMs: 60_000, streamTotalMs: 1200 },
    })
    const res = await runtime.fetch(new Request('http://x/endlessStream'))
    expect(res.status).toBe(200)
    const { text, error } = await readAll(res)
    expect(text.length).toBeGreaterThan(0)
    expect(error).toMatchObject({ code: 'ERR_TIMEOUT', details: { limit: 1200, option: 'limits.streamTotalMs' } })
  })

  it('still answers a head that never comes at timeoutMs (504)', async () => {
    await runtime.deploy('noHead', {
      code: `export default { fetch: () => new Promise(() => {}) }`,
      limits: { timeoutMs: 100, streamTotalMs: 60_000 },
    })
    const res = await runtime.fetch(new Request('http://x/noHead'))
    expect(res.status).toBe(504)
    expect(await res.json()).toMatchObject({ error: { code: 'ERR_TIMEOUT' } })
  })
})

describe('options', () => {
  it.each([
    ['cpuMs', 0],
    ['streamIdleMs', -1],
    ['streamTotalMs', 1.5],
    ['cpuMs', '100'],
  ])('refuses limits.%s = %j, naming the option', async (key, value) => {
    const err = await runtime
      .deploy('bad', { code: 'export const x = 1', limits: { [key]: value } })
      .catch((e: unknown) => e)
    expect(isFnboxError(err, 'ERR_INVALID_OPTION')).toBe(true)
    expect((err as Error).message).toContain(`options.limits.${key} must be an integer`)
  })
})

describe('the outcome is the cause, not the guest reaction', () => {
  /** An engine of one thread, driven directly: the host side is the sink below. */
  async function instanceOf(code: string): Promise<{ engine: Engine; id: number }> {
    const engine = new Engine({ lost: () => undefined, blank: () => undefined }, 0, 0, () => false, {
      snapshots: 'never',
    })
    engine.load('f', code, 'f.js', TEST_LIMITS, {})
    await engine.create(1, 'f')
    return { engine, id: 1 }
  }

  function sink(host: (req: HostCall) => Promise<HostReplyValue>): InvocationSink {
    return {
      respond: () => undefined,
      chunk: () => Promise.resolve(),
      end: () => undefined,
      log: () => undefined,
      host,
      hostFire: () => undefined,
    }
  }

  it('reports ERR_TIMEOUT when the guest catches a host call cut off by the deadline and throws another error', async () => {
    const { engine, id } = await instanceOf(`import { kv } from 'fnbox:host'
      export async function run() {
        try { await kv.get('k') } catch (e) { throw new Error('storage failed: ' + e.message) }
      }`)
    // The host cuts the call off once the deadline has passed, while this thread was busy (its
    // timers could not fire): the guest gets the failure before the thread's own timer.
    const cutOff = (): Promise<HostReplyValue> =>
      new Promise((_resolve, reject) =>
        queueMicrotask(() => {
          const end = Date.now() + 80
          while (Date.now() < end) {
            // the thread is busy past the deadline
          }
          reject(new GuestError('TypeError', 'kv.get was cut short: the deadline passed', 'ERR_TIMEOUT'))
        }),
      )
    const err = await engine
      .instance(id)!
      .invoke(1, { kind: 'call', exportName: 'run', argsJson: '[]' }, invocationLimits(50), sink(cutOff))
      .catch((e: unknown) => e)
    expect(err).toMatchObject({ error: { code: 'ERR_TIMEOUT', details: { option: 'limits.timeoutMs' } } })
    engine.destroy(id)
  })

  it("counts the deadline from the invocation's start on the host, not from when the thread got it", async () => {
    const { engine, id } = await instanceOf(
      `export async function run() { await new Promise((r) => setTimeout(r, 100)); return 'late' }`,
    )
    // Started 150 ms ago (it waited behind other work on its thread): 50 ms are left, not 200.
    const limits = invocationLimits(200, { startedAt: Date.now() - 150 })
    const err = await engine
      .instance(id)!
      .invoke(
        1,
        { kind: 'call', exportName: 'run', argsJson: '[]' },
        limits,
        sink(() => Promise.reject(new Error())),
      )
      .catch((e: unknown) => e)
    expect(err).toMatchObject({ error: { code: 'ERR_TIMEOUT' } })
    engine.destroy(id)
  })
})
