/**
 * The contract between the guest prelude (JavaScript that runs inside QuickJS, `prelude/`) and
 * the host side of one sandbox instance (`instance.ts`, `natives.ts`).
 *
 * Flow of one instance:
 * 1. `installNatives(ctx, hooks)` puts one object on the guest global, `__fnbox_native`, whose
 *    functions are listed by {@link GuestNatives}. Host exceptions never cross: a native throws
 *    only errors built here (`TypeError`, `RangeError`, `DOMException`-like `{ name, message }`).
 * 2. The prelude (one IIFE script, evaluated as global code) captures `__fnbox_native`, deletes it
 *    from the global, defines the web globals, and leaves the {@link GuestEntry} object on
 *    `globalThis.__fnbox_entry`, which the host reads and deletes at once (an IIFE has no
 *    completion value). The host keeps a handle to it.
 *    The prelude is only a small core: each global stays an accessor until first read, which
 *    loads the chunk implementing it through `native.chunk` (the host holds the chunk sources,
 *    once per thread; see `prelude/index.js`). A JSON `entry.call` loads no chunk.
 *
 * Strings: the FFI cuts strings at U+0000, so `base64Encode` input and `base64Decode` output carry
 * NUL as U+0100, and other strings with NUL cross as JSON string literals (see `natives.ts`).
 * `installNatives` returns a handle whose `dispose()` frees the guest promises of host calls
 * still pending: a handle left alive makes `JS_FreeRuntime` abort the module.
 * Timers fire only while an invocation runs: between invocations an instance is frozen.
 * 3. The function's ES module is evaluated; its namespace is handed to `entry.setModule(ns)`.
 * 4. Each invocation calls `entry.fetch(...)` or `entry.call(...)`; they return promises (`call` a
 *    plain value when it can) that the host settles by pumping the job queue
 *    (`runtime.executePendingJobs()`).
 *
 * @internal
 * @module
 */

export type LogLevel = 'debug' | 'info' | 'log' | 'warn' | 'error'

/** Request head handed to `entry.fetch`, as JSON. */
export interface GuestRequestMeta {
  method: string
  /** Absolute URL relative to the function's mount (`http://host/api/x` for `/fn/hello/api/x`). */
  url: string
  /** Absolute URL as the client sent it. */
  originalUrl: string
  /** The path the function is mounted at (`/fn/hello`), no trailing slash. */
  mountPath: string
  headers: [string, string][]
  /** Invocation id (also `ctx.requestId` in the guest). */
  requestId: string
  functionName: string
  version: string
  /** The invocation span's trace id (`ctx.traceId`); absent while no tracer is registered. */
  traceId?: string | undefined
}

/** Response head passed by the guest to `native.respond`, as JSON. */
export interface GuestResponseMeta {
  status: number
  statusText: string
  headers: [string, string][]
  /** True when the body follows as chunks through `native.emitChunk`. */
  stream: boolean
}

/** What the guest's `fetch` asks the host for, as JSON. */
export interface GuestFetchMeta {
  /** Chosen by the guest, unique per instance; used by `fetchAbort` and body reads. */
  fetchId: number
  method: string
  url: string
  headers: [string, string][]
  redirect: 'follow' | 'manual' | 'error'
}

/** What the host answers a guest `fetch` with, as JSON. */
export interface GuestFetchResponseMeta {
  status: number
  statusText: string
  headers: [string, string][]
  url: string
  redirected: boolean
  /** Read the body with `native.bodyRead(bodyId)`; `null` when there is none. */
  bodyId: number | null
}

/**
 * What the guest sees as `__fnbox_native` before the prelude hides it. Binary data crosses as
 * `ArrayBuffer` (copied). Async natives return guest promises.
 */
