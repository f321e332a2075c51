// The body of a Request or Response (Fetch standard): extracting one from an init, reading it
// ("consume body"), its stream, cloning it, and the Body mixin both classes share (request.js,
// response.js).
//
// A body is kept in the cheapest form until someone asks for a stream: `source` (a string or bytes
// from the constructor), `remote` (a fetched body read through native.bodyRead) or `stream` (a
// ReadableStream). text()/json()/arrayBuffer() read source and remote directly, so most code never
// loads the streams chunk. A body's stream is a byte stream, as the Fetch standard makes it, so a
// BYOB reader works on it.
import { native, load, peek } from './shared.js'
import { illegal, isObject, viewOf, concatBytes } from './util.js'
import { getHeader } from './headers.js'
import { extractMimeType, serializeMimeType } from './mime.js'
import { utf8Encode, utf8Decode } from './utf8.js'

export const EMPTY = new Uint8Array(0)

// Classes of other chunks, tested without loading them: no instance exists before its chunk loads.
function isInstance(chunk, cls, value) {
  const exports = peek(chunk)
  return exports !== undefined && value instanceof exports[cls]
}

/** Blob and FormData checks of chunk "blob", without loading it (no instance exists before). */
function isBlobChunk(check, value) {
  const blob = peek('blob')
  return blob !== undefined && blob[check](value)
}

export function isSignal(value) {
  const events = peek('events')
  return events !== undefined && events.isSignal(value)
}

function isReadableStream(value) {
  const streams = peek('streams')
  return streams !== undefined && streams.isReadable(value)
}

/** The streams chunk's body helpers (loaded: a body with a stream exists only once it is). */
function bodyStreams() {
  return load('streams').bodyStreams
}

export function newBody() {
  return { present: false, source: null, remote: null, stream: null, used: false }
}

/** "Extract a body": the body state plus the Content-Type the init implies (or null). */
export function extractBody(init) {
  const body = newBody()
  body.present = true
  if (typeof init === 'string') {
    body.source = init
    return { body, type: 'text/plain;charset=UTF-8' }
  }
  let type = null
  const view = viewOf(init)
  if (view) {
    body.source = view.slice()
  } else if (isInstance('url', 'URLSearchParams', init)) {
    body.source = init.toString()
    type = 'application/x-www-form-urlencoded;charset=UTF-8'
  } else if (isReadableStream(init)) {
    if (bodyStreams().isLocked(init) || bodyStreams().isDisturbed(init)) {
      throw new TypeError('Body stream is locked or disturbed')
    }
    body.stream = init
  } else if (isBlobChunk('isBlob', init)) {
    // A Blob is immutable: its bytes are the body (its stream would give the same).
    body.source = load('blob').blobBytes(init)
    if (init.type) type = init.type
  } else if (isBlobChunk('isFormData', init)) {
    const encoded = load('blob').encodeFormData(init)
    body.source = encoded.bytes
    type = encoded.type
  } else if (isObject(init) && typeof init[Symbol.asyncIterator] === 'function') {
    // Async iterables of bytes, as undici accepts them.
    body.stream = load('streams').ReadableStream.from(init)
  } else {
    body.source = String(init)
    type = 'text/plain;charset=UTF-8'
  }
  return { body, type }
}

/** A body fetched by the host: chunks come from native.bodyRead; abort cancels it. */
export class RemoteBody {
  constructor(id, signal) {
    this.id = id
    this.signal = signal
    this.done = false
  }

  /** The next chunk, or undefined at the end. */
  read() {
    if (this.done) return Promise.resolve(undefined)
    if (this.signal.aborted) {
      this.cancel()
      return Promise.reject(this.signal.reason)
    }
    return new Promise((resolve, reject) => {
      const stop = load('events').onAbort(this.signal, () => {
        this.cancel()
        reject(this.signal.reason)
      })
      native.bodyRead(this.id).then(
        (chunk) => {
          stop()
          if (chunk === undefined) this.done = true
          resolve(chunk === undefined ? undefined : new Uint8Array(chunk))
        },
        (err) => {
          stop()
          this.done = true
          reject(err)
        },
      )
    })
  }

  cancel() {
    if (this.done) return
    this.done = true
    native.bodyCancel(this.id)
  }
}

export function unusable(body) {
  if (body.used) return true
  if (body.stream === null) return false
  return bodyStreams().isDisturbed(body.stream) || bodyStreams().isLocked(body.stream)
}

export function bodyUsed(body) {
  return body.used || (body.stream !== null && bodyStreams().isDisturbed(body.stream))
}

