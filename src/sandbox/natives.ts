/**
 * The host side of `__fnbox_native` (see `bridge-types.ts`): the functions the guest prelude
 * builds the web globals on.
 *
 * Guest code is hostile, so every native validates its arguments, never lets a host object,
 * function or `Error` cross into the guest, and turns every host failure into a guest error whose
 * name and message are chosen here (a host message could carry paths or stacks). Only a
 * {@link GuestError} thrown by a hook passes its name and message through.
 *
 * Two transport rules the prelude relies on:
 * - Strings cross the FFI as C strings, which end at NUL and hold no lone surrogate. Both ways are
 *   made exact here: a guest string that lost code units is read again from its binary
 *   serialization (`str`), and a string for the guest that holds NUL is built by evaluating a JSON
 *   literal (`newString`). The latin1 strings of `base64Encode`/`base64Decode` carry NUL as U+0100
 *   (a latin1 string never holds U+0100 otherwise), which is cheaper for binary data.
 * - Every string or ArrayBuffer copied into the guest is checked against `maxTransferBytes` first:
 *   an allocation that overflows the module's fixed memory corrupts it.
 *
 * @internal
 * @module
 */
import { createHash, randomFillSync, randomUUID } from 'node:crypto'
import type { QuickJSContext, QuickJSDeferredPromise, QuickJSHandle } from 'quickjs-emscripten-core'
import type { GuestFetchMeta, GuestNatives, GuestResponseMeta, LogLevel, NativeHooks } from './bridge-types.js'
import { guestClockIsManual, manualGuestTime } from './guest-time.js'
import preludeChunks from './prelude/chunks?guest-chunks'
import { hostRefState, setHostRefState } from './quickjs-internals.js'
import { callIntl, IntlFailure } from './intl.js'
import { KeyTable, runSubtle, WebCryptoFailure } from './web-crypto.js'
import { createMarshal, Fail, GuestError } from './natives-marshal.js'

export { GuestError }

/** Digests `utils.hash` offers (fnbox:host). */
const HASH_ALGORITHMS = new Set(['sha256', 'sha384', 'sha512', 'sha1', 'md5'])
/** WebCrypto's digest names (`crypto.subtle.digest`, HMAC's hash) and Node's names for them. */
const SUBTLE_HASHES: ReadonlyMap<string, string> = new Map([
  ['SHA-1', 'sha1'],
  ['SHA-256', 'sha256'],
  ['SHA-384', 'sha384'],
  ['SHA-512', 'sha512'],
])

/**
 * Natives whose effect lives outside the guest's memory or differs per instance: randomness,
 * host timers, host I/O. Top-level code calling one cannot be snapshotted (see `snapshot.ts`).
 */
const IMPURE: ReadonlySet<NativeName> = new Set<NativeName>([
  'setTimer',
  'clearTimer',
  'randomBytes',
  'randomUUID',
  'respond',
  'bodyEnd',
  'emitChunk',
  'fetchStart',
  'fetchAbort',
  'bodyRead',
  'bodyCancel',
  'hostData',
  'subtle',
])

/** The host function table of one instance, by id, for a snapshot (see `quickjs-internals.ts`). */
export interface NativesImage {
  nextId: number
  freelist: number[]
  functions: [id: number, name: string][]
}

/** What {@link installNatives} leaves behind. */
export interface NativesHandle {
  /**
   * Disposes the guest promises of host calls still pending. Call before disposing the context:
   * a live handle makes `JS_FreeRuntime` abort. Their host promises are ignored afterwards.
   */
  dispose(): void
  /** Impure natives (randomness, timers, host I/O) called since the last {@link clearImpure}. */
  readonly impure: ReadonlySet<string>
  clearImpure(): void
  /** The host function table for a snapshot, or why the instance cannot be snapshotted now. */
  image(): NativesImage | string
}

