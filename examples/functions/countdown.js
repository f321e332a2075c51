// Per-method exports, and a streamed body: each line reaches the client as it is produced.
export async function GET(request) {
  const from = Number(new URL(request.url).searchParams.get('from') ?? 3)
  const encoder = new TextEncoder()
  const body = new ReadableStream({
    async start(controller) {
      for (let i = from; i > 0; i--) {
        controller.enqueue(encoder.encode(`${i}...\n`))
        await new Promise((resolve) => setTimeout(resolve, 100))
      }
      controller.enqueue(encoder.encode('liftoff!\n'))
      controller.close()
    },
  })
  return new Response(body, { headers: { 'content-type': 'text/plain; charset=utf-8' } })
}

// Any other named export is reachable with runtime.call('countdown', 'sum', 1, 2, 3).
export function sum(...numbers) {
  return numbers.reduce((a, b) => a + b, 0)
}
