// Chunk "fetch": Headers, Request, Response and fetch, and the HTTP side of the GuestEntry (the
// core's entry.fetch and entry.abort call serve and abort).
import { provide } from '../shared.js'
import { Headers } from '../headers.js'
import { Request } from '../request.js'
import { Response } from '../response.js'
import { fetch } from '../fetch.js'
import { serve, abort } from '../dispatch.js'

provide('fetch', { Headers, Request, Response, fetch, serve, abort })
