/**
 * How values cross between the host and a guest's natives (see `natives.ts`): strings and buffers
 * into the guest, checked against the transfer limit first; guest-safe errors; and the checked
 * reading of native arguments, strings read code unit for code unit.
 *
 * @internal
 * @module
 */
import type { QuickJSContext, QuickJSHandle } from 'quickjs-emscripten-core'

/**
 * An error a hook may throw (or reject with) whose `name` and `message` are safe to show the
 * guest, e.g. `new GuestError('TypeError', 'fetch to 10.0.0.1 is not allowed')`. Any other host
 * error reaches the guest as the native's generic error.
 */
export class GuestError extends Error {
  constructor(
    name: string,
    message: string,
    /** A fnbox error code the guest can match on (`err.code`). */
    readonly code?: string,
    /** Facts for the guest (`err.details`): limit, value, argument, expected. */
    readonly details?: Readonly<Record<string, string | number>>,
  ) {
    super(message)
    this.name = name
  }
}

/** A failure with a guest-safe name and message, thrown by the natives' validation. */
export class Fail {
  constructor(
    readonly name: string,
    readonly message: string,
  ) {}
}

/** The marshalling functions of one context; `maxTransferBytes` bounds every copy into it. */
export function createMarshal(ctx: QuickJSContext, maxTransferBytes: number) {
  // ---- values into the guest -------------------------------------------------------------

  function checkSize(bytes: number): void {
    if (bytes > maxTransferBytes) {
      throw new Fail('RangeError', `data of ${bytes} bytes exceeds the transfer limit (${maxTransferBytes})`)
    }
  }

  function newString(s: string): QuickJSHandle {
    checkSize(Buffer.byteLength(s, 'utf8'))
    if (!s.includes('\0')) return ctx.newString(s)
    // The FFI cuts strings at NUL: evaluate a JSON string literal instead (JSON is valid JS).
    const literal = JSON.stringify(s)
    checkSize(literal.length)
    const res = ctx.evalCode(literal, 'fnbox:native', { type: 'global' })
    if (res.error) {
      res.error.dispose()
      throw new Fail('RangeError', 'out of memory')
    }
    return res.value
  }

  function newBuffer(bytes: Uint8Array): QuickJSHandle {
    checkSize(bytes.byteLength)
    // An exact ArrayBuffer is copied once; a view would be copied twice. A copy of a view is made
    // with `new Uint8Array`: a Buffer's `slice()` copies nothing, and its `buffer` may be Node's
    // shared 8 KB pool, full of other host data.
    const exact = bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength
    return ctx.newArrayBuffer(exact ? (bytes.buffer as ArrayBuffer) : new Uint8Array(bytes).buffer)
  }

  /**
   * A guest error object. `TypeError` and `RangeError` are real instances (`instanceof` works in
   * the guest), made by evaluating a snippet that throws one from the intrinsics, so no guest-
   * replaceable global is consulted; other names get a plain `Error` with that name.
   */
  function newError(name: string, message: string): QuickJSHandle {
    const trigger = name === 'TypeError' ? 'null.x' : name === 'RangeError' ? '1n/0n' : undefined
    if (trigger) {
      const res = ctx.evalCode(trigger, 'fnbox:native', { type: 'global' })
      if (res.error) {
        const err = res.error
        let ok = false
        try {
          ok = ctx.getProp(err, 'name').consume((h) => ctx.typeof(h) === 'string' && ctx.getString(h) === name)
          if (ok) {
            ctx.newString(message).consume((h) => ctx.setProp(err, 'message', h))
            // Drop the frame of the snippet itself from the guest-visible stack.
            const stack = ctx.getProp(err, 'stack').consume((h) => (ctx.typeof(h) === 'string' ? ctx.getString(h) : ''))
            const kept = stack
              .split('\n')
              .filter((line) => !line.includes('fnbox:native'))
              .join('\n')
            ctx.newString(kept).consume((h) => ctx.setProp(err, 'stack', h))
          }
        } catch {
          ok = false
        }
        if (ok) return err
        err.dispose()
      } else {
        res.value.dispose()
      }
    }
    return ctx.newError({ name, message })
  }

  function toGuestError(err: unknown, fallback: Fail): QuickJSHandle {
    const safe = err instanceof Fail || err instanceof GuestError ? err : fallback
    const handle = newError(safe.name, safe.message)
    if (safe instanceof GuestError && safe.code !== undefined) {
      ctx.newString(safe.code).consume((h) => ctx.setProp(handle, 'code', h))
      if (safe.details) {
        // JSON of strings and numbers only: a valid JS expression with no NUL (JSON escapes it).
        const res = ctx.evalCode(`(${JSON.stringify(safe.details)})`, 'fnbox:native', { type: 'global' })
        if (res.error) res.error.dispose()
        else res.value.consume((h) => ctx.setProp(handle, 'details', h))
      }
    }
    return handle
  }

  // ---- values from the guest -------------------------------------------------------------

  function str(h: QuickJSHandle | undefined, what: string): string {
    if (!h || ctx.typeof(h) !== 'string') throw new Fail('TypeError', `${what} must be a string`)
    return exactString(h)
  }

  /**
   * A guest string, code unit for code unit. `getString` goes through a C string: it stops at the
   * first NUL, and a lone surrogate comes out as three U+FFFD. Either shows in the length (one
   * property read) or as a U+FFFD; only then is the string read again, from QuickJS's binary
   * serialization of it, which holds its code units as they are and runs no guest code.
   */
  function exactString(h: QuickJSHandle): string {
    const s = ctx.getString(h)
    if (!s.includes('\uFFFD') && s.length === ctx.getProp(h, 'length').consume((n) => ctx.getNumber(n))) return s
    return ctx.encodeBinaryJSON(h).consume((buffer) => {
      const view = ctx.getArrayBuffer(buffer)
      try {
        return stringFromBinaryJSON(view.value)
      } finally {
        view.dispose()
      }
    })
  }

  function num(h: QuickJSHandle | undefined, what: string): number {
    if (!h || ctx.typeof(h) !== 'number') throw new Fail('TypeError', `${what} must be a number`)
    return ctx.getNumber(h)
  }

  function optional(h: QuickJSHandle | undefined): boolean {
    return h !== undefined && ctx.typeof(h) !== 'undefined'
  }

  /** Copies a guest ArrayBuffer out (the copy lives in host memory). */
  function bytes(h: QuickJSHandle | undefined, what: string): Uint8Array {
    if (!h || ctx.typeof(h) !== 'object') throw new Fail('TypeError', `${what} must be an ArrayBuffer`)
    let view
    try {
      view = ctx.getArrayBuffer(h)
    } catch {
      throw new Fail('TypeError', `${what} must be an ArrayBuffer`)
    }
    try {
      return view.value.slice()
    } finally {
      view.dispose()
    }
  }

  function json(h: QuickJSHandle | undefined, what: string): Record<string, unknown> {
    let value: unknown
    try {
      value = JSON.parse(str(h, what))
    } catch (err) {
      if (err instanceof Fail) throw err
      throw new Fail('TypeError', `${what} must be JSON`)
    }
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      throw new Fail('TypeError', `${what} must be a JSON object`)
    }
    return value as Record<string, unknown>
  }

  function headerList(value: unknown, what: string): [string, string][] {
    if (!Array.isArray(value)) throw new Fail('TypeError', `${what}.headers must be an array`)
    for (const pair of value) {
      if (!Array.isArray(pair) || pair.length !== 2 || typeof pair[0] !== 'string' || typeof pair[1] !== 'string') {
        throw new Fail('TypeError', `${what}.headers must hold [name, value] string pairs`)
      }
    }
    return value as [string, string][]
  }

  function field(
    obj: Record<string, unknown>,
    key: string,
    type: 'string' | 'number' | 'boolean',
    what: string,
  ): unknown {
    if (typeof obj[key] !== type) throw new Fail('TypeError', `${what}.${key} must be a ${type}`)
    return obj[key]
  }

  return { newString, newBuffer, newError, toGuestError, str, num, optional, bytes, json, headerList, field }
}

/**
 * The string a QuickJS binary serialization (`JS_WriteObject`) of one string primitive holds: a
 * version byte, the atom count (0), the string tag (7), LEB128 of `length << 1 | wide`, then the
 * code units, one byte each (latin1) or two (UTF-16LE, lone surrogates kept as they are).
 */
function stringFromBinaryJSON(bytes: Uint8Array): string {
  let at = 1
  const leb = (): number => {
    let value = 0
    for (let shift = 0; at < bytes.length && shift < 35; shift += 7) {
      const b = bytes[at++]!
      value += (b & 0x7f) * 2 ** shift
      if (b < 0x80) return value
    }
    throw new Fail('TypeError', 'unexpected serialization of a string')
  }
  if (leb() !== 0 || bytes[at++] !== 7) throw new Fail('TypeError', 'unexpected serialization of a string')
  const header = leb()
  const length = Math.floor(header / 2)
  const wide = header % 2 === 1
  const data = Buffer.from(bytes.buffer, bytes.byteOffset + at, bytes.length - at)
  if (data.length !== (wide ? length * 2 : length)) throw new Fail('TypeError', 'unexpected serialization of a string')
  return data.toString(wide ? 'utf16le' : 'latin1')
}
