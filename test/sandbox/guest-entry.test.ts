// GuestEntry, the guest side of an invocation: default.fetch and method exports with their
// responses (streamed, proxied, refused), waitUntil, abort() and call() with JSON arguments.
import { describe, expect, it } from 'vitest'
import { guestRunner } from '../helpers/guest-harness.js'

const { harness } = guestRunner()
const decode = (b: Uint8Array | undefined): string => new TextDecoder().decode(b)

describe('GuestEntry', () => {
  const meta = (method: string, extra: Record<string, unknown> = {}): string =>
    JSON.stringify({
      method,
      url: 'https://fn.example/hello?name=x',
      headers: [['content-type', 'text/plain']],
      requestId: 'req-1',
      functionName: 'hello',
      version: 'v3',
      ...extra,
    })

  it('runs default.fetch with the request and ctx', async () => {
    const h = await harness()
    await h.loadModule(`
      export default {
        prefix: 'got',
        async fetch(request, ctx) {
          const body = await request.text()
          return new Response(this.prefix + ' ' + request.method + ' ' + new URL(request.url).searchParams.get('name') + ' ' + body,
            { status: 202, headers: { 'x-request': ctx.requestId + '/' + ctx.functionName + '/' + ctx.version } })
        },
      }
    `)
    await h.entry('fetch', [meta('POST'), new TextEncoder().encode('payload').buffer])
    expect(h.responses).toHaveLength(1)
    const { meta: head, body } = h.responses[0]!
    expect(head).toEqual({
      status: 202,
      statusText: '',
      headers: [
        ['content-type', 'text/plain;charset=UTF-8'],
        ['x-request', 'req-1/hello/v3'],
      ],
      stream: false,
    })
    expect(decode(body)).toBe('got POST x payload')
  })

  it('dispatches method exports, HEAD falls back to GET without a body, 405 lists Allow', async () => {
    const h = await harness()
    await h.loadModule(`
      export function GET(request) { return new Response('get body', { headers: { 'x-m': request.method } }) }
      export const POST = async () => Response.json({ posted: true })
    `)
    await h.entry('fetch', [meta('GET')])
    await h.entry('fetch', [meta('HEAD')])
    await h.entry('fetch', [meta('DELETE')])
    await h.entry('fetch', [meta('POST')])
    const [get, head, del, post] = h.responses
    expect(decode(get!.body)).toBe('get body')
    expect(head!.meta.headers).toContainEqual(['x-m', 'HEAD'])
    expect(head!.body).toBeUndefined()
    expect(del!.meta).toEqual({
      status: 405,
      statusText: 'Method Not Allowed',
      headers: [['allow', 'GET, HEAD, POST']],
      stream: false,
    })
    expect(decode(post!.body)).toBe('{"posted":true}')
  })

  it('streams a ReadableStream body as several chunks', async () => {
    const h = await harness()
    await h.loadModule(`
      export default {
        fetch() {
          let i = 0
          const stream = new ReadableStream({
            async pull(c) {
              await new Promise((r) => setTimeout(r, 1))
              if (++i > 3) return c.close()
              c.enqueue(i % 2 ? new TextEncoder().encode('chunk' + i) : 'text' + i)
            },
          })
          return new Response(stream, { headers: { 'content-type': 'text/event-stream' } })
        },
      }
    `)
    await h.entry('fetch', [meta('GET')])
    expect(h.responses[0]!.meta).toEqual({
      status: 200,
      statusText: '',
      headers: [['content-type', 'text/event-stream']],
      stream: true,
    })
    expect(h.responses[0]!.body).toBeUndefined()
    expect(h.chunks.map(decode)).toEqual(['chunk1', 'text2', 'chunk3'])
    expect(h.bodyEnds).toBe(1)
  })

  it('proxies a fetched body chunk by chunk', async () => {
    const h = await harness({ onFetch: () => ({ body: ['x', 'y'] }) })
    await h.loadModule(`export default { fetch: () => fetch('https://upstream.example/') }`)
    await h.entry('fetch', [meta('GET')])
    expect(h.responses[0]!.meta.stream).toBe(true)
    expect(h.chunks.map(decode)).toEqual(['x', 'y'])
    expect(h.bodyEnds).toBe(1)
  })

  it('rejects non-Response results, bad chunks and modules without HTTP handlers', async () => {
    const h = await harness()
    await h.loadModule(`
      export function GET() { return { status: 200 } }
      export function POST() { return new Response(new ReadableStream({ start(c) { c.enqueue(42); c.close() } })) }
    `)
    await expect(h.entry('fetch', [meta('GET')])).rejects.toMatchObject({
      guest: { name: 'TypeError', message: 'the HTTP handler must return a Response, got a plain object' },
    })
    await expect(h.entry('fetch', [meta('POST')])).rejects.toMatchObject({
      guest: { name: 'TypeError', message: 'response body chunks must be Uint8Array or string, got a number' },
    })
    const none = await harness()
    await none.loadModule(`export const helper = () => 1`)
    await expect(none.entry('fetch', [meta('GET')])).rejects.toMatchObject({
      guest: {
        name: 'TypeError',
        message: 'function has no HTTP handler (export default { fetch } or GET/POST/... exports)',
      },
    })
  })

  it('waitUntil work finishes before the invocation settles', async () => {
    const h = await harness()
    await h.loadModule(`
      export default {
        fetch(request, ctx) {
          ctx.waitUntil(new Promise((r) => setTimeout(r, 10)).then(() => console.log('background done')))
          ctx.waitUntil(Promise.reject(new Error('background failed')))
          return new Response('now')
        },
      }
    `)
    await h.entry('fetch', [meta('GET')])
    expect(h.logs.map((l) => l.message.split('\n')[0])).toEqual([
      'Uncaught Error: background failed',
      'background done',
    ])
  })

  it('abort() aborts request.signal with TimeoutError or AbortError', async () => {
    const h = await harness()
    await h.loadModule(`
      export default {
        async fetch(request) {
          await new Promise((resolve) => request.signal.addEventListener('abort', resolve))
          return new Response(request.signal.reason.name + ':' + request.signal.reason.message)
        },
      }
    `)
    const first = h.entry('fetch', [meta('GET')])
    await new Promise((r) => setTimeout(r, 5)) // the invocation now waits on its signal
    h.entrySync('abort', ['timeout'])
    await first
    const second = h.entry('fetch', [meta('GET')])
    await new Promise((r) => setTimeout(r, 5))
    h.entrySync('abort', ['client disconnected'])
    await second
    expect(h.responses.map((r) => decode(r.body))).toEqual([
      'TimeoutError:The operation timed out.',
      'AbortError:client disconnected',
    ])
  })

  it('call() passes JSON arguments and returns JSON results', async () => {
    const h = await harness()
    await h.loadModule(`
      export async function add(a, b) { await null; return { sum: a + b } }
      export function nothing() {}
      export const notFn = 1
    `)
    expect(await h.entry('call', ['add', '[2, 3]'])).toBe('{"sum":5}')
    expect(await h.entry('call', ['nothing', '[]'])).toBeUndefined()
    await expect(h.entry('call', ['missing', '[]'])).rejects.toMatchObject({
      guest: {
        name: 'FnboxExportNotFound',
        message: 'the function has no export named missing (its function exports: add, nothing)',
      },
    })
    await expect(h.entry('call', ['notFn', '[]'])).rejects.toMatchObject({
      guest: {
        name: 'FnboxExportNotFound',
        message: 'the function has no export named notFn (its function exports: add, nothing)',
      },
    })
    await expect(h.entry('call', ['add', '{}'])).rejects.toMatchObject({ guest: { name: 'TypeError' } })
  })
})
