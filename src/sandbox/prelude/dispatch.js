// The HTTP side of the GuestEntry (see bridge-types.ts and index.js): runs the module's handler
// for entry.fetch and aborts the invocations in flight for entry.abort.
import { native, load, reportError } from './shared.js'
import { bodyStream, unusable } from './body.js'
import { Response, responseParts } from './response.js'
import { incomingRequest } from './request.js'
import { headerPairsJson } from './headers.js'
import { utf8Encode } from './utf8.js'
import { exactBuffer, isObject } from './util.js'

const METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']

const running = new Set() // the invocations in flight: { controller, aborted, reason }

/** `request.signal` of an invocation, made on first use: most handlers never look at it. */
function signalOf(invocation) {
  if (!invocation.controller) {
    invocation.controller = new (load('events').AbortController)()
    if (invocation.aborted) invocation.controller.abort(invocation.reason)
  }
  return invocation.controller.signal
}

function describe(value) {
  if (value === null) return 'null'
  if (typeof value !== 'object') return typeof value === 'undefined' ? 'undefined' : `a ${typeof value}`
  if (typeof value.then === 'function') return 'a thenable'
  const proto = Object.getPrototypeOf(value)
  const name = proto && proto.constructor && proto.constructor.name
  return name && name !== 'Object' ? `an instance of ${name}` : 'a plain object'
}

/** The handler for a method: `default.fetch`, else the method's named export (HEAD falls back to GET). */
function findHandler(ns, method) {
  if (!ns) throw new TypeError('the function module is not loaded')
  const def = ns.default
  if (isObject(def) && typeof def.fetch === 'function') return { fn: def.fetch, self: def }
  const available = METHODS.filter((m) => typeof ns[m] === 'function')
  if (available.length === 0) {
    throw new TypeError('function has no HTTP handler (export default { fetch } or GET/POST/... exports)')
  }
  if (typeof ns[method] === 'function') return { fn: ns[method] }
  if (method === 'HEAD' && typeof ns.GET === 'function') return { fn: ns.GET }
  if (available.includes('GET')) available.push('HEAD') // served by GET
  const allow = METHODS.filter((m) => available.includes(m)).join(', ')
  return { response: new Response(null, { status: 405, statusText: 'Method Not Allowed', headers: { allow } }) }
}

function chunkBytes(chunk) {
  if (chunk instanceof Uint8Array) return chunk
  if (typeof chunk === 'string') return utf8Encode(chunk)
  throw new TypeError(`response body chunks must be Uint8Array or string, got ${describe(chunk)}`)
}

/** Sends the response: whole when the body is bytes or absent, else as chunks. */
async function send(response, isHead) {
  const s = responseParts(response)
  const body = s.body
  if (s.type === 'error') throw new TypeError('the handler returned Response.error()')
  if (unusable(body)) {
    throw new TypeError('the response body has already been used')
  }
  // The head as JSON, its header list written straight from the sorted view (no copy).
  const head = (stream) =>
    `{"status":${s.status},"statusText":${JSON.stringify(s.statusText)},"headers":${headerPairsJson(s.headers)},"stream":${stream}}`
  if (!body.present || isHead) {
    if (body.stream)
      load('streams')
        .bodyStreams.cancel(body.stream)
        .catch(() => {})
    else if (body.remote) body.remote.cancel()
    body.used = body.present
    native.respond(head(false))
    return
  }
  if (body.source !== null) {
    const source = body.source
    body.used = true
    body.source = null
    native.respond(head(false), exactBuffer(typeof source === 'string' ? utf8Encode(source) : source))
    return
  }
  native.respond(head(true))
  if (body.remote) {
    // A proxied fetch body: copy chunks through without creating a stream.
    const remote = body.remote
    body.remote = null
    body.used = true
    try {
      for (let chunk; (chunk = await remote.read()) !== undefined;) {
        if (chunk.length) await native.emitChunk(exactBuffer(chunk))
      }
    } catch (err) {
      remote.cancel()
      throw err
    }
    native.bodyEnd()
    return
  }
  const reader = load('streams').bodyStreams.reader(bodyStream(body))
  try {
    for (;;) {
      const { done, value } = await reader.read()
      if (done) break
      const bytes = chunkBytes(value)
      if (bytes.length) await native.emitChunk(exactBuffer(bytes))
    }
  } catch (err) {
    reader.cancel(err).catch(() => {})
    throw err
  }
  // The client's response ends here, even while waitUntil work keeps the invocation going.
  native.bodyEnd()
}

/** entry.fetch: runs the HTTP entry of module namespace `ns`. */
export async function serve(ns, metaJson, body) {
  const meta = JSON.parse(metaJson)
  const invocation = { controller: null, aborted: false, reason: undefined }
  const pending = []
  running.add(invocation)
  try {
    const handler = findHandler(ns, meta.method)
    let response = handler.response
    if (!response) {
      const request = incomingRequest(meta, body, () => signalOf(invocation)) // drops a GET/HEAD body
      const ctx = {
        requestId: meta.requestId,
        traceId: meta.traceId,
        functionName: meta.functionName,
        version: meta.version,
        originalUrl: meta.originalUrl,
        mountPath: meta.mountPath,
        waitUntil(promise) {
          pending.push(Promise.resolve(promise).then(undefined, reportError))
        },
      }
      response = await handler.fn.call(handler.self, request, ctx)
    }
    if (!(response instanceof Response)) {
      throw new TypeError(`the HTTP handler must return a Response, got ${describe(response)}`)
    }
    await send(response, meta.method === 'HEAD')
  } finally {
    running.delete(invocation)
  }
  // waitUntil work keeps the invocation alive after the body is complete.
  while (pending.length) await Promise.all(pending.splice(0))
}

/** entry.abort: aborts `request.signal` of the invocations in flight. */
export function abort(reason) {
  if (running.size === 0) return
  const { timeoutError, abortError } = load('domexception')
  const err = /timeout/i.test(String(reason)) ? timeoutError() : abortError(reason ? String(reason) : undefined)
  for (const invocation of running) {
    if (invocation.controller) invocation.controller.abort(err)
    else if (!invocation.aborted) {
      invocation.aborted = true
      invocation.reason = err
    }
  }
}
