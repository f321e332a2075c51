// Blob and File (File API): immutable bytes, kept as the parts they were made of (copies of
// buffers, encoded strings, other blobs' parts), so slices and blobs of blobs copy nothing.
// stream() is a byte stream (so a BYOB reader works), text() decodes UTF-8.
import { load } from './shared.js'
import {
  internal,
  tag,
  illegal,
  isObject,
  viewOf,
  concatBytes,
  dictionary,
  inspectSymbol,
  enumerableMembers,
} from './util.js'
import { utf8Encode, utf8Decode } from './utf8.js'
import { usvString, domString, sequenceOf } from './webidl.js'

const kBlob = internal('blob')
const kFile = internal('file')

/** A blob's bytes: a list of Uint8Array views nobody writes to, and their total size. */
class BlobData {
  constructor(parts, size, type) {
    this.parts = parts
    this.size = size
    this.type = type
  }
}
Object.setPrototypeOf(BlobData.prototype, null)

function dataOf(blob) {
  const d = isObject(blob) ? blob[kBlob] : undefined
  if (!d) throw illegal()
  return d
}

/** Whether `value` is a Blob (or File) of ours. */
export function isBlob(value) {
  return isObject(value) && value[kBlob] !== undefined
}

/** A Blob type: '' if any character is outside U+0020-U+007E, else ASCII lower-cased. */
function blobType(type) {
  const t = domString(type)
  return /^[\x20-\x7e]*$/.test(t) ? t.toLowerCase() : ''
}

/** BlobPropertyBag: endings ('transparent' or 'native'), then type. */
function propertyBag(options) {
  const o = dictionary(options, 'options')
  const rawEndings = o.endings
  const endings = rawEndings === undefined ? 'transparent' : String(rawEndings)
  if (endings !== 'transparent' && endings !== 'native') {
    throw new TypeError(`'${endings}' is not a valid enumeration value for EndingType`)
  }
  const type = o.type === undefined ? '' : blobType(o.type)
  return { o, endings, type }
}

/** A BlobPart as WebIDL converts the (BufferSource or Blob or USVString) union. */
function blobPart(value) {
  if (isBlob(value)) return value
  const view = viewOf(value)
  if (view) return view
  return usvString(value)
}

/** "Process blob parts": the parts as byte views, and their size. */
function processParts(parts, endings) {
  const out = []
  let size = 0
  for (const part of parts) {
    if (typeof part === 'string') {
      const text = endings === 'native' ? part.replace(/\r\n|\r/g, '\n') : part
      const bytes = utf8Encode(text)
      out.push(bytes)
      size += bytes.byteLength
    } else if (isBlob(part)) {
      const d = part[kBlob]
      for (const p of d.parts) out.push(p)
      size += d.size
    } else {
      const copy = part.slice()
      out.push(copy)
      size += copy.byteLength
    }
  }
  return { parts: out, size }
}

/** Views of bytes [start, end) of `parts`, copying nothing. */
function sliceParts(parts, start, end) {
  const out = []
  let offset = 0
  for (const p of parts) {
    const pEnd = offset + p.byteLength
    if (pEnd > start && offset < end)
      out.push(p.subarray(Math.max(0, start - offset), Math.min(p.byteLength, end - offset)))
    offset = pEnd
    if (offset >= end) break
  }
  return out
}

function bytesOf(d) {
  return d.parts.length === 1 ? d.parts[0].slice() : concatBytes(d.parts, d.size)
}

/** [Clamp] long long, relative to `size` as slice() takes it. */
function relative(value, size, fallback) {
  if (value === undefined) return fallback
  let n = Number(value)
  if (Number.isNaN(n)) n = 0
  n = Math.trunc(n)
  return n < 0 ? Math.max(size + n, 0) : Math.min(n, size)
}

function makeBlob(parts, size, type) {
  const b = Object.create(Blob.prototype)
  b[kBlob] = new BlobData(parts, size, type)
  return b
}

