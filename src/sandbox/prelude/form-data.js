// FormData (XMLHttpRequest standard) and its bodies: multipart/form-data encoding (HTML's
// algorithm) and Fetch's parsing of multipart and urlencoded bodies into a FormData.
import { native, load } from './shared.js'
import { internal, tag, illegal, isObject, viewOf, concatBytes, inspectSymbol, enumerableMembers } from './util.js'
import { utf8Encode, utf8Decode } from './utf8.js'
import { usvString, pairIterable } from './webidl.js'
import { extractMimeType } from './mime.js'
import { isBlob, isFile, fileFromBlob, blobData, File } from './blob.js'

const kEntries = internal('form entries')

function entriesOf(form) {
  const e = isObject(form) ? form[kEntries] : undefined
  if (!e) throw illegal()
  return e
}

/** "Create an entry": a Blob value becomes a File named `filename`, or 'blob' / its own name. */
function entry(name, value, filename, argc) {
  const n = usvString(name)
  if (argc === 3 || isBlob(value)) {
    if (!isBlob(value)) throw new TypeError("Failed to execute on 'FormData': parameter 2 is not of type 'Blob'")
    const fname = filename !== undefined ? usvString(filename) : isFile(value) ? value.name : 'blob'
    if (isFile(value) && filename === undefined) return [n, value]
    return [n, fileFromBlob(value, fname, isFile(value) ? value.lastModified : Date.now())]
  }
  return [n, usvString(value)]
}

function need(argc, n, method) {
  if (argc < n) throw new TypeError(`Failed to execute '${method}' on 'FormData': ${n} arguments required`)
}

export class FormData {
  constructor(form = undefined, submitter = undefined) {
    if (form !== undefined) throw new TypeError("Failed to construct 'FormData': forms are not supported")
    void submitter
    this[kEntries] = []
  }

  append(name, value, filename = undefined) {
    const list = entriesOf(this)
    need(arguments.length, 2, 'append')
    list.push(entry(name, value, filename, arguments.length))
  }

  delete(name) {
    const list = entriesOf(this)
    need(arguments.length, 1, 'delete')
    const n = usvString(name)
    this[kEntries] = list.filter(([k]) => k !== n)
  }

  get(name) {
    const list = entriesOf(this)
    need(arguments.length, 1, 'get')
    const n = usvString(name)
    const found = list.find(([k]) => k === n)
    return found ? found[1] : null
  }

  getAll(name) {
    const list = entriesOf(this)
    need(arguments.length, 1, 'getAll')
    const n = usvString(name)
    return list.filter(([k]) => k === n).map(([, v]) => v)
  }

  has(name) {
    const list = entriesOf(this)
    need(arguments.length, 1, 'has')
    const n = usvString(name)
    return list.some(([k]) => k === n)
  }

  set(name, value, filename = undefined) {
    const list = entriesOf(this)
    need(arguments.length, 2, 'set')
    const e = entry(name, value, filename, arguments.length)
    const i = list.findIndex(([k]) => k === e[0])
    if (i === -1) list.push(e)
    else this[kEntries] = list.filter(([k], j) => j <= i || k !== e[0]).map((x, j) => (j === i ? e : x))
  }

  [inspectSymbol](depth, options, inspect) {
    const items = entriesOf(this).map(([k, v]) => `${inspect(k)} => ${inspect(v)}`)
    return items.length ? `FormData { ${items.join(', ')} }` : 'FormData {}'
  }
}
tag(FormData, 'FormData')
pairIterable(FormData, 'FormData', entriesOf)
enumerableMembers(FormData)

/** Whether `value` is a FormData of ours. */
export function isFormData(value) {
  return isObject(value) && value[kEntries] !== undefined
}

// ---- multipart/form-data ---------------------------------------------------------------------

/** HTML's escaping of names and filenames in a part's Content-Disposition. */
function escapeName(s) {
  return s.replace(/\n/g, '%0A').replace(/\r/g, '%0D').replace(/"/g, '%22')
}

function randomBoundary() {
  const bytes = new Uint8Array(native.randomBytes(16))
  let hex = ''
  for (const b of bytes) hex += (b < 16 ? '0' : '') + b.toString(16)
  return `----formdata-fnbox-${hex}`
}

/** A FormData body: its bytes (multipart/form-data) and Content-Type, with the boundary. */
export function encodeFormData(form) {
  const boundary = randomBoundary()
  const chunks = []
  let total = 0
  const push = (bytes) => {
    chunks.push(bytes)
    total += bytes.byteLength
  }
  for (const [name, value] of entriesOf(form)) {
    let head = `--${boundary}\r\nContent-Disposition: form-data; name="${escapeName(name.replace(/\r\n|\r|\n/g, '\r\n'))}"`
    if (typeof value === 'string') {
      push(utf8Encode(`${head}\r\n\r\n`))
      push(utf8Encode(value.replace(/\r\n|\r|\n/g, '\r\n')))
    } else {
      const d = blobData(value)
      head += `; filename="${escapeName(value.name)}"\r\nContent-Type: ${d.type || 'application/octet-stream'}\r\n\r\n`
      push(utf8Encode(head))
      for (const part of d.parts) push(part)
    }
    push(utf8Encode('\r\n'))
  }
  push(utf8Encode(`--${boundary}--\r\n`))
  return { bytes: concatBytes(chunks, total), type: `multipart/form-data; boundary=${boundary}` }
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

/** A parameter of a Content-Disposition header (quoted or not). */
function parameter(header, name) {
  const re = new RegExp(`;\\s*${name}\\*?=(?:"((?:[^"\\\\]|\\\\.)*)"|([^;\\s]*))`, 'i')
  const m = re.exec(header)
  if (!m) return undefined
  return m[1] !== undefined ? m[1].replace(/\\(.)/g, '$1') : m[2]
}

/**
 * The FormData of a body with this Content-Type (Fetch: "package data" for FormData); TypeError
 * when the type is neither multipart/form-data nor urlencoded, or the body cannot be parsed.
 */
export function parseFormData(bytes, contentType) {
  const mime = extractMimeType(contentType)
  const form = new FormData()
  const essence = mime === null ? '' : mime.essence
  if (essence === 'application/x-www-form-urlencoded') {
    for (const [name, value] of new (load('url').URLSearchParams)(utf8Decode(bytes))) form.append(name, value)
    return form
  }
  if (essence !== 'multipart/form-data') {
    throw new TypeError(`Content-Type ${contentType ? `"${contentType}"` : '(none)'} is not a form`)
  }
  const boundary = mime.parameters.get('boundary')
  if (!boundary) throw new TypeError('multipart/form-data without a boundary')
  const body = viewOf(bytes)
  const delimiter = Array.from(utf8Encode(`--${boundary}`))
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
