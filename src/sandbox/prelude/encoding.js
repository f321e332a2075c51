// TextEncoder (UTF-8, as the standard has it), TextDecoder (every encoding) and atob/btoa.
import { native, load, domException } from './shared.js'
import { internal, tag, illegal, viewOf, concatBytes, dictionary, exactBuffer } from './util.js'
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

// The labels of UTF-8 (https://encoding.spec.whatwg.org/#names-and-labels): the common case,
// decoded here through the host. Every other label is looked up by the encodings chunk.
const UTF8_LABELS = new Set(['utf-8', 'utf8', 'unicode-1-1-utf-8', 'unicode11utf8', 'unicode20utf8', 'x-unicode20utf8'])
// The legacy multi-byte encodings, whose tables (150 KB of source) have a chunk of their own.
const MULTIBYTE = new Set(['gbk', 'gb18030', 'big5', 'euc-jp', 'iso-2022-jp', 'shift_jis', 'euc-kr'])
// Below this many bytes a single-byte decode runs here rather than on the host.
const SMALL = 64
const kDecoder = internal('decoder')

/**
 * "Get an encoding": the label without leading and trailing ASCII whitespace (and no other
 * whitespace: `\v` or U+00A0 padding makes the label unknown), matched ASCII case-insensitively.
 */
function encodingOf(label) {
  if (label === 'utf-8' || label === 'utf8') return 'utf-8' // the default, and most labels given
  const key = label.replace(/^[\t\n\f\r ]+|[\t\n\f\r ]+$/g, '').replace(/[A-Z]+/g, (c) => c.toLowerCase())
  if (UTF8_LABELS.has(key)) return 'utf-8'
  if (/[^\x21-\x7e]/.test(key)) return null
  return load('encodings').normalizeEncoding(key)
}

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

/** Single-byte encodings' tables by name: the code unit of each of the 256 bytes. */
const tables = new Map()

/**
 * The table of a single-byte encoding, read off @exodus/bytes' decoder once (every byte maps to
 * one BMP code point there, U+FFFD where the standard's index has none).
 */
function singleByteTable(encoding, Decoder) {
  let t = tables.get(encoding)
  if (!t) {
    const text = new Decoder(encoding).decode(new Uint8Array(256).map((_, i) => i))
    const units = new Uint16Array(256)
    for (let i = 0; i < 256; i++) units[i] = text.charCodeAt(i)
    t = { units, holes: text.includes('\ufffd') }
    tables.set(encoding, t)
  }
  return t
}

/** A single-byte decode: a table lookup per byte, on the host for all but short inputs. */
function decodeSingleByte(s, bytes) {
  const { units, holes } = s.table
  let text
  if (bytes.length < SMALL) {
    const out = new Uint16Array(bytes.length)
    for (let i = 0; i < bytes.length; i++) out[i] = units[bytes[i]]
    text = String.fromCharCode.apply(null, out)
  } else {
    text = native.decodeTable(units.buffer, exactBuffer(bytes))
  }
  if (s.fatal && holes && text.includes('\ufffd')) {
    throw new TypeError(`The encoded data was not valid for encoding ${s.encoding}`)
  }
  return text
}

/**
 * TextDecoder for every encoding of the Encoding Standard. UTF-8 is decoded by the host, and so
 * are single-byte encodings, through their tables. UTF-16 and the CJK encodings, which keep state
 * across stream chunks, run @exodus/bytes (its decoders pass the web-platform-tests), loaded on
 * first use: UTF-16 from the encodings chunk (which also holds the labels and the single-byte
 * tables), the CJK ones from the multibyte chunk.
 */
export class TextDecoder {
  constructor(label = 'utf-8', options) {
    const text = String(label)
    const init = dictionary(options, 'options')
    const fatal = !!init.fatal
    const ignoreBOM = !!init.ignoreBOM
    const encoding = encodingOf(text)
    if (!encoding || encoding === 'replacement') {
      throw new RangeError(`The encoding label provided ('${text}') is invalid.`)
    }
    let inner = null
    let table = null
    if (encoding !== 'utf-8') {
      const { TextDecoder: Decoder } = load(MULTIBYTE.has(encoding) ? 'multibyte' : 'encodings')
      if (MULTIBYTE.has(encoding) || encoding === 'utf-16le' || encoding === 'utf-16be') {
        inner = new Decoder(encoding, { fatal, ignoreBOM })
      } else {
        table = singleByteTable(encoding, Decoder)
      }
    }
    this[kDecoder] = { encoding, fatal, ignoreBOM, inner, table, pending: EMPTY, bomSeen: false }
  }

  get encoding() {
    return decoderState(this).encoding
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
    const stream = !!dictionary(options, 'options').stream
    if (s.table) return decodeSingleByte(s, bytes)
    if (s.inner) return decodeOther(s, bytes, stream)
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

function decodeOther(s, bytes, stream) {
  try {
    return s.inner.decode(bytes, { stream })
  } catch (err) {
    if (err instanceof TypeError) throw new TypeError(`The encoded data was not valid for encoding ${s.encoding}`)
    throw err
  }
}

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
