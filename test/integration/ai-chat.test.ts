// The proof with real libraries: examples/ai-chat's functions, the Vercel AI SDK (streamText with a
// tool, zod input) and the OpenAI SDK (chat.completions.create with stream: true), bundled from
// TypeScript at deploy and run unchanged in the sandbox against a local OpenAI-compatible server,
// end to end over real HTTP.
import type { AddressInfo } from 'node:net'
import type { Server } from 'node:http'
import { join } from 'node:path'
import express from 'express'
import Koa from 'koa'
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { createRuntime, type LogEvent, type Runtime } from 'fnbox'
import { startMockOpenAI, type MockOpenAI } from '../../examples/ai-chat/mock-openai.mjs'

const root = new URL('../..', import.meta.url).pathname
const functions = join(root, 'examples/ai-chat/functions')
const TOKENS = ['Streaming', ' is', ' the', ' point', ' of', ' this', ' test', '.']
const DELAY_MS = 40
const SECRETS = ['OPENAI_API_KEY', 'OPENAI_BASE_URL']

let mock: MockOpenAI
let runtime: Runtime
let server: Server
let base: string
const logs: LogEvent[] = []

beforeAll(async () => {
  mock = await startMockOpenAI({ tokens: TOKENS, delayMs: DELAY_MS })
  runtime = await createRuntime({ threads: 1, storage: 'memory', secrets: { key: 'ab'.repeat(32) } })
  runtime.on('log', (e) => logs.push(e))
  await runtime.secrets.set('OPENAI_API_KEY', 'sk-mock')
  await runtime.secrets.set('OPENAI_BASE_URL', mock.url)
  // The mock listens on loopback: the SSRF guard refuses it unless allowedHosts names it.
  const allowedHosts = [mock.host]
  await runtime.deploy('aisdk', { entry: join(functions, 'ai-sdk-chat.ts'), secrets: SECRETS, allowedHosts })
  await runtime.deploy('openai', { entry: join(functions, 'openai-chat.ts'), secrets: SECRETS, allowedHosts })
  const app = express()
  app.use('/fn', runtime.express())
  server = app.listen(0, '127.0.0.1')
  await new Promise((resolve) => server.once('listening', resolve))
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
}, 120_000)

afterAll(async () => {
  server?.close()
  await runtime?.close()
  await mock?.close()
})

beforeEach(() => mock.reset())

interface Streamed {
  status: number
  text: string
  /** performance.now() when the first body chunk reached the client. */
  firstChunkAt: number
  chunks: number
}

/** Reads a response as the client sees it, timing the first chunk (and telling `onFirst` of it). */
async function read(res: Response, onFirst?: () => void): Promise<Streamed> {
  const decoder = new TextDecoder()
  let text = ''
  let firstChunkAt = 0
  let chunks = 0
  const reader = res.body!.getReader()
  for (;;) {
    const { done, value: chunk } = await reader.read()
    if (done) break
    if (!firstChunkAt) {
      firstChunkAt = performance.now()
      onFirst?.()
    }
    chunks++
    text += decoder.decode(chunk, { stream: true })
  }
  return { status: res.status, text: text + decoder.decode(), firstChunkAt, chunks }
}

