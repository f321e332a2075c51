// A chat function on the Vercel AI SDK: validates its input with zod, streams the model's answer
// to the client as it is produced (streamText), and lets the model call a tool (weather).
// Bundle it with `npx fnbox bundle examples/ai-chat/functions/ai-sdk-chat.ts` or deploy it with
// `runtime.deploy('chat', { entry })`; the API key and base URL are secrets granted at deploy.
import { createOpenAI } from '@ai-sdk/openai'
import { stepCountIs, streamText, tool, type TextStreamPart, type ToolSet } from 'ai'
import { secrets } from 'fnbox:host'
import { z } from 'zod'

const ChatInput = z.object({
  prompt: z.string().min(1).max(4000),
  model: z.string().default('gpt-4o-mini'),
  /** Offer the weather tool to the model. */
  tools: z.boolean().default(false),
})

const weather = tool({
  description: 'The weather forecast for a city',
  inputSchema: z.object({ city: z.string() }),
  execute: async ({ city }) => ({ city, forecast: 'sunny', temperatureC: 21 }),
})

/** One provider while the secrets stay the same (module state survives between calls). */
let cached: { key: string; provider: ReturnType<typeof createOpenAI> } | undefined
function provider(): ReturnType<typeof createOpenAI> {
  const apiKey = secrets.get('OPENAI_API_KEY')
  const baseURL = secrets.get('OPENAI_BASE_URL')
  const key = `${apiKey}\n${baseURL}`
  if (cached?.key !== key) cached = { key, provider: createOpenAI({ apiKey, baseURL }) }
  return cached.provider
}

export default {
  async fetch(request: Request): Promise<Response> {
    if (request.method !== 'POST') return new Response('POST a JSON body { prompt }', { status: 405 })
    const input = ChatInput.safeParse(await request.json().catch(() => undefined))
    if (!input.success) return Response.json({ error: z.prettifyError(input.error) }, { status: 400 })

    const result = streamText({
      model: provider().chat(input.data.model),
      prompt: input.data.prompt,
      tools: input.data.tools ? { weather } : undefined,
      stopWhen: stepCountIs(3),
      abortSignal: request.signal,
    })
    return streamAnswer(result.fullStream)
  },
}

/**
 * The answer's text as a streamed response. The first part is awaited before the response head
 * is sent, so an upstream failure (bad key, rate limit) becomes a 502 with its message rather
 * than an empty 200; a failure later breaks the stream off, which the client sees as an error.
 */
async function streamAnswer<T extends ToolSet>(parts: AsyncIterable<TextStreamPart<T>>): Promise<Response> {
  const iterator = parts[Symbol.asyncIterator]()
  const encoder = new TextEncoder()
  // Skip the parts that carry no text until the first text (or the end, or an error).
  let first: IteratorResult<TextStreamPart<T>>
  for (;;) {
    first = await iterator.next()
    if (first.done || first.value.type === 'text-delta' || first.value.type === 'error') break
  }
  if (!first.done && first.value.type === 'error') {
    return Response.json({ error: errorMessage(first.value.error) }, { status: 502 })
  }
  let pending: IteratorResult<TextStreamPart<T>> | undefined = first
  const body = new ReadableStream<Uint8Array>({
    async pull(controller) {
      for (;;) {
        const next: IteratorResult<TextStreamPart<T>> = pending ?? (await iterator.next())
        pending = undefined
        if (next.done) return controller.close()
        if (next.value.type === 'error') return controller.error(new Error(errorMessage(next.value.error)))
        if (next.value.type === 'text-delta' && next.value.text)
          return controller.enqueue(encoder.encode(next.value.text))
      }
    },
    async cancel(reason) {
      await iterator.return?.(reason)
    },
  })
  return new Response(body, { headers: { 'content-type': 'text/plain; charset=utf-8' } })
}

function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error)
}
