// The sandbox prelude's eager core: evaluated once per context, before the function's module, as
// one global script (bundled into an IIFE by build/guest-source.ts). It hides the natives, defines
// the web globals and leaves the GuestEntry on `globalThis.__fnbox_entry`, which the host reads and
// deletes right after evaluating this script (an IIFE bundle has no completion value to use).
//
// QuickJS compiles all the source it parses, so this core holds no implementation of a global:
// each global is an accessor that, on first read, loads the chunk defining it (`chunks/<name>.js`,
// parsed and evaluated by the host through `native.chunk`, see bridge-types.ts) and then becomes a
// plain data property. Chunks reach the natives and each other through the registry handed to
// them (`shared` below, see shared.js), which guest code never sees.
//
// Guest code runs before most chunks load, so the core uses only functions it captured here, reads
// only own properties of objects it made, and iterates without the iterator protocol.

const native = globalThis.__fnbox_native
delete globalThis.__fnbox_native

const { defineProperty, getOwnPropertyDescriptor, getPrototypeOf, hasOwn, keys, freeze } = Object
const { apply } = Reflect

// Every global and the chunk that defines it ('' for the few made here), in definition order.
const GLOBALS = {
  self: '',
  console: 'console',
  DOMException: 'domexception',
  Event: 'events',
  EventTarget: 'events',
  CustomEvent: 'events',
  ErrorEvent: 'events',
  PromiseRejectionEvent: 'events',
  AbortController: 'events',
  AbortSignal: 'events',
  setTimeout: 'timers',
  clearTimeout: 'timers',
  setInterval: 'timers',
  clearInterval: 'timers',
  queueMicrotask: 'timers',
  reportError: 'console',
  TextEncoder: 'encoding',
  TextDecoder: 'encoding',
  atob: 'encoding',
  btoa: 'encoding',
  URL: 'url',
  URLSearchParams: 'url',
  Headers: 'fetch',
  Request: 'fetch',
  Response: 'fetch',
  fetch: 'fetch',
  crypto: 'crypto',
  Crypto: 'crypto',
  SubtleCrypto: 'crypto',
  CryptoKey: 'crypto',
  structuredClone: 'clone',
  performance: '',
  navigator: '',
  ReadableStream: 'streams',
  ReadableStreamDefaultReader: 'streams',
  ReadableStreamBYOBReader: 'streams',
  ReadableStreamBYOBRequest: 'streams',
  ReadableByteStreamController: 'streams',
  ReadableStreamDefaultController: 'streams',
  TransformStream: 'streams',
  TransformStreamDefaultController: 'streams',
  WritableStream: 'streams',
  WritableStreamDefaultWriter: 'streams',
  WritableStreamDefaultController: 'streams',
  ByteLengthQueuingStrategy: 'streams',
  CountQueuingStrategy: 'streams',
  TextEncoderStream: 'streams',
  TextDecoderStream: 'streams',
  Blob: 'blob',
  File: 'blob',
  FormData: 'blob',
  URLPattern: 'urlpattern',
  CompressionStream: 'compression',
  DecompressionStream: 'compression',
  Intl: 'intl',
}
const NAMES = keys(GLOBALS)

function define(name, value) {
  defineProperty(globalThis, name, { value, writable: true, configurable: true, enumerable: false })
}

// ---- the registry (shared.js is its face inside the chunks) -------------------------------

const loaded = { __proto__: null } // chunk name -> its exports (frozen, null prototype)
const accessors = { __proto__: null } // global name -> its lazy accessor while it has one
const internalSymbols = new Set()
const platformProtos = new Set()

