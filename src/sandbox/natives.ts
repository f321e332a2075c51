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
import type { QuickJSContext, QuickJSDeferredPromise, QuickJSHandle } from 'quickjs-emscripten-core'
import type { GuestFetchMeta, GuestNatives, GuestResponseMeta, LogLevel, NativeHooks } from './bridge-types.js'
import preludeChunks from './prelude/chunks?guest-chunks'
import { hostRefState, setHostRefState } from './quickjs-internals.js'
import { createMarshal, Fail, GuestError } from './natives-marshal.js'
import { defineWebNatives, type ExtraNatives } from './natives-web.js'

export { GuestError }

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

export type Impl = (args: QuickJSHandle[]) => QuickJSHandle | { error: QuickJSHandle } | undefined
export type NativeName = keyof GuestNatives | keyof ExtraNatives

const LOG_LEVELS: ReadonlySet<string> = new Set<LogLevel>(['debug', 'info', 'log', 'warn', 'error'])
const REDIRECTS: ReadonlySet<string> = new Set(['follow', 'manual', 'error'])

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

  const marshal = createMarshal(ctx, hooks.maxTransferBytes)
  const { newString, newBuffer, toGuestError, str, num, optional, bytes, json, headerList, field } = marshal

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

  const webNatives = defineWebNatives({ ctx, marshal, define, defineAsync })

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
      webNatives.dispose()
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
