// data: URLs (Fetch standard, "data: URL processor"): fetched in the guest, since nothing leaves
// it. The body is the percent-decoded (and, with ;base64, forgiving-base64 decoded) bytes; the
// MIME type defaults to text/plain;charset=US-ASCII.
import { parseMimeType, serializeMimeType } from './mime.js'

const BASE64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/'

/** Percent-decode (URL standard) of an ASCII string to bytes. */
function percentDecode(input) {
  const out = new Uint8Array(input.length)
  let n = 0
  for (let i = 0; i < input.length; i++) {
    const c = input.charCodeAt(i)
    if (c === 37 && /^[0-9A-Fa-f]{2}$/.test(input.slice(i + 1, i + 3))) {
      out[n++] = parseInt(input.slice(i + 1, i + 3), 16)
      i += 2
    } else {
      out[n++] = c & 0xff
    }
  }
  return out.subarray(0, n)
}

/** Forgiving-base64 decode (Infra standard) of bytes read as latin1; null for failure. */
function forgivingBase64(bytes) {
  let data = ''
  for (const b of bytes)
    if (b !== 0x09 && b !== 0x0a && b !== 0x0c && b !== 0x0d && b !== 0x20) data += String.fromCharCode(b)
  if (data.length % 4 === 0) data = data.replace(/={1,2}$/, '')
  if (data.length % 4 === 1 || /[^A-Za-z0-9+/]/.test(data)) return null
  const out = new Uint8Array(Math.floor((data.length * 3) / 4))
  let buffer = 0
  let bits = 0
  let n = 0
  for (let i = 0; i < data.length; i++) {
    buffer = (buffer << 6) | BASE64.indexOf(data[i])
    bits += 6
    if (bits >= 8) {
      bits -= 8
      out[n++] = (buffer >> bits) & 0xff
    }
  }
  return out.subarray(0, n)
}

/**
 * The data: URL processor: { type, body } for a serialized data: URL (fragment excluded), or null
 * for failure (a network error).
 */
export function processDataUrl(href) {
  const input = href.slice('data:'.length)
  const comma = input.indexOf(',')
  if (comma === -1) return null
  let mimeType = input.slice(0, comma).replace(/^[\t\n\f\r ]+|[\t\n\f\r ]+$/g, '')
  let body = percentDecode(input.slice(comma + 1))
  const base64 = /;[ ]*base64$/i.exec(mimeType)
  if (base64) {
    body = forgivingBase64(body)
    if (body === null) return null
    mimeType = mimeType.slice(0, base64.index)
  }
  if (mimeType.startsWith(';')) mimeType = 'text/plain' + mimeType
  const record = parseMimeType(mimeType)
  return { type: record === null ? 'text/plain;charset=US-ASCII' : serializeMimeType(record), body: body.slice() }
}
