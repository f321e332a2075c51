// Chunk "host": the guest side of the `fnbox:host` virtual module (see instance.ts' module
// loader). For now its `utils`; the data domains (kv, vector, files, ...) join it here.
import { native, provide } from '../shared.js'

const HEX = '0123456789abcdef'

/** A UUID v7 (RFC 9562): 48-bit Unix milliseconds, then random bits, so ids sort by creation time. */
function uuid() {
  const b = new Uint8Array(16)
  crypto.getRandomValues(b)
  let ms = Date.now()
  for (let i = 5; i >= 0; i--) {
    b[i] = ms % 256
    ms = Math.floor(ms / 256)
  }
  b[6] = 0x70 | (b[6] & 0x0f) // version 7
  b[8] = 0x80 | (b[8] & 0x3f) // variant 10
  let out = ''
  for (let i = 0; i < 16; i++) {
    if (i === 4 || i === 6 || i === 8 || i === 10) out += '-'
    out += HEX[b[i] >> 4] + HEX[b[i] & 15]
  }
  return out
}

/** Hex digest of a string (UTF-8) or bytes; `algorithm`: sha256 (default), sha384, sha512, sha1, md5. */
function hash(data, algorithm = 'sha256') {
  let bytes
  if (typeof data === 'string') bytes = new TextEncoder().encode(data)
  else if (data instanceof ArrayBuffer) bytes = new Uint8Array(data)
  else if (ArrayBuffer.isView(data)) bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength)
  else throw new TypeError('utils.hash takes a string, an ArrayBuffer or a typed array')
  const copy = bytes.slice()
  return native.hash(String(algorithm), copy.buffer)
}

const utils = Object.freeze({ uuid, hash })

provide('host', { host: Object.freeze({ utils }) })