/** The exports of chunk `name`, evaluating it on first use. */
function load(name) {
  let exports = loaded[name]
  if (exports) return exports
  native.chunk(name)(shared) // the chunk calls provide() at its end
  exports = loaded[name]
  if (!exports) throw new Error(`prelude chunk ${name} provided nothing`)
  // Its globals become plain values, except the ones guest code replaced or deleted.
  for (let i = 0; i < NAMES.length; i++) {
    const global = NAMES[i]
    if (GLOBALS[global] !== name) continue
    const value = exports[global]
    // Minification renames functions: a global function gets its global's name back.
    if (typeof value === 'function') defineProperty(value, 'name', { value: global, configurable: true })
    const d = getOwnPropertyDescriptor(globalThis, global)
    if (d && hasOwn(d, 'get') && d.get === accessors[global]) define(global, value)
    delete accessors[global]
  }
  return exports
}

function provide(name, exports) {
  if (loaded[name]) throw new Error(`prelude chunk ${name} is already loaded`)
  const own = { __proto__: null }
  const list = keys(exports)
  for (let i = 0; i < list.length; i++) own[list[i]] = exports[list[i]]
  loaded[name] = freeze(own)
}

/** Where `performance.now()` counts from, on native.now()'s clock. */
const start = native.now()

const shared = freeze({
  __proto__: null,
  native,
  load,
  provide,
  /** The exports of chunk `name` if it is loaded, else undefined. */
  peek: (name) => loaded[name],
  /** A symbol for internal state; console's inspector skips these keys. */
  internal(name) {
    const s = Symbol(name)
    internalSymbols.add(s)
    return s
  },
  isInternalSymbol: (s) => internalSymbols.has(s),
  /** Marks a prototype as a platform class's: structuredClone refuses its instances. */
  markPlatform(proto) {
    platformProtos.add(proto)
  },
  isPlatformObject(value) {
    for (let p = getPrototypeOf(value); p; p = getPrototypeOf(p)) if (platformProtos.has(p)) return true
    return false
  },
  // Intrinsics the chunks use as they were before any guest code ran.
  then: Promise.prototype.then,
  resolved: Promise.resolve(),
  toWellFormed: String.prototype.toWellFormed,
  objectToString: Object.prototype.toString,
  fnToString: Function.prototype.toString,
  /** performance.now()'s zero on native.now()'s clock (Event#timeStamp counts from it too). */
  timeOrigin: start,
})

// ---- the globals -------------------------------------------------------------------------

// Under fnbox/testing's manual clock, `Date.now()` and `new Date()` read that clock (QuickJS's own
// read the system's): the same constructor and prototype, only "now" differs.
if (native.wallClock() === native.wallClock()) {
  const SystemDate = Date
  const { construct } = Reflect
  const wallClock = native.wallClock
  const ManualDate = function Date(...args) {
    if (new.target === undefined) return new SystemDate(wallClock()).toString()
    return construct(SystemDate, args.length === 0 ? [wallClock()] : args, new.target)
  }
  defineProperty(ManualDate, 'length', { value: 7 })
  for (const key of ['prototype', 'parse', 'UTC']) {
    defineProperty(ManualDate, key, getOwnPropertyDescriptor(SystemDate, key))
  }
  const now = () => wallClock()
  defineProperty(ManualDate, 'now', { value: now, writable: true, configurable: true })
  defineProperty(SystemDate.prototype, 'constructor', { value: ManualDate, writable: true, configurable: true })
  defineProperty(globalThis, 'Date', { value: ManualDate, writable: true, configurable: true })
}

const timeOrigin = Date.now()
const EAGER = {
  self: globalThis,
  performance: {
    timeOrigin,
    now: () => native.now() - start,
    toJSON: () => ({ timeOrigin }),
  },
  navigator: { userAgent: 'fnbox' },
}

/**
 * A lazy global: one function is both getter and setter. Reading loads the chunk (which turns the
 * global into a data property); assigning first just defines the data property.
 */
function defineLazy(name) {
  const accessor = (...value) => {
    if (value.length === 0) return load(GLOBALS[name])[name]
    delete accessors[name]
    define(name, value[0])
  }
  accessors[name] = accessor
  defineProperty(globalThis, name, { get: accessor, set: accessor, configurable: true, enumerable: false })
}