const post = (path: string, body: unknown, signal?: AbortSignal): Promise<Response> =>
  fetch(`${base}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
    signal,
  })

/**
 * Reads an answer whose upstream holds back everything after its first token until the client has
 * a chunk: a function (or mount) that buffered the answer would never end, so this proves token
 * streaming without timing.
 */
async function readStreamed(path: string): Promise<Streamed> {
  mock.configure({ holdAfterFirst: true })
  const out = await read(await post(path, { prompt: 'Say something' }), () => mock.release())
  expect(out.chunks).toBeGreaterThan(1)
  return out
}

describe('the AI SDK function (streamText, tools, zod)', () => {
  it('streams the answer token by token through Express: first chunk long before the upstream finished', async () => {
    const out = await readStreamed('/fn/aisdk')
    expect(out.status).toBe(200)
    expect(out.text).toBe(TOKENS.join(''))
    const request = mock.requests[0]!
    expect(request.headers.authorization).toBe('Bearer sk-mock')
    expect(request.body).toMatchObject({ model: 'gpt-4o-mini', stream: true })
    expect(request.body.messages).toEqual([{ role: 'user', content: 'Say something' }])
  })

  it('runs a tool call: the model asks, the function executes the zod-typed tool, the model answers', async () => {
    const out = await read(await post('/fn/aisdk', { prompt: 'Weather in Paris?', tools: true }))
    expect(out.status).toBe(200)
    expect(JSON.parse(out.text.replace('The tool said: ', ''))).toEqual({
      city: 'Paris',
      forecast: 'sunny',
      temperatureC: 21,
    })
    expect(mock.requests).toHaveLength(2)
    const [first, second] = mock.requests
    expect((first!.body.tools as { function: { name: string } }[])[0]!.function.name).toBe('weather')
    const messages = second!.body.messages as { role: string; tool_call_id?: string }[]
    expect(messages.map((m) => m.role)).toEqual(['user', 'assistant', 'tool'])
    expect(messages[2]!.tool_call_id).toBe('call_mock_1')
  })

  it('validates its input with zod: 400 naming the field', async () => {
    const res = await post('/fn/aisdk', { prompt: '' })
    expect(res.status).toBe(400)
    expect(((await res.json()) as { error: string }).error).toMatch(/prompt/)
    expect(mock.requests).toHaveLength(0)
  })

  it('answers an upstream error with a 502 carrying its message, promptly', async () => {
    mock.configure({ mode: 'error' })
    const started = performance.now()
    const res = await post('/fn/aisdk', { prompt: 'hi' })
    expect(res.status).toBe(502)
    expect(((await res.json()) as { error: string }).error).toMatch(/mock upstream failure/)
    expect(performance.now() - started).toBeLessThan(10_000)
  })

  it('an upstream that breaks off mid-answer breaks the client stream off too, rather than hanging', async () => {
    mock.configure({ mode: 'drop' })
    const res = await post('/fn/aisdk', { prompt: 'hi' })
    expect(res.status).toBe(200)
    await expect(read(res)).rejects.toThrow()
  })
})

describe('the OpenAI SDK function (chat.completions.create, stream: true)', () => {
  it('streams the answer token by token through Express', async () => {
    const out = await readStreamed('/fn/openai')
    expect(out.status).toBe(200)
    expect(out.text).toBe(TOKENS.join(''))
    expect(mock.requests[0]!.body).toMatchObject({ model: 'gpt-4o-mini', stream: true })
  })

  it('answers an upstream error with a 502 carrying its message and status', async () => {
    mock.configure({ mode: 'error', errorStatus: 400 })
    const res = await post('/fn/openai', { prompt: 'hi' })
    expect(res.status).toBe(502)
    expect(res.headers.get('x-upstream-status')).toBe('400')
    expect(((await res.json()) as { error: string }).error).toMatch(/mock upstream failure/)
  })

  it('an upstream that breaks off mid-answer breaks the client stream off too', async () => {
    mock.configure({ mode: 'drop' })
    const res = await post('/fn/openai', { prompt: 'hi' })
    await expect(read(res)).rejects.toThrow()
  })

  it('a client that disconnects mid-answer aborts the upstream request', async () => {
    mock.configure({ delayMs: 100 })
    const controller = new AbortController()
    const res = await post('/fn/openai', { prompt: 'hi' }, controller.signal)
    const reader = res.body!.getReader()
    await reader.read()
    controller.abort()
    await expect.poll(() => mock.completions.at(-1)?.closedEarly, { timeout: 5000 }).toBe(true)
  })

  it('streams through Koa and runtime.fetch as well', async () => {
    const koa = new Koa()
    koa.use(runtime.koa({ prefix: '/fn' }))
    const koaServer = koa.listen(0, '127.0.0.1')
    await new Promise((resolve) => koaServer.once('listening', resolve))
    try {
      const port = (koaServer.address() as AddressInfo).port
      mock.configure({ holdAfterFirst: true })
      const viaKoa = await read(
        await fetch(`http://127.0.0.1:${port}/fn/openai`, { method: 'POST', body: JSON.stringify({ prompt: 'x' }) }),
        () => mock.release(),
      )
      expect(viaKoa.text).toBe(TOKENS.join(''))
      expect(viaKoa.chunks).toBeGreaterThan(1)
    } finally {
      koaServer.close()
    }
    mock.reset()
    mock.configure({ holdAfterFirst: true })
    const direct = await read(
      await runtime.fetch(
        new Request('http://local/openai', { method: 'POST', body: JSON.stringify({ prompt: 'x' }) }),
      ),
      () => mock.release(),
    )
    expect(direct.text).toBe(TOKENS.join(''))
    expect(direct.chunks).toBeGreaterThan(1)
  })
})

describe('limits and the SSRF guard around streaming functions', () => {
  it('without allowedHosts the loopback mock is refused by the SSRF guard', async () => {
    await runtime.deploy('openai-unlisted', { entry: join(functions, 'openai-chat.ts'), secrets: SECRETS })
    const res = await post('/fn/openai-unlisted', { prompt: 'hi' })
    expect(res.status).toBe(502)
    expect(((await res.json()) as { error: string }).error).toMatch(/Connection error|fetch failed|not allowed/i)
    expect(mock.requests).toHaveLength(0)
  })

  it('limits.streamTotalMs cuts off a stream that outlives it', async () => {
    await runtime.deploy('openai-short', {
      entry: join(functions, 'openai-chat.ts'),
      secrets: SECRETS,
      allowedHosts: [mock.host],
      limits: { timeoutMs: 400, streamTotalMs: 400 },
    })
    mock.configure({ delayMs: 150 })
    const started = performance.now()
    const res = await post('/fn/openai-short', { prompt: 'hi' })
    await expect(read(res)).rejects.toThrow()
    expect(performance.now() - started).toBeLessThan(TOKENS.length * 150)
  })

  it('a client that stops reading pauses the guest (backpressure), then gets every chunk', async () => {
    await runtime.deploy('producer', {
      code: `
        export default {
          fetch() {
            let n = 0
            const chunk = new Uint8Array(1024).fill(120)
            return new Response(new ReadableStream({
              pull(c) {
                if (++n > 1000) return c.close()
                console.log('pull ' + n)
                c.enqueue(chunk)
              },
            }, { highWaterMark: 0 }))
          },
        }`,
    })
    const res = await runtime.fetch(new Request('http://local/producer'))
    const reader = res.body!.getReader()
    let bytes = (await reader.read()).value!.byteLength
    await new Promise((resolve) => setTimeout(resolve, 300))
    const pulls = logs.filter((e) => e.function === 'producer').length
    expect(pulls).toBeLessThan(30)
    for (;;) {
      const { done, value } = await reader.read()
      if (done) break
      bytes += value.byteLength
    }
    expect(bytes).toBe(1000 * 1024)
  })
})
