// A local OpenAI-compatible server for tests and benchmarks: POST /v1/chat/completions, with or
// without `stream: true` (server-sent events, one token per event), tool calls, configurable
// delays and failures. Only ever listens on 127.0.0.1.
//
//   const mock = await startMockOpenAI({ tokens: ['Hello', ' world'], delayMs: 20 })
//   mock.url          // 'http://127.0.0.1:PORT/v1'
//   mock.configure({ mode: 'error' })
//   mock.requests     // every request body received, parsed
//   mock.completions  // { startedAt, firstTokenAt, finishedAt, closedEarly } of each answer (performance.now())
//   await mock.close()
import { createServer } from 'node:http'

/** @type {import('./mock-openai.d.mts').MockOptions} */
const DEFAULTS = {
  tokens: ['Hello', ' from', ' the', ' mock', ' model', '.'],
  delayMs: 0,
  firstDelayMs: 0,
  mode: 'ok',
  errorStatus: 400,
  toolArguments: { city: 'Paris' },
  holdAfterFirst: false,
}

const sleep = (ms) => (ms > 0 ? new Promise((resolve) => setTimeout(resolve, ms)) : Promise.resolve())

/** @param {Partial<import('./mock-openai.d.mts').MockOptions>} options */
export async function startMockOpenAI(options = {}) {
  let config = { ...DEFAULTS, ...options }
  const requests = []
  const completions = []
  const sockets = new Set()
  // Answers held after their first token (holdAfterFirst) until release().
  let released
  let held = new Promise((resolve) => (released = resolve))
  let seq = 0

  const server = createServer(async (req, res) => {
    if (req.method !== 'POST' || !req.url?.endsWith('/chat/completions')) {
      res.writeHead(404, { 'content-type': 'application/json' })
      res.end(
        JSON.stringify({ error: { message: `no route ${req.method} ${req.url}`, type: 'invalid_request_error' } }),
      )
      return
    }
    const chunks = []
    for await (const chunk of req) chunks.push(chunk)
    const body = JSON.parse(Buffer.concat(chunks).toString('utf8'))
    requests.push({ headers: req.headers, body })
    const timing = { startedAt: performance.now(), firstTokenAt: 0, finishedAt: 0, closedEarly: false }
    completions.push(timing)
    // The client (the function's fetch) went away before the answer was complete.
    res.on('close', () => {
      if (!res.writableFinished) timing.closedEarly = true
    })
    const id = `chatcmpl-mock-${++seq}`
    const created = Math.floor(Date.now() / 1000)
    const model = body.model ?? 'mock-model'

    if (config.mode === 'error') {
      res.writeHead(config.errorStatus, { 'content-type': 'application/json' })
      res.end(
        JSON.stringify({ error: { message: 'mock upstream failure', type: 'invalid_request_error', code: 'mock' } }),
      )
      timing.finishedAt = performance.now()
      return
    }

    // Tools offered and not used yet: call the first one. After its result: talk about it.
    const messages = Array.isArray(body.messages) ? body.messages : []
    const last = messages[messages.length - 1]
    const tool = Array.isArray(body.tools) && last?.role !== 'tool' ? body.tools[0] : undefined
    const tokens =
      last?.role === 'tool' ? ['The', ' tool', ' said', ': ', String(last.content)] : config.tokens.map(String)

    if (!body.stream) {
      await sleep(config.firstDelayMs + config.delayMs * tokens.length)
      const message = tool
        ? { role: 'assistant', content: null, tool_calls: [toolCall(tool, config.toolArguments)] }
        : { role: 'assistant', content: tokens.join('') }
      res.writeHead(200, { 'content-type': 'application/json' })
      res.end(
        JSON.stringify({
          id,
          object: 'chat.completion',
          created,
          model,
          choices: [{ index: 0, message, finish_reason: tool ? 'tool_calls' : 'stop', logprobs: null }],
          usage: { prompt_tokens: 10, completion_tokens: tokens.length, total_tokens: 10 + tokens.length },
        }),
      )
      timing.firstTokenAt = timing.finishedAt = performance.now()
      return
    }

    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive' })
    res.flushHeaders()
    const send = (choices, extra) =>
      res.write(
        `data: ${JSON.stringify({ id, object: 'chat.completion.chunk', created, model, choices, ...extra })}\n\n`,
      )
    await sleep(config.firstDelayMs)
    if (res.destroyed) return
    send([{ index: 0, delta: { role: 'assistant', content: '' }, finish_reason: null }])
    if (tool) {
      const call = toolCall(tool, config.toolArguments)
      const args = call.function.arguments
      const half = Math.ceil(args.length / 2)
      send([
        {
          index: 0,
          delta: { tool_calls: [{ index: 0, ...call, function: { name: call.function.name, arguments: '' } }] },
          finish_reason: null,
        },
      ])
      for (const piece of [args.slice(0, half), args.slice(half)]) {
        await sleep(config.delayMs)
        send([{ index: 0, delta: { tool_calls: [{ index: 0, function: { arguments: piece } }] }, finish_reason: null }])
      }
      timing.firstTokenAt = performance.now()
    } else {
      for (const [i, token] of tokens.entries()) {
        await sleep(config.delayMs)
        if (res.destroyed) return
        if (config.mode === 'drop' && i === Math.floor(tokens.length / 2)) {
          // The upstream dies mid-answer: the connection breaks without [DONE].
          res.destroy()
          timing.finishedAt = performance.now()
          return
        }
        send([{ index: 0, delta: { content: token }, finish_reason: null }])
        if (i === 0) timing.firstTokenAt = performance.now()
        if (i === 0 && config.holdAfterFirst) await held
      }
    }
    send([{ index: 0, delta: {}, finish_reason: tool ? 'tool_calls' : 'stop' }])
    if (body.stream_options?.include_usage) {
      send([], { usage: { prompt_tokens: 10, completion_tokens: tokens.length, total_tokens: 10 + tokens.length } })
    }
    res.end('data: [DONE]\n\n')
    timing.finishedAt = performance.now()
  })
  server.on('connection', (socket) => {
    sockets.add(socket)
    socket.on('close', () => sockets.delete(socket))
  })
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address()
  return {
    url: `http://127.0.0.1:${port}/v1`,
    host: `127.0.0.1:${port}`,
    requests,
    completions,
    configure(next) {
      config = { ...config, ...next }
    },
    release() {
      released()
    },
    reset() {
      released()
      held = new Promise((resolve) => (released = resolve))
      config = { ...DEFAULTS, ...options }
      requests.length = 0
      completions.length = 0
    },
    close() {
      released()
      for (const socket of sockets) socket.destroy()
      return new Promise((resolve) => server.close(() => resolve()))
    },
  }
}

function toolCall(tool, args) {
  return {
    id: 'call_mock_1',
    type: 'function',
    function: { name: tool.function.name, arguments: JSON.stringify(args) },
  }
}