for (let i = 0; i < NAMES.length; i++) {
  const name = NAMES[i]
  if (GLOBALS[name]) defineLazy(name)
  else define(name, EAGER[name])
}

// The locale-sensitive methods of the built-ins. QuickJS's own ignore their locales and options
// (its `(1234567.5).toLocaleString('en-US')` is '1234567.5'); these run the intl chunk's, which
// the host's ICU serves, loading the chunk on first call. [prototype, name, chunk export, length]
const LOCALE_METHODS = [
  [Number.prototype, 'toLocaleString', 'numberToLocaleString', 0],
  [BigInt.prototype, 'toLocaleString', 'bigintToLocaleString', 0],
  [Date.prototype, 'toLocaleString', 'dateToLocaleString', 0],
  [Date.prototype, 'toLocaleDateString', 'dateToLocaleDateString', 0],
  [Date.prototype, 'toLocaleTimeString', 'dateToLocaleTimeString', 0],
  [String.prototype, 'localeCompare', 'localeCompare', 1],
  [String.prototype, 'toLocaleUpperCase', 'toLocaleUpperCase', 0],
  [String.prototype, 'toLocaleLowerCase', 'toLocaleLowerCase', 0],
  [Array.prototype, 'toLocaleString', 'arrayToLocaleString', 0],
]
for (let i = 0; i < LOCALE_METHODS.length; i++) {
  const [proto, name, impl, length] = LOCALE_METHODS[i]
  const method = {
    [name](...args) {
      return apply(load('intl')[impl], this, args)
    },
  }[name]
  defineProperty(method, 'length', { value: length, configurable: true })
  defineProperty(proto, name, { value: method, writable: true, enumerable: false, configurable: true })
}

// ---- the GuestEntry (see bridge-types.ts) -------------------------------------------------

let ns = null

const isArray = Array.isArray
const OBJECT_PROTO = Object.prototype
const IDENTIFIER = /^[A-Za-z_$][\w$]*$/
const VOWEL = /^[AEIOU]/

// What JSON cannot carry in a call's result, with its path (`result.items[2]: a function`), as
// the host checks arguments (runtime/json-args.ts): JSON.stringify would turn a function, NaN or
// an undefined element into null and a Map into {}, and throws on a BigInt or a cycle naming
// neither. Values with a toJSON (Dates) are JSON's own business.
function jsonProblem(value, path, parents) {
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return undefined
    case 'number':
      return value - value === 0 ? undefined : { path, what: String(value) }
    case 'bigint':
      return { path, what: 'BigInt' }
    case 'undefined':
      return { path, what: 'undefined (use null)' }
    case 'function':
      return { path, what: 'a function' }
    case 'symbol':
      return { path, what: 'a Symbol' }
  }
  if (value === null) return undefined
  for (let i = 0; i < parents.length; i++) {
    if (parents[i] === value) return { path, what: 'a cycle (the value contains itself)' }
  }
  if (typeof value.toJSON === 'function') return undefined
  parents[parents.length] = value
  let found
  if (isArray(value)) {
    for (let i = 0; i < value.length && !found; i++) found = jsonProblem(value[i], `${path}[${i}]`, parents)
  } else {
    const proto = getPrototypeOf(value)
    if (proto !== OBJECT_PROTO && proto !== null) {
      const ctor = value.constructor
      const named = ctor && typeof ctor.name === 'string' && ctor.name
      const name = named ? `${VOWEL.test(named) ? 'an' : 'a'} ${named}` : 'a class instance'
      found = { path, what: `${name} (not a plain object)` }
    } else {
      const names = keys(value)
      for (let i = 0; i < names.length && !found; i++) {
        const item = value[names[i]]
        // An undefined property is an absent one, as JSON has it.
        if (item === undefined) continue
        const key = names[i]
        found = jsonProblem(item, IDENTIFIER.test(key) ? `${path}.${key}` : `${path}[${JSON.stringify(key)}]`, parents)
      }
    }
  }
  parents.length--
  return found
}

