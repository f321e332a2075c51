// Blob, File and FormData from formdata-node (a spec-following implementation in plain
// JavaScript), plus what the Fetch standard needs of them: a FormData body encoded as
// multipart/form-data (form-data-encoder, by the same author) and `body.formData()` parsing of
// multipart and urlencoded bodies.
import { Blob, File, FormData } from 'formdata-node'
import { FormDataEncoder } from 'form-data-encoder'
import { load } from './shared.js'
import { markPlatform, viewOf } from './util.js'
import { utf8Decode } from './utf8.js'

// Newer than formdata-node: Blob.prototype.bytes() (File API, 2024).
Object.defineProperty(Blob.prototype, 'bytes', {
  value: async function bytes() {
    return new Uint8Array(await this.arrayBuffer())
  },
  writable: true,
  configurable: true,
})
// formdata-node's keys() names each field once; the standard yields one name per entry.
// (Its entries() reads keys(): the names are taken from the original.)
const names = FormData.prototype.keys
FormData.prototype.entries = function* entries() {
  for (const name of names.call(this)) for (const value of this.getAll(name)) yield [name, value]
}
Object.defineProperty(FormData.prototype, 'keys', {
  value: function* keys() {
    for (const name of names.call(this)) for (let n = this.getAll(name).length; n > 0; n--) yield name
  },
  writable: true,
  configurable: true,
})
for (const cls of [Blob, File, FormData]) markPlatform(cls.prototype)

export { Blob, File, FormData }

/** A FormData body: its multipart stream and Content-Type (with the boundary). */
export function encodeFormData(form) {
  const encoder = new FormDataEncoder(form)
  const stream = load('streams').ReadableStream.from(encoder.encode())
  return { stream, type: encoder.contentType, length: encoder.contentLength }
}

const CRLF2 = [13, 10, 13, 10]

function indexOf(bytes, pattern, from) {
  const first = pattern[0]
  const last = bytes.length - pattern.length
  outer: for (let i = from; i <= last; i++) {
    if (bytes[i] !== first) continue
    for (let j = 1; j < pattern.length; j++) if (bytes[i + j] !== pattern[j]) continue outer
    return i
  }
  return -1
}

function parameter(header, name) {
  const re = new RegExp(`;\\s*${name}\\*?=(?:"((?:[^"\\\\]|\\\\.)*)"|([^;\\s]*))`, 'i')
  const m = re.exec(header)
  if (!m) return undefined
  return m[1] !== undefined ? m[1].replace(/\\(.)/g, '$1') : m[2]
}

/** The FormData of a body ("package data" for FormData); TypeError when it cannot be parsed. */
export function parseFormData(bytes, contentType) {
  const type = String(contentType || '').toLowerCase()
  const form = new FormData()
  if (type.startsWith('application/x-www-form-urlencoded')) {
    const params = new (load('url').URLSearchParams)(utf8Decode(bytes))
    params.forEach((value, name) => form.append(name, value))
    return form
  }
  if (!type.startsWith('multipart/form-data')) {
    throw new TypeError(`Content-Type ${contentType ? `"${contentType}"` : '(none)'} is not a form`)
  }
  const boundary = parameter(String(contentType), 'boundary')
  if (!boundary) throw new TypeError('multipart/form-data without a boundary')
  const body = viewOf(bytes)
  const delimiter = Array.from(new TextEncoder().encode(`--${boundary}`))
  let at = indexOf(body, delimiter, 0)
  if (at === -1) throw new TypeError('Failed to parse body as FormData: no boundary found')
  for (;;) {
    at += delimiter.length
    if (body[at] === 45 && body[at + 1] === 45) return form // "--": the closing delimiter
    if (body[at] !== 13 || body[at + 1] !== 10) throw new TypeError('Failed to parse body as FormData')
    const headEnd = indexOf(body, CRLF2, at + 2)
    if (headEnd === -1) throw new TypeError('Failed to parse body as FormData: unterminated part headers')
    const head = utf8Decode(body.subarray(at + 2, headEnd))
    const next = indexOf(body, [13, 10, ...delimiter], headEnd + 4)
    if (next === -1) throw new TypeError('Failed to parse body as FormData: unterminated part')
    const content = body.slice(headEnd + 4, next)
    let disposition = ''
    let partType = ''
    for (const line of head.split('\r\n')) {
      const colon = line.indexOf(':')
      const key = line.slice(0, colon).trim().toLowerCase()
      const value = line.slice(colon + 1).trim()
      if (key === 'content-disposition') disposition = value
      else if (key === 'content-type') partType = value
    }
    const name = parameter(disposition, 'name')
    if (name === undefined || !/^form-data\b/i.test(disposition)) {
      throw new TypeError('Failed to parse body as FormData: a part has no form-data name')
    }
    const filename = parameter(disposition, 'filename')
    if (filename !== undefined) {
      form.append(name, new File([content], filename, { type: partType || 'application/octet-stream' }))
    } else {
      form.append(name, utf8Decode(content))
    }
    at = next + 2
  }
}