/** The body as a ReadableStream (made on first request; the same object afterwards). */
export function bodyStream(body) {
  if (!body.present) return null
  if (body.stream) return body.stream
  const streams = bodyStreams()
  if (body.remote) {
    const remote = body.remote
    body.remote = null
    body.stream = streams.fromPull(
      () => remote.read(),
      () => remote.cancel(),
    )
  } else if (body.used) {
    // Read already without a stream: the stream that reading would have left, locked and done.
    body.stream = streams.consumed()
  } else {
    const source = body.source
    body.source = null
    const bytes = source === null ? EMPTY : typeof source === 'string' ? utf8Encode(source) : source.slice()
    body.stream = streams.fromBytes(bytes)
  }
  return body.stream
}

/**
 * Reads a whole body once ("consume body"); rejects if it was used or is locked. A null body gives
 * no bytes and stays unused (bodyUsed is about a body's stream, and it has none). `signal`
 * (fetch's): aborting it cancels a body still being read (Fetch, "abort fetch").
 */
export async function consumeBody(body, signal = undefined) {
  if (unusable(body)) throw new TypeError('Body is unusable: Body has already been read')
  if (!body.present) return EMPTY
  body.used = true
  if (body.source !== null) {
    const s = body.source
    body.source = null
    return typeof s === 'string' ? utf8Encode(s) : s.slice()
  }
  const chunks = []
  let total = 0
  if (body.remote) {
    const remote = body.remote
    body.remote = null
    for (let chunk; (chunk = await remote.read()) !== undefined;) {
      chunks.push(chunk)
      total += chunk.length
    }
  } else {
    for (const chunk of await bodyStreams().readAll(body.stream, signal)) {
      chunks.push(chunk)
      total += chunk.length
    }
    // The caller still holds the chunks it enqueued: never hand one back as the result.
    if (chunks.length === 1) return chunks[0].slice()
  }
  return chunks.length ? concatBytes(chunks, total) : EMPTY
}

/** Duplicates a body for clone(): bytes are shared (never mutated), streams are teed. */
export function cloneBody(body) {
  if (unusable(body)) throw new TypeError('Body has already been used or is locked')
  const copy = { ...body }
  if (body.remote || body.stream) {
    const [a, b] = bodyStreams().tee(bodyStream(body))
    body.stream = a
    copy.stream = b
    copy.remote = null
  }
  return copy
}

function textOf(bytes) {
  const text = utf8Decode(bytes)
  return text.charCodeAt(0) === 0xfeff ? text.slice(1) : text // "UTF-8 decode" drops a BOM
}

/**
 * The type of a body's Blob: "get the MIME type" (its Content-Type, parsed and serialized), or ''
 * for none; ASCII lower-cased, as the File API keeps every Blob type.
 */
function mimeTypeOf(headers) {
  const mime = extractMimeType(getHeader(headers, 'content-type'))
  return mime === null ? '' : serializeMimeType(mime).toLowerCase()
}

/** The body methods Request and Response share. */
export function mixinBody(cls, kState) {
  const state = (obj) => {
    const s = isObject(obj) ? obj[kState] : undefined
    if (!s) throw illegal()
    return s
  }
  const body = (obj) => state(obj).body
  Object.defineProperties(cls.prototype, {
    body: {
      get() {
        return bodyStream(body(this))
      },
      configurable: true,
      enumerable: true,
    },
    bodyUsed: {
      get() {
        return bodyUsed(body(this))
      },
      configurable: true,
      enumerable: true,
    },
  })
  Object.assign(cls.prototype, {
    async arrayBuffer() {
      const bytes = await consumeBody(body(this))
      return bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength
        ? bytes.buffer
        : bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength)
    },
    async bytes() {
      return consumeBody(body(this))
    },
    async text() {
      const b = body(this)
      // Fast path: a string body is already text.
      if (typeof b.source === 'string' && !unusable(b)) {
        b.used = true
        const s = b.source
        b.source = null
        return s.charCodeAt(0) === 0xfeff ? s.slice(1) : s
      }
      return textOf(await consumeBody(b))
    },
    async json() {
      return JSON.parse(await this.text())
    },
    async blob() {
      const bytes = await consumeBody(body(this))
      return load('blob').blobFromBytes(bytes, mimeTypeOf(state(this).headers))
    },
    async formData() {
      const bytes = await consumeBody(body(this))
      return load('blob').parseFormData(bytes, getHeader(state(this).headers, 'content-type'))
    },
  })
  for (const m of ['arrayBuffer', 'bytes', 'text', 'json', 'blob', 'formData']) {
    Object.defineProperty(cls.prototype, m, { enumerable: false })
  }
}
