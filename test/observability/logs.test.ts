import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Writable } from 'node:stream'
import { trace } from '@opentelemetry/api'
import { InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base'
import { NodeTracerProvider } from '@opentelemetry/sdk-trace-node'
import pino from 'pino'
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest'
import { createRuntime, type LogEvent, type Runtime } from 'fnbox'

type Entry = Record<string, unknown>

/** A pino logger writing JSON lines into `entries`. */
function capture(): { logger: pino.Logger; entries: Entry[] } {
  const entries: Entry[] = []
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString().split('\n')) if (line) entries.push(JSON.parse(line) as Entry)
      done()
    },
  })
  return { logger: pino({ level: 'debug' }, stream), entries }
}

describe('a pino logger', () => {
  const exporter = new InMemorySpanExporter()
  const provider = new NodeTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] })
  const { logger, entries } = capture()
  let runtime: Runtime
  let dir: string

  beforeAll(async () => {
    provider.register()
    dir = await mkdtemp(join(tmpdir(), 'fnbox-logs-'))
    runtime = await createRuntime({ threads: 1, storage: 'memory', logger, secrets: { key: 'b'.repeat(64) } })
    await runtime.secrets.set('API_TOKEN', 'tok-9f8e7d6c5b4a39281706')
  })

  afterAll(async () => {
    await runtime?.close()
    await provider.shutdown()
    trace.disable()
    await rm(dir, { recursive: true, force: true })
  })

  it('receives JSON entries with message, fields, request and trace ids, secrets redacted', async () => {
    const { version } = await runtime.deploy('logs', {
      secrets: ['API_TOKEN'],
      code: `import { secrets } from 'fnbox:host'
        export default { fetch(req, ctx) {
          console.log('Processing', { userId: 1, tags: ['a'] })
          console.warn({ token: secrets.get('API_TOKEN') }, 'token in use')
          console.info('%s has %d items', 'cart', 3, { ignored: true })
          return new Response(ctx.requestId)
        } }`,
    })
    const res = await runtime.fetch(new Request('http://localhost/logs', { headers: { 'x-request-id': 'req-log-42' } }))
    expect(await res.text()).toBe('req-log-42')
    await vi.waitFor(() => expect(exporter.getFinishedSpans().some((s) => s.name === 'logs')).toBe(true))
    const span = exporter.getFinishedSpans().find((s) => s.name === 'logs')!
    const ids = { requestId: 'req-log-42', traceId: span.spanContext().traceId, spanId: span.spanContext().spanId }

    const processing = entries.find((e) => e.msg === 'Processing')
    expect(processing).toMatchObject({ level: 30, userId: 1, tags: ['a'], function: 'logs', version, ...ids })
    const warned = entries.find((e) => e.msg === 'token in use')
    expect(warned).toMatchObject({ level: 40, token: '[redacted]', ...ids })
    expect(JSON.stringify(entries)).not.toContain('tok-9f8e7d6c5b4a39281706')
    // A format string keeps util.format's line.
    expect(entries.find((e) => e.level === 30 && String(e.msg).startsWith('cart has 3 items'))).toMatchObject(ids)
  })

  it('gets guest errors with their stack mapped through the source map, and failed invocations', async () => {
    const entry = join(dir, 'fails.ts')
    await writeFile(
      entry,
      [
        'export default {',
        '  fetch(): Response {',
        "    console.error('lookup failed', new RangeError('index 7 out of range'), { index: 7 })",
        "    throw new TypeError('no answer')",
        '  },',
        '}',
        '',
      ].join('\n'),
    )
    await runtime.deploy('fails', { entry })
    const res = await runtime.fetch(new Request('http://localhost/fails'))
    expect(res.status).toBe(500)
    await vi.waitFor(() => expect(entries.some((e) => e.msg === 'invocation failed')).toBe(true))
    const logged = entries.find((e) => e.msg === 'lookup failed')!
    expect(logged).toMatchObject({
      level: 50,
      index: 7,
      function: 'fails',
      err: { type: 'RangeError', message: 'index 7 out of range' },
    })
    expect((logged.err as { stack: string }).stack).toMatch(/fails\.ts:3/)
    const failed = entries.find((e) => e.msg === 'invocation failed')!
    expect(failed).toMatchObject({ level: 50, function: 'fails', code: 'ERR_GUEST_EXCEPTION' })
    expect(typeof failed.requestId).toBe('string')
    expect(typeof failed.traceId).toBe('string')
    expect((failed.err as { stack: string }).stack).toMatch(/fails\.ts:4/)
  })
})

