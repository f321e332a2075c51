// @fnbox-guest-shared
// MIME types (MIME Sniffing standard, "parse" and "serialize a MIME type") and the Fetch
// standard's "extract a MIME type" from a Content-Type header value. Stateless: chunks bundle
// their own copy.

const HTTP_WHITESPACE = /^[\t\n\r ]+|[\t\n\r ]+$/g
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/
const QUOTED_STRING_TOKEN = /^[\t\x20-\x7e\x80-\xff]*$/

/** A parsed MIME type: lower-cased type and subtype, and parameters (lower-cased names, in order). */
export class MimeType {
  constructor(type, subtype) {
    this.type = type
    this.subtype = subtype
    this.parameters = new Map()
  }
  get essence() {
    return `${this.type}/${this.subtype}`
  }
}

/**
 * Collects an HTTP quoted string starting at input[position] (a `"`); returns [value, position
 * after it]. With `extract`, the value without quotes and escapes.
 */
function collectQuotedString(input, position, extract) {
  const start = position
  let value = ''
  position++
  for (;;) {
    let end = position
    while (end < input.length && input[end] !== '"' && input[end] !== '\\') end++
    value += input.slice(position, end)
    position = end
    if (position >= input.length) break
    const quoteOrBackslash = input[position]
    position++
    if (quoteOrBackslash === '\\') {
      if (position >= input.length) {
        value += '\\'
        break
      }
      value += input[position]
      position++
    } else {
      break
    }
  }
  return [extract ? value : input.slice(start, position), position]
}

/** "Parse a MIME type": a MimeType, or null for failure. */
export function parseMimeType(text) {
  const input = String(text).replace(HTTP_WHITESPACE, '')
  let position = input.indexOf('/')
  if (position === -1) return null
  const type = input.slice(0, position)
  if (!TOKEN.test(type)) return null
  position++
  let end = input.indexOf(';', position)
  if (end === -1) end = input.length
  const subtype = input.slice(position, end).replace(/[\t\n\r ]+$/, '')
  if (!TOKEN.test(subtype)) return null
  const mime = new MimeType(type.toLowerCase(), subtype.toLowerCase())
  position = end
  while (position < input.length) {
    position++ // past ';'
    while (position < input.length && '\t\n\r '.includes(input[position])) position++
    let nameEnd = position
    while (nameEnd < input.length && input[nameEnd] !== ';' && input[nameEnd] !== '=') nameEnd++
    const name = input.slice(position, nameEnd).toLowerCase()
    position = nameEnd
    if (position < input.length) {
      if (input[position] === ';') continue
      position++ // past '='
    }
    if (position >= input.length) break
    let value
    if (input[position] === '"') {
      ;[value, position] = collectQuotedString(input, position, true)
      while (position < input.length && input[position] !== ';') position++
    } else {
      let valueEnd = input.indexOf(';', position)
      if (valueEnd === -1) valueEnd = input.length
      value = input.slice(position, valueEnd).replace(/[\t\n\r ]+$/, '')
      position = valueEnd
      if (value === '') continue
    }
    if (name !== '' && TOKEN.test(name) && QUOTED_STRING_TOKEN.test(value) && !mime.parameters.has(name)) {
      mime.parameters.set(name, value)
    }
  }
  return mime
}

/** "Serialize a MIME type". */
export function serializeMimeType(mime) {
  let out = mime.essence
  for (const [name, value] of mime.parameters) {
    const v = value !== '' && TOKEN.test(value) ? value : `"${value.replace(/(["\\])/g, '\\$1')}"`
    out += `;${name}=${v}`
  }
  return out
}

/** The Fetch standard's "getting, decoding, and splitting" of a combined header value. */
function splitHeaderValue(value) {
  const values = []
  let temporary = ''
  let position = 0
  for (;;) {
    let end = position
    while (end < value.length && value[end] !== '"' && value[end] !== ',') end++
    temporary += value.slice(position, end)
    position = end
    if (position < value.length && value[position] === '"') {
      let quoted
      ;[quoted, position] = collectQuotedString(value, position, false)
      temporary += quoted
      if (position < value.length) continue
    }
    values.push(temporary.replace(/^[\t ]+|[\t ]+$/g, ''))
    temporary = ''
    if (position >= value.length) return values
    position++ // past ','
  }
}

/**
 * "Extract a MIME type" from a combined Content-Type value (null when there is none): a MimeType,
 * or null for failure. Later values win; a charset carries over between values of one essence.
 */
export function extractMimeType(contentType) {
  if (contentType === null || contentType === undefined) return null
  let charset = null
  let essence = null
  let mime = null
  for (const value of splitHeaderValue(contentType)) {
    const temporary = parseMimeType(value)
    if (temporary === null || temporary.essence === '*/*') continue
    mime = temporary
    if (mime.essence !== essence) {
      charset = mime.parameters.has('charset') ? mime.parameters.get('charset') : null
      essence = mime.essence
    } else if (!mime.parameters.has('charset') && charset !== null) {
      mime.parameters.set('charset', charset)
    }
  }
  return mime
}
