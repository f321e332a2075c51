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
 * - Strings cross the FFI NUL-terminated. The prelude never sends a string containing U+0000
 *   (it encodes those itself); strings coming back that contain NUL are built by evaluating a JSON
 *   literal. The latin1 strings of `base64Encode`/`base64Decode` carry NUL as U+0100 instead (a
 *   latin1 string never holds U+0100 otherwise), which is cheaper for binary data.
 * - Every string or ArrayBuffer copied into the guest is checked against `maxTransferBytes` first:
 *   an allocation that overflows the module's fixed memory corrupts it.
 *
 * @internal
 * @module
 */
import { createHash, createHmac, randomFillSync, randomUUID } from 'node:crypto'
import type { QuickJSContext, QuickJSDeferredPromise, QuickJSHandle } from 'quickjs-emscripten-core'
import type { GuestFetchMeta, GuestNatives, GuestResponseMeta, LogLevel, NativeHooks } from './bridge-types.js'
import preludeChunks from './prelude/chunks?guest-chunks'
import { hostRefState, setHostRefState } from './quickjs-internals.js'

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

/** A failure with a guest-safe name and message, thrown by the validation below. */
class Fail {
  constructor(
    readonly name: string,
    readonly message: string,
  ) {}
}

type Impl = (args: QuickJSHandle[]) => QuickJSHandle | { error: QuickJSHandle } | undefined
/** The natives the prelude uses beyond {@link GuestNatives} (see the module doc of the prelude). */
interface ExtraNatives {
  /** Runs a WHATWG URL setter (`href`, `protocol`, `username`, ... `hash`); returns the parts. */
  urlSet(href: string, part: string, value: string): string
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

  // ---- values into the guest -------------------------------------------------------------

  function checkSize(bytes: number): void {
    if (bytes > hooks.maxTransferBytes) {
      throw new Fail('RangeError', `data of ${bytes} bytes exceeds the transfer limit (${hooks.maxTransferBytes})`)
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
    // An exact ArrayBuffer is copied once; a view would be copied twice.
    const exact = bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength
    return ctx.newArrayBuffer(exact ? (bytes.buffer as ArrayBuffer) : bytes.slice().buffer)
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
    return ctx.getString(h)
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
  define('now', internal, () => ctx.newNumber(monotonicMs()))

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

  define('hmac', internal, ([hash, key, data]) =>
    newBuffer(createHmac(subtleHash(hash), bytes(key, 'key')).update(bytes(data, 'data')).digest()),
  )

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
