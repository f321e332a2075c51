/**
 * The natives behind the guest's web APIs that need no host I/O (see `natives.ts`): clock,
 * randomness, hashes and WebCrypto, Intl, text encodings, base64 and URL parsing. Each runs on
 * the host's own implementation, its arguments checked and its result copied into the guest.
 *
 * @internal
 * @module
 */
import { createHash, randomFillSync, randomUUID } from 'node:crypto'
import type { QuickJSContext, QuickJSHandle } from 'quickjs-emscripten-core'
import { guestClockIsManual, manualGuestTime } from './guest-time.js'
import { callIntl, IntlFailure } from './intl.js'
import { Fail, type createMarshal } from './natives-marshal.js'
import type { Impl, NativeName } from './natives.js'
import { KeyTable, runSubtle, WebCryptoFailure } from './web-crypto.js'

/** The natives the prelude uses beyond `GuestNatives` (see the module doc of the prelude). */
export interface ExtraNatives {
  /** Runs a WHATWG URL setter (`href`, `protocol`, `username`, ... `hash`); returns the parts. */
  urlSet(href: string, part: string, value: string): string
  /**
   * Runs a SubtleCrypto method on the host's WebCrypto (see `web-crypto.ts`): `request` is the
   * JSON of its arguments, `buffers` the bytes they refer to. Resolves to an ArrayBuffer, or to
   * `[json, ...sealedKeys]` for the other results.
   */
  subtle(op: string, request: string, ...buffers: ArrayBuffer[]): Promise<ArrayBuffer | [string, ...ArrayBuffer[]]>
  /**
   * Decodes a single-byte encoding: each byte of `data` becomes the UTF-16 code unit `table`
   * (256 little-endian code units) holds for it.
   */
  decodeTable(table: ArrayBuffer, data: ArrayBuffer): string
  /**
   * Runs `op` of the Intl service `kind` for the object `spec` (JSON of its locales and options)
   * on the JSON `args` (see `intl.ts`): formatted text, or JSON. Throws RangeError or TypeError.
   */
  intl(kind: string, spec: string, op: string, args: string): string
}

/** Digests `utils.hash` offers (fnbox:host). */
const HASH_ALGORITHMS = new Set(['sha256', 'sha384', 'sha512', 'sha1', 'md5'])
/** WebCrypto's digest names (`crypto.subtle.digest`, HMAC's hash) and Node's names for them. */
const SUBTLE_HASHES: ReadonlyMap<string, string> = new Map([
  ['SHA-1', 'sha1'],
  ['SHA-256', 'sha256'],
  ['SHA-384', 'sha384'],
  ['SHA-512', 'sha512'],
])
const URL_SETTERS: ReadonlySet<string> = new Set([
  'href',
  'protocol',
  'username',
  'password',
  'host',
  'hostname',
  'port',
  'pathname',
  'search',
  'hash',
])

/** `getRandomValues` quota; `randomBytes` serves nothing bigger. */
const MAX_RANDOM_BYTES = 65_536

const utf8Encoder = new TextEncoder()
const utf8Lenient = new TextDecoder('utf-8', { ignoreBOM: true })
const utf16Decoder = new TextDecoder('utf-16le', { ignoreBOM: true })
/** The size of a single-byte encoding's table (`decodeTable`): 256 UTF-16 code units. */
const TABLE_BYTES = 512
const utf8Fatal = new TextDecoder('utf-8', { ignoreBOM: true, fatal: true })

/** How a group of natives registers (see `installNatives`). */
export interface NativeRegistry {
  readonly ctx: QuickJSContext
  readonly marshal: ReturnType<typeof createMarshal>
  define(name: NativeName, fallback: Fail, impl: Impl): void
  defineAsync<T>(
    name: NativeName,
    fallback: Fail,
    start: (args: QuickJSHandle[]) => Promise<T>,
    toGuest: (value: T) => QuickJSHandle | undefined,
  ): void
}