export interface GuestNatives {
  log(level: LogLevel, message: string): void
  /** Schedules a timer; when due, the host calls `entry.fireTimer(id)`. Returns the id. */
  setTimer(ms: number): number
  clearTimer(id: number): void
  /**
   * A monotonic clock in ms, the same on every executor thread of the process (an instance
   * restored from a snapshot on another thread keeps comparing times it took before).
   */
  now(): number
  /** A manual clock's time in ms since the epoch (fnbox/testing), or NaN: guest `Date` follows it. */
  wallClock(): number
  randomBytes(length: number): ArrayBuffer
  randomUUID(): string
  /** Hex digest of `data` (`sha256`, `sha384`, `sha512`, `sha1`, `md5`); TypeError otherwise. */
  hash(algorithm: string, data: ArrayBuffer): string
  /** `crypto.subtle.digest`: `SHA-1`, `SHA-256`, `SHA-384` or `SHA-512`; `NotSupportedError` otherwise. */
  digest(algorithm: string, data: ArrayBuffer): ArrayBuffer
  utf8Encode(text: string): ArrayBuffer
  /** Throws `TypeError` on invalid input when `fatal`; else replaces with U+FFFD. */
  utf8Decode(bytes: ArrayBuffer, fatal: boolean): string
  /** `btoa` semantics: throws `InvalidCharacterError` for chars > 0xFF. */
  base64Encode(latin1: string): string
  /** `atob` semantics (forgiving base64); throws `InvalidCharacterError`. */
  base64Decode(base64: string): string
  /**
   * WHATWG URL parsing by the host's URL implementation. Returns JSON of the components
   * (`href, origin, protocol, username, password, host, hostname, port, pathname, search, hash`)
   * or `null` when invalid.
   */
  urlParse(input: string, base?: string): string | null
  /** Runs the host's WHATWG URL setter `part` (`href`, `protocol`, ... `hash`); returns `urlParse` JSON. */
  urlSet(href: string, part: string, value: string): string
  /** Sends the response head (and the whole body when not streaming). Once per invocation. */
  respond(meta: string, body?: ArrayBuffer): void
  /** Sends one body chunk; resolves when the host is ready for the next (backpressure). */
  emitChunk(chunk: ArrayBuffer): Promise<void>
  /** The streamed body is complete (the invocation may go on for `waitUntil` work). */
  bodyEnd(): void
  /** Outgoing fetch; resolves to {@link GuestFetchResponseMeta} JSON. Rejects with `TypeError`. */
  fetchStart(meta: string, body?: ArrayBuffer): Promise<string>
  fetchAbort(fetchId: number): void
  /** Next chunk of a fetched body, or `undefined` at its end. */
  bodyRead(bodyId: number): Promise<ArrayBuffer | undefined>
  bodyCancel(bodyId: number): void
  /**
   * A data call of `fnbox:host` (`kv.get`, ...; see `HostCall` 'data'): `args` is JSON of one
   * object, `data` a binary argument. Resolves to the result's JSON (`undefined` for none) or, for
   * binary results, an ArrayBuffer. Rejects with an `Error` carrying `code` and `details`.
   */
  hostData(method: string, args: string, data?: ArrayBuffer): Promise<string | ArrayBuffer | undefined>
  /** The value of a secret granted to this function, or `undefined`. */
  secretGet(name: string): string | undefined
  /**
   * Evaluates the prelude chunk `name` (a `prelude/chunks/<name>.js` bundle) as global code and
   * returns its completion value: a function the prelude calls with its private registry. Throws
   * `TypeError` for an unknown name; an evaluation failure (out of memory, interrupt) is thrown as
   * QuickJS's own error.
   */
  chunk(name: string): (registry: object) => void
}

/** What the prelude's completion value provides to the host. */
export interface GuestEntry {
  setModule(namespace: object): void
  /**
   * Runs the HTTP entry of the module (`default.fetch` or the method export). Calls
   * `native.respond` once, then `native.emitChunk` for a streamed body; the promise settles
   * when the body is complete. Rejects with the guest's error.
   */
  fetch(meta: string, body?: ArrayBuffer): Promise<void>
  /**
   * Calls a named export with JSON arguments (an array); gives the JSON of its result, at once
   * when the export returns a plain value, or as a promise when it returns a thenable.
   */
  call(exportName: string, argsJson: string): string | undefined | Promise<string | undefined>
  fireTimer(id: number): void
  /** Aborts `request.signal` of the running invocation (timeout, client gone). */
  abort(reason: string): void
}

/** What a data call answers: JSON, or bytes for a binary result. */
export interface DataResult {
  json: string | undefined
  bytes: Uint8Array | undefined
}

/** Host-side callbacks behind the natives that need the instance (see `natives.ts`). */
export interface NativeHooks {
  log(level: LogLevel, message: string): void
  setTimer(ms: number): number
  clearTimer(id: number): void
  respond(meta: GuestResponseMeta, body: Uint8Array | undefined): void
  emitChunk(chunk: Uint8Array): Promise<void>
  bodyEnd(): void
  fetchStart(meta: GuestFetchMeta, body: Uint8Array | undefined): Promise<GuestFetchResponseMeta>
  fetchAbort(fetchId: number): void
  bodyRead(bodyId: number): Promise<Uint8Array | undefined>
  bodyCancel(bodyId: number): void
  data(method: string, args: string, bytes: Uint8Array | undefined): Promise<DataResult>
  secret(name: string): string | undefined
  /** Run the guest's pending jobs after a host promise settled into it. */
  pump(): void
  /** Largest ArrayBuffer the host may copy into the guest (checked before allocating). */
  maxTransferBytes: number
}
