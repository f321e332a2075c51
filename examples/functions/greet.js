// An HTTP function: `export default { fetch }` receives a Web Request and returns a Response.
export default {
  async fetch(request, ctx) {
    const url = new URL(request.url)
    const name = url.searchParams.get('name') ?? 'world'
    console.log(`greeting ${name}`)
    return Response.json({ message: `Hello, ${name}!`, requestId: ctx.requestId })
  },
}