/** Defines the web natives; `dispose` forgets the instance's CryptoKeys. */
export function defineWebNatives(registry: NativeRegistry): { dispose(): void } {
  const { ctx, define, defineAsync } = registry
  const { newString, newBuffer, str, num, optional, bytes } = registry.marshal
  const internal = new Fail('Error', 'internal error')
  const badUrl = new Fail('TypeError', 'Invalid URL')
  // The sealing secret of the instance's CryptoKeys and its cache of them (see web-crypto.ts).
  const cryptoKeys = new KeyTable()

  // A process-wide monotonic clock (performance.now() counts from each thread's start): a
  // snapshot's instance restored on another thread keeps comparing times it took on the first.
  define('now', internal, () => ctx.newNumber(guestClockIsManual() ? manualGuestTime() : monotonicMs()))

  // fnbox/testing's clock: its time for guest Date (NaN: guests follow the system clock).
  define('wallClock', internal, () => ctx.newNumber(manualGuestTime()))

  define('randomBytes', internal, ([length]) => {
    const n = num(length, 'length')
    if (!Number.isInteger(n) || n < 0 || n > MAX_RANDOM_BYTES) {
      throw new Fail('RangeError', `length must be an integer from 0 to ${MAX_RANDOM_BYTES}`)
    }
    return newBuffer(randomFillSync(new Uint8Array(n)))
  })

  define('randomUUID', internal, () => ctx.newString(randomUUID()))

  define('hash', internal, ([algorithm, data]) => {
    const algo = str(algorithm, 'algorithm')
    if (!HASH_ALGORITHMS.has(algo)) {
      throw new Fail('TypeError', `unsupported hash algorithm (use one of ${[...HASH_ALGORITHMS].join(', ')})`)
    }
    return ctx.newString(createHash(algo).update(bytes(data, 'data')).digest('hex'))
  })

  function subtleHash(h: QuickJSHandle | undefined): string {
    const node = SUBTLE_HASHES.get(str(h, 'algorithm'))
    if (!node) throw new Fail('NotSupportedError', 'Unrecognized algorithm name')
    return node
  }

  define('digest', internal, ([algorithm, data]) =>
    newBuffer(createHash(subtleHash(algorithm)).update(bytes(data, 'data')).digest()),
  )

  defineAsync(
    'subtle',
    new Fail('OperationError', 'The operation failed for an operation-specific reason'),
    ([op, request, ...buffers]) => {
      const name = str(op, 'op')
      const json = str(request, 'request')
      const data = buffers.map((b, i) => bytes(b, `buffers[${i}]`))
      return runSubtle(name, json, data, cryptoKeys).catch((err: unknown) => {
        throw err instanceof WebCryptoFailure ? new Fail(err.name, err.message) : err
      })
    },
    (res) => {
      if ('bytes' in res) return newBuffer(res.bytes)
      // [json, ...sealed keys]
      const list = ctx.newArray()
      try {
        newString(res.json).consume((h) => ctx.setProp(list, 0, h))
        res.sealed.forEach((b, i) => newBuffer(b).consume((h) => ctx.setProp(list, i + 1, h)))
      } catch (err) {
        list.dispose()
        throw err
      }
      return list
    },
  )

  define('intl', internal, ([kind, spec, op, args]) => {
    const k = str(kind, 'kind')
    const sp = str(spec, 'spec')
    const o = str(op, 'op')
    const a = str(args, 'args')
    try {
      return newString(callIntl(k, sp, o, a))
    } catch (err) {
      throw err instanceof IntlFailure ? new Fail(err.name, err.message) : err
    }
  })

  define('utf8Encode', internal, ([text]) => newBuffer(utf8Encoder.encode(str(text, 'text'))))

  define('utf8Decode', internal, ([data, fatal]) => {
    const input = bytes(data, 'bytes')
    let text: string
    try {
      // sameValue, not dump: dumping an object would run guest code (toJSON) inside the native.
      text = (fatal !== undefined && ctx.sameValue(fatal, ctx.true) ? utf8Fatal : utf8Lenient).decode(input)
    } catch {
      throw new Fail('TypeError', 'The encoded data was not valid for encoding utf-8')
    }
    return newString(text)
  })

  define('decodeTable', internal, ([table, data]) => {
    const t = bytes(table, 'table')
    if (t.length !== TABLE_BYTES) throw new Fail('TypeError', `table must be ${TABLE_BYTES} bytes`)
    const map = new Uint16Array(t.buffer, t.byteOffset, 256)
    const input = bytes(data, 'data')
    const out = new Uint16Array(input.length)
    for (let i = 0; i < input.length; i++) out[i] = map[input[i]!]!
    return newString(utf16Decoder.decode(out))
  })

  define('base64Encode', internal, ([latin1]) => {
    const input = str(latin1, 'data')
    // U+0100 stands for NUL (see the module doc); anything else above U+00FF is invalid.
    if (/[^\0-\u0100]/.test(input)) {
      throw new Fail('InvalidCharacterError', 'Invalid character')
    }
    return ctx.newString(Buffer.from(input.replaceAll('\u0100', '\0'), 'latin1').toString('base64'))
  })

  define('base64Decode', internal, ([base64]) => {
    // Forgiving-base64 decode (HTML spec): strip ASCII whitespace, allow missing padding.
    let input = str(base64, 'data').replace(/[\t\n\f\r ]/g, '')
    if (input.length % 4 === 0) input = input.replace(/={1,2}$/, '')
    if (input.length % 4 === 1 || /[^A-Za-z0-9+/]/.test(input)) {
      throw new Fail('InvalidCharacterError', 'The string to be decoded is not correctly encoded.')
    }
    const out = Buffer.from(input, 'base64').toString('latin1')
    return newString(out.replaceAll('\0', '\u0100'))
  })

  define('urlParse', internal, ([input, base]) => {
    const href = str(input, 'input')
    const baseHref = optional(base) ? str(base, 'base') : undefined
    let url: URL
    try {
      url = new URL(href, baseHref)
    } catch {
      return ctx.null
    }
    return newString(urlParts(url))
  })

  define('urlSet', badUrl, ([href, part, value]) => {
    const name = str(part, 'part')
    if (!URL_SETTERS.has(name)) throw new Fail('TypeError', 'unknown URL part')
    const text = str(value, 'value')
    let url: URL
    try {
      url = new URL(str(href, 'href'))
    } catch (err) {
      if (err instanceof Fail) throw err
      throw badUrl
    }
    try {
      ;(url as unknown as Record<string, string>)[name] = text
    } catch {
      throw badUrl // only the href setter throws
    }
    return newString(urlParts(url))
  })

  return {
    dispose() {
      cryptoKeys.clear()
    },
  }
}

function monotonicMs(): number {
  const [seconds, nanos] = process.hrtime()
  return seconds * 1000 + nanos / 1e6
}

function urlParts(url: URL): string {
  return JSON.stringify({
    href: url.href,
    origin: url.origin,
    protocol: url.protocol,
    username: url.username,
    password: url.password,
    host: url.host,
    hostname: url.hostname,
    port: url.port,
    pathname: url.pathname,
    search: url.search,
    hash: url.hash,
  })
}
