// A function with state: notes kept in the host's key-value store (`fnbox:host`), which is
// embedded Postgres (PGlite, under .fnbox/) unless the runtime is given another storage.
//   POST /fn/notes  {"text": "..."}  adds a note      GET /fn/notes  lists the newest 20
import { kv, utils } from 'fnbox:host'

export default {
  async fetch(request) {
    if (request.method === 'POST') {
      const { text } = await request.json()
      if (typeof text !== 'string' || text.length === 0)
        return Response.json({ error: 'text is required' }, { status: 400 })
      const id = utils.uuid() // time-ordered: keys list in creation order
      await kv.set(`note:${id}`, { text, at: new Date().toISOString() }, { ttl: 24 * 3600 })
      const count = await kv.incr('notes:count')
      return Response.json({ id, count }, { status: 201 })
    }
    // Keys list oldest first, a page at a time: walk the pages, keep the last 20.
    let newest = []
    let cursor
    do {
      const page = await kv.list({ prefix: 'note:', limit: 1000, cursor })
      newest = [...newest, ...page.keys].slice(-20)
      cursor = page.cursor
    } while (cursor)
    const notes = await Promise.all(newest.map(async ({ key }) => ({ id: key.slice(5), ...(await kv.get(key)) })))
    return Response.json({ notes: notes.reverse() })
  },
}