describe('with no logger', () => {
  let writes: string[] = []
  const spy = vi.spyOn(process.stderr, 'write')

  beforeAll(() => {
    spy.mockImplementation((chunk: string | Uint8Array) => {
      writes.push(String(chunk))
      return true
    })
  })

  afterEach(() => {
    writes = []
  })

  afterAll(() => {
    spy.mockRestore()
  })

  const code = `export default { fetch() {
    console.log('quiet line')
    console.warn('careful', { left: 2 })
    console.error(new Error('bad thing'))
    throw new Error('guest broke\\nsecond line')
  } }`

  it('prints guest warnings, errors and failed invocations to stderr, one line each', async () => {
    const runtime = await createRuntime({ threads: 1, storage: 'memory' })
    try {
      await runtime.deploy('noisy', { code })
      await runtime.fetch(new Request('http://localhost/noisy', { headers: { 'x-request-id': 'r-1' } }))
      await vi.waitFor(() => expect(writes.some((w) => w.includes('failed'))).toBe(true))
      const ours = writes.filter((w) => w.startsWith('[fnbox]'))
      expect(ours).toHaveLength(3)
      for (const line of ours) expect(line.trimEnd()).not.toContain('\n')
      expect(ours[0]).toContain('noisy warn: careful {"left":2}')
      expect(ours[1]).toContain('noisy error: Error: bad thing')
      expect(ours[2]).toContain('noisy failed (ERR_GUEST_EXCEPTION)')
      expect(ours[2]).toContain('guest broke')
      for (const line of ours) expect(line).toContain('requestId=r-1')
      expect(writes.join('')).not.toContain('quiet line')
    } finally {
      await runtime.close()
    }
  })

  it('prints no failure for a caller that left mid-stream: it counts as outcome client_gone', async () => {
    const runtime = await createRuntime({ threads: 1, storage: 'memory' })
    try {
      await runtime.deploy('ticker', {
        code: `export default { fetch() {
          let n = 0
          return new Response(new ReadableStream({
            async pull(c) { await new Promise((r) => setTimeout(r, 5)); c.enqueue(new TextEncoder().encode('tick ' + n++ + '\\n')) },
          }))
        } }`,
      })
      const controller = new AbortController()
      const res = await runtime.fetch(new Request('http://localhost/ticker'), { signal: controller.signal })
      const reader = res.body!.getReader()
      await reader.read()
      controller.abort()
      await reader.cancel().catch(() => undefined)
      await vi.waitFor(async () => expect(await runtime.metrics()).toMatch(/outcome="client_gone"\} 1/), {
        timeout: 10_000,
      })
      expect(writes.filter((w) => w.startsWith('[fnbox]'))).toEqual([])
    } finally {
      await runtime.close()
    }
  })

  it('prints nothing with logger: false, nor what a log listener takes', async () => {
    const silent = await createRuntime({ threads: 1, storage: 'memory', logger: false })
    const listened = await createRuntime({ threads: 1, storage: 'memory' })
    try {
      await silent.deploy('noisy', { code })
      await listened.deploy('noisy', { code })
      const events: LogEvent[] = []
      listened.on('log', (e) => events.push(e))
      listened.on('invoke', () => undefined)
      await silent.fetch(new Request('http://localhost/noisy'))
      await listened.fetch(new Request('http://localhost/noisy'))
      await vi.waitFor(() => expect(events).toHaveLength(3))
      expect(events[1]).toMatchObject({ level: 'warn', message: 'careful', fields: { left: 2 } })
      expect(events[2]).toMatchObject({ level: 'error', err: { type: 'Error', message: 'bad thing' } })
      await new Promise((resolve) => setTimeout(resolve, 50))
      expect(writes.filter((w) => w.startsWith('[fnbox]'))).toEqual([])
    } finally {
      await Promise.all([silent.close(), listened.close()])
    }
  })

  it('rejects a logger without the four methods, naming the option', async () => {
    await expect(
      createRuntime({ threads: 1, storage: 'memory', logger: { info: () => undefined } as never }),
    ).rejects.toMatchObject({ code: 'ERR_INVALID_OPTION', message: expect.stringContaining('options.logger') })
  })
})
