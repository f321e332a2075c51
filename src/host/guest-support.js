// Helpers of the domains' guest clients (`src/host/<domain>/guest.js`), which run inside the
// sandbox: bundled into the prelude's `host` chunk with them. Plain JavaScript, web globals only.

/** Bytes of a string (UTF-8), ArrayBuffer or view, as a fresh ArrayBuffer the host may take. */
export function toBuffer(data, what) {
  if (typeof data === 'string') return new TextEncoder().encode(data).buffer
  if (data instanceof ArrayBuffer) return data.slice(0)
  if (ArrayBuffer.isView(data)) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength).slice().buffer
  throw new TypeError(`${what} takes a string, an ArrayBuffer or a typed array`)
}

/** A JSON value, or a TypeError naming what is wrong (undefined, functions, symbols, BigInt). */
export function jsonArg(value, what) {
  if (value === undefined || typeof value === 'function' || typeof value === 'symbol') {
    throw new TypeError(`${what} must be a JSON value (got ${typeof value})`)
  }
  return value
}
