/**
 * Everything an HTTP client controls (method, path, headers, body), sent as raw bytes over a
 * socket to real Express, Koa and plain `node:http` servers mounting a real runtime: malformed
 * input is the client's fault, so it gets a 4xx (with a typed code when fnbox answers), never a
 * 5xx. Where Node's own parser refuses a request first (a body cut short included), its
 * 400/431 is the answer; where Node closes the connection (CONNECT without a `connect` listener),
 * there is none.
 */
import { createServer, type RequestListener, type Server } from 'node:http'
import { connect, type AddressInfo } from 'node:net'
import express from 'express'
import Koa from 'koa'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createRuntime, type Runtime } from 'fnbox'
import {
  createDisconnectSignal,
  errorToResponse,
  toWebRequest,
  writeWebResponse,
} from '../../../src/triggers/http/index.js'

let runtime: Runtime
const servers: Server[] = []
const ports: Record<string, number> = {}
/** Errors the mounts reported through `onError`: none may be an internal one. */
const reported: unknown[] = []

async function listen(name: string, listener: RequestListener): Promise<void> {
  const server = createServer(listener)
  servers.push(server)
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  ports[name] = (server.address() as AddressInfo).port
}

beforeAll(async () => {
  runtime = await createRuntime({ threads: 1, storage: 'memory', limits: { memoryMb: 32, maxRequestBytes: 64 } })
  await runtime.deploy('hello', {
    code: `export default {
      async fetch(request) {
        const body = await request.text()
        return new Response(request.method + ' ' + new URL(request.url).pathname + ' ' + body.length)
      },
    }`,
  })
  const onError = (error: unknown): void => void reported.push(error)
  const app = express()
  app.use('/fn', runtime.express({ onError }))
  await listen('Express', app)
  const koa = new Koa()
  koa.silent = true
  koa.use(runtime.koa({ prefix: '/fn', onError }))
  await listen('Koa', koa.callback())
  // The plain node:http path the mounts are built on (README: other Node servers).
  await listen('node:http', (req, res) => {
    const signal = createDisconnectSignal(res)
    void (async () => {
      let response: Response
      try {
        const request = await toWebRequest(req, { maxRequestBytes: 1 << 20, signal })
        response = await runtime.fetch(new Request(request.url.replace('/fn/', '/'), request), { signal })
      } catch (error) {
        reported.push(error)
        response = errorToResponse(error)
      }
      await writeWebResponse(res, response, signal).catch(() => res.destroy())
    })()
  })
})

afterAll(async () => {
  for (const server of servers) {
    server.closeAllConnections()
    await new Promise<void>((resolve) => server.close(() => resolve()))
  }
  await runtime?.close({ timeoutMs: 2000 })
})

interface Answer {
  /** The status line's code; undefined when the server closed the connection without one. */
  status: number | undefined
  /** `error.code` of a JSON error body. */
  code: string | undefined
  body: string
}

/** Writes `bytes` and reads until the server closes the connection (or 3 s pass). */
function exchange(port: number, bytes: string | Buffer, halfClose = false): Promise<Answer> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = []
    const socket = connect(port, '127.0.0.1', () => {
      socket.write(bytes)
      if (halfClose) socket.end()
    })
    const timer = setTimeout(() => socket.destroy(), 3000)
    socket.on('data', (chunk: Buffer) => chunks.push(chunk))
    socket.on('error', () => undefined)
    socket.on('close', () => {
      clearTimeout(timer)
      const text = Buffer.concat(chunks).toString('latin1')
      const status = /^HTTP\/1\.[01] (\d{3})/.exec(text)?.[1]
      const body = text.slice(text.indexOf('\r\n\r\n') + 4)
      const code = /"code":"(ERR_[A-Z_]+)"/.exec(body)?.[1]
      resolve({ status: status === undefined ? undefined : Number(status), code, body })
    })
  })
}

const CRLF = '\r\n'
/** A request with `Connection: close`, so the server ends the exchange after its answer. */
const req = (line: string, headers: string[] = [], body = ''): string =>
  [line, 'Host: localhost', 'Connection: close', ...headers].join(CRLF) + CRLF + CRLF + body

interface Row {
  what: string
  bytes: string | Buffer
  /** The answer: a status and fnbox's code, Node's own status (no code), or 'closed'. */
  expect: { status: number; code?: string } | 'closed'
  halfClose?: boolean
}

const ok = (what: string, line: string, headers: string[] = [], body = ''): Row => ({
  what,
  bytes: req(line, headers, body),
  expect: { status: 200 },
})

