// @fnbox-guest-shared
// The UTF-8 conversions the prelude uses. Bulk conversions run on the host; strings with NUL are
// encoded here (the FFI cuts at NUL). Stateless: chunks bundle their own copy.
import { native, shared } from './shared.js'
import { exactBuffer } from './util.js'

const toWellFormed = shared.toWellFormed

// Below this size a JS loop beats the ~5 us round trip to the host.
const SMALL = 64

/** UTF-8 bytes of a string; lone surrogates become U+FFFD, as TextEncoder does. */
export function utf8Encode(str) {
  if (str.length < SMALL || str.includes('\0')) return encodeJS(str)
  return new Uint8Array(native.utf8Encode(toWellFormed.call(str)))
}

/** Decodes UTF-8 (no BOM handling); malformed input becomes U+FFFD, or throws TypeError if fatal. */
export function utf8Decode(bytes, fatal = false) {
  const n = bytes.byteLength
  if (n < SMALL) {
    let ascii = true
    for (let i = 0; i < n && ascii; i++) ascii = bytes[i] < 0x80
    if (ascii) return String.fromCharCode.apply(null, bytes)
  }
  return native.utf8Decode(exactBuffer(bytes), fatal)
}

function encodeJS(str) {
  const out = new Uint8Array(str.length * 3)
  let n = 0
  for (let i = 0; i < str.length; i++) {
    let c = str.charCodeAt(i)
    if (c >= 0xd800 && c <= 0xdfff) {
      const d = i + 1 < str.length ? str.charCodeAt(i + 1) : 0
      if (c <= 0xdbff && d >= 0xdc00 && d <= 0xdfff) {
        c = 0x10000 + ((c - 0xd800) << 10) + (d - 0xdc00)
        i++
      } else {
        c = 0xfffd
      }
    }
    if (c < 0x80) {
      out[n++] = c
      continue
    }
    if (c < 0x800) {
      out[n++] = 0xc0 | (c >> 6)
    } else {
      if (c < 0x10000) {
        out[n++] = 0xe0 | (c >> 12)
      } else {
        out[n++] = 0xf0 | (c >> 18)
        out[n++] = 0x80 | ((c >> 12) & 63)
      }
      out[n++] = 0x80 | ((c >> 6) & 63)
    }
    out[n++] = 0x80 | (c & 63)
  }
  return out.slice(0, n)
}