/** A Blob of `bytes` (taken, not copied) and a type, as the prelude makes them (body.blob()). */
export function blobFromBytes(bytes, type) {
  return makeBlob(bytes.byteLength ? [bytes] : [], bytes.byteLength, type)
}

export class Blob {
  constructor(blobParts = undefined, options = undefined) {
    const parts = blobParts === undefined ? [] : sequenceOf(blobParts, blobPart, 'blobParts')
    const { endings, type } = propertyBag(options)
    const processed = processParts(parts, endings)
    this[kBlob] = new BlobData(processed.parts, processed.size, type)
  }

  get size() {
    return dataOf(this).size
  }

  get type() {
    return dataOf(this).type
  }

  slice(start = undefined, end = undefined, contentType = undefined) {
    const d = dataOf(this)
    const from = relative(start, d.size, 0)
    const to = relative(end, d.size, d.size)
    const span = Math.max(to - from, 0)
    const type = contentType === undefined ? '' : blobType(contentType)
    return makeBlob(sliceParts(d.parts, from, from + span), span, type)
  }

  stream() {
    const d = dataOf(this)
    let i = 0
    return load('streams').bodyStreams.fromPull(
      () => Promise.resolve(i < d.parts.length ? d.parts[i++].slice() : undefined),
      () => {
        i = d.parts.length
      },
    )
  }

  text() {
    try {
      const text = utf8Decode(bytesOf(dataOf(this)))
      return Promise.resolve(text.charCodeAt(0) === 0xfeff ? text.slice(1) : text)
    } catch (err) {
      return Promise.reject(err)
    }
  }

  arrayBuffer() {
    try {
      return Promise.resolve(bytesOf(dataOf(this)).buffer)
    } catch (err) {
      return Promise.reject(err)
    }
  }

  bytes() {
    try {
      return Promise.resolve(bytesOf(dataOf(this)))
    } catch (err) {
      return Promise.reject(err)
    }
  }

  [inspectSymbol]() {
    const d = dataOf(this)
    return `Blob { size: ${d.size}, type: '${d.type}' }`
  }
}
tag(Blob, 'Blob')

function fileOf(file) {
  const f = isObject(file) ? file[kFile] : undefined
  if (!f) throw illegal()
  return f
}

export class File extends Blob {
  constructor(fileBits, fileName, options = undefined) {
    if (arguments.length < 2) {
      throw new TypeError(`Failed to construct 'File': 2 arguments required, but only ${arguments.length} present.`)
    }
    const parts = sequenceOf(fileBits, blobPart, 'fileBits')
    const name = usvString(fileName)
    const { o, endings, type } = propertyBag(options)
    const raw = o.lastModified
    let lastModified = raw === undefined ? Date.now() : Math.trunc(Number(raw))
    if (!Number.isFinite(lastModified)) lastModified = 0
    super()
    const processed = processParts(parts, endings)
    this[kBlob] = new BlobData(processed.parts, processed.size, type)
    this[kFile] = { name, lastModified }
  }

  get name() {
    return fileOf(this).name
  }

  get lastModified() {
    return fileOf(this).lastModified
  }

  [inspectSymbol]() {
    const d = dataOf(this)
    return `File { size: ${d.size}, type: '${d.type}', name: '${fileOf(this).name}', lastModified: ${fileOf(this).lastModified} }`
  }
}
tag(File, 'File')
enumerableMembers(Blob, File)

/** A File with `blob`'s bytes and type under `name` (FormData entries; multipart parts). */
export function fileFromBlob(blob, name, lastModified = Date.now()) {
  const d = dataOf(blob)
  const f = Object.create(File.prototype)
  f[kBlob] = new BlobData(d.parts, d.size, d.type)
  f[kFile] = { name, lastModified }
  return f
}

export function isFile(value) {
  return isObject(value) && value[kFile] !== undefined
}

/** A blob's bytes (for bodies): one Uint8Array. */
export function blobBytes(blob) {
  return bytesOf(dataOf(blob))
}

export function blobData(blob) {
  return dataOf(blob)
}