type Impl = (args: QuickJSHandle[]) => QuickJSHandle | { error: QuickJSHandle } | undefined
/** The natives the prelude uses beyond {@link GuestNatives} (see the module doc of the prelude). */
interface ExtraNatives {
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
type NativeName = keyof GuestNatives | keyof ExtraNatives

const LOG_LEVELS: ReadonlySet<string> = new Set<LogLevel>(['debug', 'info', 'log', 'warn', 'error'])
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
const REDIRECTS: ReadonlySet<string> = new Set(['follow', 'manual', 'error'])
/** `getRandomValues` quota; `randomBytes` serves nothing bigger. */
const MAX_RANDOM_BYTES = 65_536

const utf8Encoder = new TextEncoder()
const utf8Lenient = new TextDecoder('utf-8', { ignoreBOM: true })
const utf16Decoder = new TextDecoder('utf-16le', { ignoreBOM: true })
/** The size of a single-byte encoding's table (`decodeTable`): 256 UTF-16 code units. */
const TABLE_BYTES = 512
const utf8Fatal = new TextDecoder('utf-8', { ignoreBOM: true, fatal: true })

/**
 * Defines the natives in `ctx` (on the guest global `__fnbox_native`), or, given the `image` of a
 * snapshot restored into `ctx`, binds the guest's existing native functions to new host ones.
 */
export function installNatives(ctx: QuickJSContext, hooks: NativeHooks, image?: NativesImage): NativesHandle {
  const pending = new Set<QuickJSDeferredPromise>()
  let disposed = false
  const impure = new Set<string>()
  /** The host side of each native, as registered in the runtime's host function table. */
  const hostFunctions = new Map<string, (...args: QuickJSHandle[]) => unknown>()

  const { newString, newBuffer, toGuestError, str, num, optional, bytes, json, headerList, field } = createMarshal(
    ctx,
    hooks.maxTransferBytes,
  )

  // ---- definitions -------------------------------------------------------------------------

  const nativeObject = image ? undefined : ctx.newObject()

  function define(name: NativeName, fallback: Fail, impl: Impl): void {
    const watched = IMPURE.has(name)
    const host = (...args: QuickJSHandle[]): QuickJSHandle | { error: QuickJSHandle } | undefined => {
      if (watched) impure.add(name)
      try {
        return impl(args)
      } catch (err) {
        try {
          return { error: toGuestError(err, fallback) }
        } catch {
          // No memory left even for the error: throw null, as QuickJS does when out of memory.
          // Nothing may escape a native: an exception unwinding through the module's frames
          // leaves it broken.
          return { error: ctx.null }
        }
      }
    }
    hostFunctions.set(name, host)
    if (nativeObject) ctx.newFunction(name, host).consume((fn) => ctx.setProp(nativeObject, name, fn))
  }

  /**
   * A native returning a guest promise settled by a host promise. After settling, the guest's
   * jobs are pumped. Nothing happens once the natives or the context are gone.
   */
  function defineAsync<T>(
    name: NativeName,
    fallback: Fail,
    start: (args: QuickJSHandle[]) => Promise<T>,
    toGuest: (value: T) => QuickJSHandle | undefined,
  ): void {
    define(name, fallback, (args) => {
      const task = start(args) // validation errors throw synchronously, before a promise exists
      let deferred: QuickJSDeferredPromise
      try {
        deferred = ctx.newPromise()
      } catch (err) {
        task.catch(() => undefined) // the guest is out of memory: nobody takes the result
        throw err
      }
      pending.add(deferred)
      const settle = (ok: boolean, value: unknown): void => {
        if (!pending.delete(deferred) || disposed || !ctx.alive) return
        try {
          let handle: QuickJSHandle | undefined
          try {
            handle = ok ? toGuest(value as T) : toGuestError(value, fallback)
          } catch (err) {
            ok = false
            handle = toGuestError(err, fallback)
          }
          try {
            if (ok) deferred.resolve(handle)
            else deferred.reject(handle)
          } finally {
            if (handle?.alive) handle.dispose()
          }
        } catch {
          // The guest is out of memory or gone; the invocation fails on its own.
        } finally {
          if (deferred.alive) deferred.dispose()
        }
        hooks.pump()
      }
      task.then(
        (v) => settle(true, v),
        (e: unknown) => settle(false, e),
      )
      return deferred.handle
    })
  }

  /** Calls a hook returning a promise; a synchronous throw becomes a rejection. */
  function call<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return Promise.resolve(fn())
    } catch (err) {
      return Promise.reject(err)
    }
  }

  const internal = new Fail('Error', 'internal error')
  const badUrl = new Fail('TypeError', 'Invalid URL')

  define('log', internal, ([level, message]) => {
    const lvl = str(level, 'level')
    if (!LOG_LEVELS.has(lvl)) throw new Fail('TypeError', 'level must be a log level')
    hooks.log(lvl as LogLevel, str(message, 'message'))
    return undefined
  })

  define('setTimer', internal, ([ms]) => {
    const delay = num(ms, 'ms')
    return ctx.newNumber(hooks.setTimer(Number.isFinite(delay) && delay > 0 ? delay : 0))
  })

  define('clearTimer', internal, ([id]) => {
    hooks.clearTimer(num(id, 'id'))
    return undefined
  })

  // A process-wide monotonic clock (performance.now() counts from each thread's start): a
  // snapshot's instance restored on another thread keeps comparing times it took on the first.
  define('now', internal, () => ctx.newNumber(guestClockIsManual() ? manualGuestTime() : monotonicMs()))

  // fnbox/testing's manual clock: its time for guest Date (NaN: guests follow the system clock).
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

  // The sealing secret of the instance's CryptoKeys and its cache of them (see web-crypto.ts).
  const cryptoKeys = new KeyTable()

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

  define('chunk', internal, ([name]) => {
    const id = str(name, 'name')
    const source = Object.hasOwn(preludeChunks, id) ? preludeChunks[id] : undefined
    if (source === undefined) throw new Fail('TypeError', 'unknown prelude chunk')
    // Parsed straight from the host's copy: the source never becomes a guest string. A failure
    // (out of memory, interrupted) is QuickJS's own error object, passed on as it is.
    const res = ctx.evalCode(source, 'fnbox:prelude', { type: 'global' })
    return res.error ? { error: res.error } : res.value
  })

  define('respond', new Fail('TypeError', 'respond failed'), ([meta, body]) => {
    const m = json(meta, 'meta')
    const head: GuestResponseMeta = {
      status: field(m, 'status', 'number', 'meta') as number,
      statusText: field(m, 'statusText', 'string', 'meta') as string,
      headers: headerList(m.headers, 'meta'),
      stream: field(m, 'stream', 'boolean', 'meta') as boolean,
    }
    hooks.respond(head, optional(body) ? bytes(body, 'body') : undefined)
    return undefined
  })

  define('bodyEnd', new Fail('TypeError', 'the response stream was closed'), () => {
    hooks.bodyEnd()
    return undefined
  })

  defineAsync(
    'emitChunk',
    new Fail('TypeError', 'the response stream was closed'),
    ([chunk]) => {
      const data = bytes(chunk, 'chunk')
      return call(() => hooks.emitChunk(data))
    },
    () => undefined,
  )

  defineAsync(
    'fetchStart',
    new Fail('TypeError', 'fetch failed'),
    ([meta, body]) => {
      const m = json(meta, 'meta')
      const redirect = field(m, 'redirect', 'string', 'meta') as string
      if (!REDIRECTS.has(redirect)) throw new Fail('TypeError', 'meta.redirect is invalid')
      const request: GuestFetchMeta = {
        fetchId: field(m, 'fetchId', 'number', 'meta') as number,
        method: field(m, 'method', 'string', 'meta') as string,
        url: field(m, 'url', 'string', 'meta') as string,
        headers: headerList(m.headers, 'meta'),
        redirect: redirect as GuestFetchMeta['redirect'],
      }
      const data = optional(body) ? bytes(body, 'body') : undefined
      return call(() => hooks.fetchStart(request, data))
    },
    (res) =>
      newString(
        // Rebuilt field by field so nothing else the host object holds reaches the guest.
        JSON.stringify({
          status: res.status,
          statusText: res.statusText,
          headers: res.headers,
          url: res.url,
          redirected: res.redirected,
          bodyId: res.bodyId,
        }),
      ),
  )

  define('fetchAbort', internal, ([id]) => {
    hooks.fetchAbort(num(id, 'fetchId'))
    return undefined
  })

  defineAsync(
    'bodyRead',
    new Fail('TypeError', 'terminated'),
    ([id]) => {
      const bodyId = num(id, 'bodyId')
      return call(() => hooks.bodyRead(bodyId))
    },
    (chunk) => (chunk === undefined ? undefined : newBuffer(chunk)),
  )

  define('bodyCancel', internal, ([id]) => {
    hooks.bodyCancel(num(id, 'bodyId'))
    return undefined
  })

  defineAsync(
    'hostData',
    new Fail('Error', 'host call failed'),
    ([method, args, data]) => {
      const m = str(method, 'method')
      const a = str(args, 'args')
      const b = optional(data) ? bytes(data, 'data') : undefined
      return call(() => hooks.data(m, a, b))
    },
    (res) => (res.bytes ? newBuffer(res.bytes) : res.json === undefined ? undefined : newString(res.json)),
  )

  define('secretGet', internal, ([name]) => {
    const value = hooks.secret(str(name, 'name'))
    return value === undefined ? undefined : newString(value)
  })

  if (nativeObject) {
    try {
      ctx.setProp(ctx.global, '__fnbox_native', nativeObject)
    } finally {
      nativeObject.dispose()
    }
  } else if (image) {
    const entries: [number, object][] = image.functions.map(([id, name]) => {
      const host = hostFunctions.get(name)
      if (!host) throw new Error(`the snapshot names an unknown native ${name}`)
      return [id, host]
    })
    setHostRefState(ctx.runtime, { nextId: image.nextId, freelist: image.freelist, entries })
  }

  return {
    impure,
    clearImpure() {
      impure.clear()
    },
    image() {
      if (pending.size) return 'host calls are pending'
      const names = new Map<object, string>()
      for (const [name, host] of hostFunctions) names.set(host, name)
      const state = hostRefState(ctx.runtime)
      const functions: [number, string][] = []
      for (const [id, value] of state.entries) {
        const name = names.get(value)
        if (name === undefined) return 'the runtime holds a host function that is not a native'
        functions.push([id, name])
      }
      return { nextId: state.nextId, freelist: state.freelist, functions }
    },
    dispose() {
      disposed = true
      cryptoKeys.clear()
      for (const deferred of pending) {
        try {
          deferred.dispose()
        } catch {
          // Disposing is best effort; the caller condemns the module if freeing fails.
        }
      }
      pending.clear()
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