// Set by `suspectValue` while JSON.stringify walks a result: something in it may be what JSON
// cannot carry (it sees values after their toJSON, so it flags more than jsonProblem would, and
// misses only a function or BigInt with a toJSON, which is JSON's business as a Date's is).
let suspect = false

/** JSON.stringify's replacer for a result: passes every value on unchanged, flags the suspect. */
function suspectValue(key, value) {
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return value
    case 'number':
      if (value - value !== 0) suspect = true
      return value
    case 'object': {
      if (value === null || isArray(value)) return value
      const proto = getPrototypeOf(value)
      if (proto !== OBJECT_PROTO && proto !== null) suspect = true
      return value
    }
    case 'undefined':
      // An undefined property is an absent one, as JSON has it; an undefined element is not.
      if (isArray(this)) suspect = true
      return value
  }
  suspect = true // a function, a Symbol, a BigInt
  return value
}

/**
 * A call's result as JSON (`undefined` for none); refused, naming the path, when JSON cannot carry
 * it. One walk: JSON.stringify's own, with a replacer that flags what may be a problem; only then
 * is the result walked again to find and name it (or found fine: a toJSON made it JSON).
 */
function resultJson(result) {
  if (result === undefined) return undefined
  suspect = false
  let json
  try {
    json = JSON.stringify(result, suspectValue)
  } catch {
    suspect = true // a cycle, a BigInt, a throwing getter or toJSON: told (or thrown) below
  }
  if (!suspect) return json
  const problem = jsonProblem(result, 'result', [])
  if (problem) {
    // Named for the host (guestError), which reads the path and the problem from the message.
    const err = new TypeError(JSON.stringify(problem))
    defineProperty(err, 'name', { value: 'FnboxResultNotJson' })
    throw err
  }
  return JSON.stringify(result)
}

async function settleJson(thenable) {
  return resultJson(await thenable)
}

const entry = {
  setModule(namespace) {
    ns = namespace
  },

  async fetch(metaJson, body) {
    return load('fetch').serve(ns, metaJson, body)
  },

  // Plain JSON in and out: needs no chunk. A plain result returns at once (no promise, so the
  // host need not run the job queue); a thenable is awaited.
  call(exportName, argsJson) {
    const args = JSON.parse(argsJson)
    if (!Array.isArray(args)) throw new TypeError('call arguments must be a JSON array')
    const fn = ns ? ns[exportName] : undefined
    if (typeof fn !== 'function') {
      // Named for the host (guestError), which answers ERR_NOT_FOUND: a caller's mistake, not a failure.
      const found = ns ? keys(ns).filter((k) => typeof ns[k] === 'function') : []
      const listed = found.length > 0 ? found.join(', ') : 'none'
      const err = new TypeError(`the function has no export named ${exportName} (its function exports: ${listed})`)
      defineProperty(err, 'name', { value: 'FnboxExportNotFound' })
      throw err
    }
    const result = fn(...args)
    if (result !== null && (typeof result === 'object' || typeof result === 'function')) {
      if (typeof result.then === 'function') return settleJson(result)
    }
    return resultJson(result)
  },

  // Nothing to do for a chunk not loaded yet: no timer or request of it exists.
  fireTimer(id) {
    const timers = loaded.timers
    if (timers) timers.fireTimer(id)
  },

  abort(reason) {
    const fetch = loaded.fetch
    if (fetch) fetch.abort(reason)
  },
}

// What `import ... from 'fnbox:host'` reads (the module the host's loader serves re-exports it).
// Guest-safe by construction: it is exactly the SDK guests import.
defineProperty(globalThis, Symbol.for('fnbox.host'), { get: () => load('host').host, enumerable: false })

define('__fnbox_entry', entry)
