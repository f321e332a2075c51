// TextEncoder, TextDecoder (UTF-8 only) and atob/btoa.
import { native, domException } from './shared.js'
import { internal, tag, illegal, viewOf, concatBytes, dictionary } from './util.js'
import { utf8Encode, utf8Decode } from './utf8.js'

const EMPTY = new Uint8Array(0)

export class TextEncoder {
  get encoding() {
    return 'utf-8'
  }

  encode(input = '') {
    return utf8Encode(String(input))
  }

  encodeInto(source, destination) {
    if (!(destination instanceof Uint8Array)) throw new TypeError('The "destination" argument must be a Uint8Array')
    const str = String(source)
    const bytes = utf8Encode(str)
    if (bytes.length <= destination.length) {
      destination.set(bytes)
      return { read: str.length, written: bytes.length }
    }
    // Partial: copy whole code points while they fit.
    let read = 0
    let written = 0
    while (read < str.length) {
      const c = str.codePointAt(read)
      const units = c > 0xffff ? 2 : 1
      const isLone = c >= 0xd800 && c <= 0xdfff
      const size = isLone ? 3 : c < 0x80 ? 1 : c < 0x800 ? 2 : c < 0x10000 ? 3 : 4
      if (written + size > destination.length) break
      written += size
      read += units
    }
    destination.set(bytes.subarray(0, written))
    return { read, written }
  }
}
tag(TextEncoder, 'TextEncoder')

const LABELS = new Set(['utf-8', 'utf8', 'unicode-1-1-utf-8', 'unicode11utf8', 'unicode20utf8', 'x-unicode20utf8'])
const kDecoder = internal('decoder')

/**
 * Where the complete UTF-8 sequences of `bytes` end: a trailing lead byte whose sequence is a valid
 * but unfinished prefix is held back for the next streaming call.
 */
function completeEnd(bytes) {
  const len = bytes.length
  for (let back = 1; back <= 3 && back <= len; back++) {
    const b = bytes[len - back]
    if ((b & 0xc0) === 0x80) continue // continuation byte: keep looking for the lead
    const need = b >= 0xc2 && b <= 0xdf ? 2 : b >= 0xe0 && b <= 0xef ? 3 : b >= 0xf0 && b <= 0xf4 ? 4 : 0
    if (need <= back) return len // complete, or not a lead byte at all
    if (back >= 2) {
      const second = bytes[len - back + 1]
      const lo = b === 0xe0 ? 0xa0 : b === 0xf0 ? 0x90 : 0x80
      const hi = b === 0xed ? 0x9f : b === 0xf4 ? 0x8f : 0xbf
      if (second < lo || second > hi) return len // invalid already: decode (and replace) now
    }
    return len - back
  }
  return len
}

export class TextDecoder {
  constructor(label = 'utf-8', options) {
    const name = String(label).trim().toLowerCase()
    if (!LABELS.has(name)) throw new RangeError(`The encoding label provided ('${label}') is invalid.`)
    const init = dictionary(options, 'options')
    this[kDecoder] = { fatal: !!init.fatal, ignoreBOM: !!init.ignoreBOM, pending: EMPTY, bomSeen: false }
  }

  get encoding() {
    return 'utf-8'
  }

  get fatal() {
    return decoderState(this).fatal
  }

  get ignoreBOM() {
    return decoderState(this).ignoreBOM
  }

  decode(input, options) {
    const s = decoderState(this)
    let bytes = EMPTY
    if (input !== undefined) {
      bytes = viewOf(input)
      if (!bytes) throw new TypeError('The "input" argument must be an ArrayBuffer or ArrayBufferView')
    }
    const stream = !!(options && options.stream)
    if (s.pending.length) bytes = concatBytes([s.pending, bytes], s.pending.length + bytes.length)
    const end = stream ? completeEnd(bytes) : bytes.length
    s.pending = end < bytes.length ? bytes.slice(end) : EMPTY
    let text
    try {
      text = utf8Decode(end < bytes.length ? bytes.subarray(0, end) : bytes, s.fatal)
    } catch (err) {
      s.pending = EMPTY
      s.bomSeen = false
      throw err
    }
    if (!s.ignoreBOM && !s.bomSeen && text.length) {
      s.bomSeen = true
      if (text.charCodeAt(0) === 0xfeff) text = text.slice(1)
    }
    if (!stream) s.bomSeen = false
    return text
  }
}
tag(TextDecoder, 'TextDecoder')

function decoderState(d) {
  const s = d[kDecoder]
  if (!s) throw illegal()
  return s
}

// Latin1 strings cross with NUL as U+0100 (see natives.ts), so a real U+0100 is refused here;
// the host refuses the other characters above U+00FF.
export function btoa(data) {
  if (arguments.length === 0) throw new TypeError('The "data" argument must be specified')
  const str = String(data)
  try {
    if (str.includes('\u0100')) throw domException('Invalid character', 'InvalidCharacterError')
    return native.base64Encode(str.includes('\0') ? str.replaceAll('\0', '\u0100') : str)
  } catch (err) {
    if (err && err.name === 'InvalidCharacterError') throw domException('Invalid character', 'InvalidCharacterError')
    throw err
  }
}

export function atob(data) {
  if (arguments.length === 0) throw new TypeError('The "data" argument must be specified')
  const str = String(data)
  if (str.includes('\0'))
    throw domException('The string to be decoded is not correctly encoded.', 'InvalidCharacterError')
  let out
  try {
    out = native.base64Decode(str)
  } catch (err) {
    if (err && err.name === 'InvalidCharacterError') {
      throw domException('The string to be decoded is not correctly encoded.', 'InvalidCharacterError')
    }
    throw err
  }
  return out.includes('\u0100') ? out.replaceAll('\u0100', '\0') : out
}