const rows: Row[] = [
  // ---- methods
  {
    what: 'TRACE (forbidden by the Fetch API)',
    bytes: req('TRACE /fn/hello HTTP/1.1'),
    expect: { status: 405, code: 'ERR_BAD_REQUEST' },
  },
  { what: 'CONNECT (Node closes: no connect listener)', bytes: req('CONNECT /fn/hello HTTP/1.1'), expect: 'closed' },
  { what: 'TRACK (not a method Node parses)', bytes: req('TRACK /fn/hello HTTP/1.1'), expect: { status: 400 } },
  { what: 'a lower-case method', bytes: req('get /fn/hello HTTP/1.1'), expect: { status: 400 } },
  { what: 'a made-up method token', bytes: req('FROB /fn/hello HTTP/1.1'), expect: { status: 400 } },
  ok('an unusual method Node knows (PROPFIND)', 'PROPFIND /fn/hello HTTP/1.1'),
  // ---- paths
  {
    what: 'a function name that is not UTF-8 (%ff%fe)',
    bytes: req('GET /fn/%ff%fe HTTP/1.1'),
    expect: { status: 400, code: 'ERR_BAD_REQUEST' },
  },
  {
    what: 'a broken percent-escape in the name (%zz)',
    bytes: req('GET /fn/%zz HTTP/1.1'),
    expect: { status: 400, code: 'ERR_BAD_REQUEST' },
  },
  {
    what: 'a lone % in the name',
    bytes: req('GET /fn/a% HTTP/1.1'),
    expect: { status: 400, code: 'ERR_BAD_REQUEST' },
  },
  ok('bad percent-encoding after the name (the guest sees it)', 'GET /fn/hello/%ff%zz HTTP/1.1'),
  {
    what: 'an empty first segment (//)',
    bytes: req('GET /fn//hello HTTP/1.1'),
    expect: { status: 404, code: 'ERR_NOT_FOUND' },
  },
  ok('dot segments that stay in the mount', 'GET /fn/x/../hello HTTP/1.1'),
  ok('dot segments through the mount and back', 'GET /fn/../fn/hello HTTP/1.1'),
  {
    what: 'an encoded slash in the name',
    bytes: req('GET /fn/hello%2Fx HTTP/1.1'),
    expect: { status: 404, code: 'ERR_NOT_FOUND' },
  },
  {
    what: 'an overlong name (8 KB)',
    bytes: req(`GET /fn/${'a'.repeat(8192)} HTTP/1.1`),
    expect: { status: 404, code: 'ERR_NOT_FOUND' },
  },
  {
    what: 'a request line past Node’s header limit',
    bytes: req(`GET /fn/${'a'.repeat(20_000)} HTTP/1.1`),
    expect: { status: 431 },
  },
  ok('the absolute form', 'GET http://elsewhere.example/fn/hello HTTP/1.1'),
  // ---- headers
  {
    what: 'a control character in a header value',
    bytes: req('GET /fn/hello HTTP/1.1', ['x-a: a\x01b']),
    expect: { status: 400 },
  },
  {
    what: 'a header name that is not a token',
    bytes: req('GET /fn/hello HTTP/1.1', ['x a: b']),
    expect: { status: 400 },
  },
  ok('obs-text (bytes 0x80-0xff) in a header value', 'GET /fn/hello HTTP/1.1', ['x-a: caf\xe9']),
  {
    what: 'a Host header that is not a host',
    bytes: `GET /fn/hello HTTP/1.1${CRLF}Host: a b${CRLF}Connection: close${CRLF}${CRLF}`,
    expect: { status: 200 },
  },
  {
    what: 'two different Content-Lengths',
    bytes: req('POST /fn/hello HTTP/1.1', ['content-length: 5', 'content-length: 6'], 'hello!'),
    expect: { status: 400 },
  },
  {
    what: 'Content-Length and Transfer-Encoding together',
    bytes: req(
      'POST /fn/hello HTTP/1.1',
      ['content-length: 5', 'transfer-encoding: chunked'],
      '5\r\nhello\r\n0\r\n\r\n',
    ),
    expect: { status: 400 },
  },
  {
    what: 'a Content-Length that is not a number',
    bytes: req('POST /fn/hello HTTP/1.1', ['content-length: abc']),
    expect: { status: 400 },
  },
  {
    what: 'headers past Node’s size limit',
    bytes: req('GET /fn/hello HTTP/1.1', [`x-big: ${'b'.repeat(20_000)}`]),
    expect: { status: 431 },
  },
  {
    what: 'Expect: something unknown',
    bytes: req('POST /fn/hello HTTP/1.1', ['expect: teapot', 'content-length: 0']),
    expect: { status: 417 },
  },
  // ---- bodies
  ok('a body on a GET (ignored)', 'GET /fn/hello HTTP/1.1', ['content-length: 5'], 'hello'),
  {
    what: 'a body on a HEAD (ignored)',
    bytes: req('HEAD /fn/hello HTTP/1.1', ['content-length: 5'], 'hello'),
    expect: { status: 200 },
  },
  {
    what: 'a body past maxRequestBytes',
    bytes: req('POST /fn/hello HTTP/1.1', ['content-length: 100'], 'x'.repeat(100)),
    expect: { status: 413, code: 'ERR_REQUEST_TOO_LARGE' },
  },
  {
    what: 'a body cut short (the client half-closes)',
    bytes: req('POST /fn/hello HTTP/1.1', ['content-length: 10'], 'hel'),
    expect: { status: 400 },
    halfClose: true,
  },
  {
    what: 'a chunk size that is not hex',
    bytes: req('POST /fn/hello HTTP/1.1', ['transfer-encoding: chunked'], 'zz\r\nhello\r\n0\r\n\r\n'),
    expect: { status: 400 },
  },
  {
    what: 'a chunked body cut short (the client half-closes)',
    bytes: req('POST /fn/hello HTTP/1.1', ['transfer-encoding: chunked'], '5\r\nhel'),
    expect: { status: 400 },
    halfClose: true,
  },
  ok('a chunked body', 'POST /fn/hello HTTP/1.1', ['transfer-encoding: chunked'], '5\r\nhello\r\n0\r\n\r\n'),
]

