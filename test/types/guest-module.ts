// Type-level test (run by `npm run typecheck`): a function written against fnbox/guest.
import type { FnboxContext, FnboxFetchExport } from '../../guest.js'
import host, { utils } from 'fnbox:host'

export default {
  async fetch(request: Request, ctx: FnboxContext) {
    const id: string = utils.uuid()
    const digest: string = host.utils.hash(await request.arrayBuffer(), 'sha512')
    ctx.waitUntil(Promise.resolve())
    return Response.json({ id, digest, requestId: ctx.requestId })
  },
} satisfies FnboxFetchExport

// @ts-expect-error: not an algorithm utils.hash offers
utils.hash('x', 'crc32')
