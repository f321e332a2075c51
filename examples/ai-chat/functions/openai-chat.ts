// A chat function on the official OpenAI SDK: `chat.completions.create({ stream: true })`, with
// the tokens passed on to the client as they arrive. The API key and base URL are secrets.
import { secrets } from 'fnbox:host'
import OpenAI from 'openai'

/** One client while the secrets stay the same: building one per request costs the interpreter ~1 ms. */
let cached: { key: string; client: OpenAI } | undefined
function client(): OpenAI {
  const apiKey = secrets.get('OPENAI_API_KEY')
  const baseURL = secrets.get('OPENAI_BASE_URL')
  const key = `${apiKey}\n${baseURL}`
  if (cached?.key !== key) cached = { key, client: new OpenAI({ apiKey, baseURL }) }
  return cached.client
}

export default {
  async fetch(request: Request): Promise<Response> {
    const { prompt, model = 'gpt-4o-mini' } = (await request.json().catch(() => ({}))) as {
      prompt?: unknown
      model?: string
    }
    if (typeof prompt !== 'string' || prompt.length === 0) {
      return Response.json({ error: 'prompt must be a non-empty string' }, { status: 400 })
    }
    let stream: AsyncIterable<OpenAI.Chat.Completions.ChatCompletionChunk> & { controller: AbortController }
    try {
      stream = await client().chat.completions.create(
        { model, messages: [{ role: 'user', content: prompt }], stream: true },
        { signal: request.signal },
      )
    } catch (err) {
      // The upstream refused before streaming (status, bad key): answer with its message.
      const status = err instanceof OpenAI.APIError && err.status ? err.status : 502
      return Response.json(
        { error: err instanceof Error ? err.message : String(err) },
        { status: 502, headers: { 'x-upstream-status': String(status) } },
      )
    }
    const encoder = new TextEncoder()
    const iterator = stream[Symbol.asyncIterator]()
    const body = new ReadableStream<Uint8Array>({
      async pull(controller) {
        for (;;) {
          const next = await iterator.next()
          if (next.done) return controller.close()
          const text = next.value.choices[0]?.delta?.content
          if (text) return controller.enqueue(encoder.encode(text))
        }
      },
      cancel() {
        stream.controller.abort()
      },
    })
    return new Response(body, { headers: { 'content-type': 'text/plain; charset=utf-8' } })
  },
}