describe.each(['Express', 'Koa', 'node:http'])('raw client input through %s', (server) => {
  it.each(rows)('$what', async (row) => {
    reported.length = 0
    const answer = await exchange(ports[server]!, row.bytes, row.halfClose)
    if (row.expect === 'closed') expect(answer.status, answer.body).toBeUndefined()
    else {
      expect(answer.status, answer.body).toBe(row.expect.status)
      expect(answer.code, answer.body).toBe(row.expect.code)
    }
    // Nothing the client sent was reported as an internal error.
    for (const error of reported) expect((error as { code?: string }).code).not.toBe('ERR_INTERNAL')
    expect(reported.filter((e) => !(e instanceof Error && 'code' in e))).toEqual([])
  })
})

describe('client input through runtime.fetch', () => {
  const fetchStatus = async (request: Request): Promise<{ status: number; code: string | undefined }> => {
    const res = await runtime.fetch(request)
    const text = await res.text()
    return { status: res.status, code: /"code":"(ERR_[A-Z_]+)"/.exec(text)?.[1] }
  }

  it.each([
    ['a function name that is not UTF-8', new Request('http://localhost/%ff%fe'), 400, 'ERR_BAD_REQUEST'],
    ['a broken escape in the name', new Request('http://localhost/%zz'), 400, 'ERR_BAD_REQUEST'],
    ['an empty first segment', new Request('http://localhost//hello'), 404, 'ERR_NOT_FOUND'],
    ['an encoded slash', new Request('http://localhost/hello%2fx'), 404, 'ERR_NOT_FOUND'],
    ['an unusual method', new Request('http://localhost/hello', { method: 'PROPFIND' }), 200, undefined],
  ] as const)('%s', async (_what, request, status, code) => {
    expect(await fetchStatus(request)).toEqual({ status, code })
  })

  it('a body stream that fails mid-upload: 400 ERR_BAD_REQUEST', async () => {
    let sent = 0
    const body = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (sent++ === 2) controller.error(new Error('the client went away'))
        else controller.enqueue(new Uint8Array(8))
      },
    })
    const request = new Request('http://localhost/hello', { method: 'POST', body, duplex: 'half' } as RequestInit)
    expect(await fetchStatus(request)).toEqual({ status: 400, code: 'ERR_BAD_REQUEST' })
  })

  it('a body already read: 400 ERR_BAD_REQUEST', async () => {
    const request = new Request('http://localhost/hello', { method: 'POST', body: 'used' })
    await request.text()
    expect(await fetchStatus(request)).toEqual({ status: 400, code: 'ERR_BAD_REQUEST' })
  })

  it('an overlong name is not echoed whole', async () => {
    const res = await runtime.fetch(new Request(`http://localhost/${'n'.repeat(5000)}`))
    expect(res.status).toBe(404)
    expect((await res.text()).length).toBeLessThan(300)
  })
})
