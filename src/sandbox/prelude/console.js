// console (captured by the host through native.log) and a compact, cycle-safe util.inspect.
import { native, shared } from './shared.js'
import { inspectSymbol, isInternalSymbol } from './util.js'

const objectToString = shared.objectToString
const fnToString = shared.fnToString
const BUILTIN_PROTOS = [
  Object.prototype,
  Array.prototype,
  Error.prototype,
  Date.prototype,
  RegExp.prototype,
  Function.prototype,
  Number.prototype,
  Boolean.prototype,
  String.prototype,
  Symbol.prototype,
  BigInt.prototype,
]
const MAX_ITEMS = 100
const IDENT = /^[A-Za-z_$][\w$]*$/

/** util.inspect, single-line: depth defaults to 2 like Node's. */
export function inspect(value, options) {
  const depth = options && options.depth !== undefined ? options.depth : 2
  return formatValue(value, { depth: depth === null ? Infinity : depth, seen: [], refs: new Map() }, 0)
}

function quote(s) {
  const q = !s.includes("'") ? "'" : !s.includes('"') ? '"' : !s.includes('`') ? '`' : "'"
  let out = ''
  for (const ch of s) {
    const c = ch.charCodeAt(0)
    if (ch === q || ch === '\\') out += '\\' + ch
    else if (ch === '\n') out += '\\n'
    else if (ch === '\t') out += '\\t'
    else if (ch === '\r') out += '\\r'
    else if (c < 0x20 || c === 0x7f) out += '\\x' + c.toString(16).padStart(2, '0').toUpperCase()
    else out += ch
  }
  return q + out + q
}

function formatKey(key) {
  if (typeof key === 'symbol') return `[${key.toString()}]`
  return IDENT.test(key) ? key : quote(key)
}

function formatNumber(n) {
  return Object.is(n, -0) ? '-0' : String(n)
}

function formatPrimitive(v) {
  switch (typeof v) {
    case 'string':
      return quote(v)
    case 'number':
      return formatNumber(v)
    case 'bigint':
      return `${v}n`
    case 'symbol':
      return v.toString()
    default:
      return String(v)
  }
}

function functionLabel(fn) {
  let source = ''
  try {
    source = fnToString.call(fn)
  } catch {}
  const name = fn.name ? String(fn.name) : ''
  if (source.startsWith('class')) return name ? `[class ${name}]` : '[class (anonymous)]'
  const kind = objectToString.call(fn).slice(8, -1) // Function, AsyncFunction, GeneratorFunction, ...
  return name ? `[${kind}: ${name}]` : `[${kind} (anonymous)]`
}

function errorHeader(err) {
  let name = 'Error'
  let message = ''
  try {
    name = String(err.name)
    message = String(err.message)
  } catch {}
  return message ? `${name}: ${message}` : name
}

function formatError(err, ctx, level) {
  const header = errorHeader(err)
  let stack = ''
  try {
    stack = typeof err.stack === 'string' ? err.stack : ''
  } catch {}
  // QuickJS stacks hold only the frames; Node's start with "Name: message".
  let out = stack.startsWith(header) ? stack : stack ? `${header}\n${stack}` : `[${header}]`
  out = out.replace(/\n+$/, '')
  if (level > 0 && stack) out = `[${header}]`
  const extras = []
  for (const key of Object.keys(err)) {
    if (key === 'stack' || key === 'message') continue
    extras.push(`${formatKey(key)}: ${formatValue(err[key], ctx, level + 1)}`)
  }
  if (Object.prototype.hasOwnProperty.call(err, 'cause'))
    extras.push(`[cause]: ${formatValue(err.cause, ctx, level + 1)}`)
  return extras.length ? `${out} { ${extras.join(', ')} }` : out
}

function ownEntries(obj, ctx, level, skipIndices) {
  const out = []
  const keys = Object.keys(obj)
  for (const key of keys) {
    if (skipIndices && /^(0|[1-9]\d*)$/.test(key)) continue
    out.push(`${formatKey(key)}: ${formatProperty(obj, key, ctx, level)}`)
  }
  for (const sym of Object.getOwnPropertySymbols(obj)) {
    if (isInternalSymbol(sym)) continue
    const d = Object.getOwnPropertyDescriptor(obj, sym)
    if (d && d.enumerable) out.push(`${formatKey(sym)}: ${formatProperty(obj, sym, ctx, level)}`)
  }
  return out
}

function formatProperty(obj, key, ctx, level) {
  const d = Object.getOwnPropertyDescriptor(obj, key)
  if (d && (d.get || d.set)) return d.get && d.set ? '[Getter/Setter]' : d.get ? '[Getter]' : '[Setter]'
  return formatValue(d ? d.value : obj[key], ctx, level + 1)
}

function braces(prefix, items, open = '{', close = '}') {
  if (items.length === 0) return prefix ? `${prefix} ${open}${close}` : `${open}${close}`
  return `${prefix ? prefix + ' ' : ''}${open} ${items.join(', ')} ${close}`
}

function emptyItems(n) {
  return `<${n} empty item${n > 1 ? 's' : ''}>`
}

function constructorName(obj) {
  let proto = Object.getPrototypeOf(obj)
  if (proto === null) return null
  while (proto) {
    const d = Object.getOwnPropertyDescriptor(proto, 'constructor')
    if (d && typeof d.value === 'function' && d.value.name) return d.value.name
    proto = Object.getPrototypeOf(proto)
  }
  return ''
}

function formatValue(v, ctx, level) {
  if (typeof v !== 'object' || v === null) {
    if (typeof v !== 'function') return formatPrimitive(v)
  }
  if (typeof v[inspectSymbol] === 'function') {
    try {
      const custom = v[inspectSymbol](ctx.depth - level, { depth: ctx.depth - level }, inspect)
      if (custom !== v) return typeof custom === 'string' ? custom : formatValue(custom, ctx, level)
    } catch {}
  }
  if (ctx.seen.includes(v)) {
    let ref = ctx.refs.get(v)
    if (!ref) ctx.refs.set(v, (ref = ctx.refs.size + 1))
    return `[Circular *${ref}]`
  }
  ctx.seen.push(v)
  let out
  try {
    out = formatObject(v, ctx, level)
  } finally {
    ctx.seen.pop()
  }
  const ref = ctx.refs.get(v)
  return ref ? `<ref *${ref}> ${out}` : out
}

function formatObject(v, ctx, level) {
  if (typeof v === 'function') {
    const label = functionLabel(v)
    const props = level > ctx.depth ? [] : ownEntries(v, ctx, level, false)
    return props.length ? braces(label, props) : label
  }
  if (v instanceof Error) return formatError(v, ctx, level)
  if (v instanceof Date) return isNaN(v.getTime()) ? 'Invalid Date' : v.toISOString()
  if (v instanceof RegExp) return String(v)
  if (v instanceof Promise) return 'Promise { <unknown> }'
  if (v instanceof WeakMap || v instanceof WeakSet) return `${constructorName(v)} { <items unknown> }`
  if (
    v instanceof Number ||
    v instanceof String ||
    v instanceof Boolean ||
    v instanceof BigInt ||
    v instanceof Symbol
  ) {
    const kind =
      v instanceof Number
        ? 'Number'
        : v instanceof String
          ? 'String'
          : v instanceof Boolean
            ? 'Boolean'
            : v instanceof BigInt
              ? 'BigInt'
              : 'Symbol'
    return `[${kind}: ${formatPrimitive(v.valueOf())}]`
  }
  const name = constructorName(v)
  const deep = level > ctx.depth
  if (Array.isArray(v)) {
    if (deep) return '[Array]'
    const items = []
    let holes = 0
    const n = Math.min(v.length, MAX_ITEMS)
    for (let i = 0; i < n; i++) {
      if (!(i in v)) {
        holes++
        continue
      }
      if (holes) items.push(emptyItems(holes))
      holes = 0
      items.push(formatProperty(v, String(i), ctx, level))
    }
    if (holes) items.push(emptyItems(holes))
    if (v.length > n) items.push(`... ${v.length - n} more item${v.length - n > 1 ? 's' : ''}`)
    items.push(...ownEntries(v, ctx, level, true))
    return braces(name === 'Array' ? '' : `${name}(${v.length})`, items, '[', ']')
  }
  if (ArrayBuffer.isView(v) && !(v instanceof DataView)) {
    const prefix = `${name}(${v.length})`
    if (deep) return `[${name}]`
    const items = []
    const n = Math.min(v.length, MAX_ITEMS)
    for (let i = 0; i < n; i++) items.push(typeof v[i] === 'bigint' ? `${v[i]}n` : formatNumber(v[i]))
    if (v.length > n) items.push(`... ${v.length - n} more item${v.length - n > 1 ? 's' : ''}`)
    return braces(prefix, items, '[', ']')
  }
  if (v instanceof ArrayBuffer) {
    const bytes = new Uint8Array(v, 0, Math.min(v.byteLength, 50))
    let hex = Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join(' ')
    if (v.byteLength > 50) hex += ` ... ${v.byteLength - 50} more byte${v.byteLength - 50 > 1 ? 's' : ''}`
    return `ArrayBuffer { [Uint8Contents]: <${hex}>, byteLength: ${v.byteLength} }`
  }
  if (v instanceof DataView) return `DataView { byteLength: ${v.byteLength}, byteOffset: ${v.byteOffset} }`
  if (v instanceof Map) {
    if (deep) return '[Map]'
    const items = []
    for (const [k, val] of v) {
      if (items.length >= MAX_ITEMS) break
      items.push(`${formatValue(k, ctx, level + 1)} => ${formatValue(val, ctx, level + 1)}`)
    }
    return braces(`Map(${v.size})`, items)
  }
  if (v instanceof Set) {
    if (deep) return '[Set]'
    const items = []
    for (const val of v) {
      if (items.length >= MAX_ITEMS) break
      items.push(formatValue(val, ctx, level + 1))
    }
    return braces(`Set(${v.size})`, items)
  }
  const prefix = name === null ? '[Object: null prototype]' : name === 'Object' ? '' : name
  if (deep) return `[${prefix || 'Object'}]`
  return braces(prefix, ownEntries(v, ctx, level, false))
}

/** True when `%s` should print String(v): the object has a toString of its own making. */
function hasUserToString(v) {
  let proto = v
  while (proto) {
    if (Object.prototype.hasOwnProperty.call(proto, 'toString')) return !BUILTIN_PROTOS.includes(proto)
    proto = Object.getPrototypeOf(proto)
  }
  return false
}

/** util.format: printf-like placeholders, then the remaining arguments joined by spaces. */
export function format(args) {
  const first = args[0]
  let out = ''
  let a = 0
  if (typeof first === 'string') {
    if (args.length === 1) return first
    a = 1
    let last = 0
    for (let i = 0; i < first.length - 1; i++) {
      if (first.charCodeAt(i) !== 37) continue // '%'
      const c = first[i + 1]
      if (c === '%') {
        out += first.slice(last, i) + '%'
        last = i + 2
        i++
        continue
      }
      if (a >= args.length || !'sdifjoOc'.includes(c)) continue
      const arg = args[a++]
      let rep
      switch (c) {
        case 's':
          if (typeof arg === 'number') rep = formatNumber(arg)
          else if (typeof arg === 'bigint') rep = `${arg}n`
          else if (typeof arg === 'symbol') rep = arg.toString()
          else if (typeof arg !== 'object' || arg === null || hasUserToString(arg)) rep = String(arg)
          else rep = inspect(arg, { depth: 0 })
          break
        case 'd':
          rep = typeof arg === 'bigint' ? `${arg}n` : typeof arg === 'symbol' ? 'NaN' : formatNumber(Number(arg))
          break
        case 'i':
          rep = typeof arg === 'bigint' ? `${arg}n` : typeof arg === 'symbol' ? 'NaN' : formatNumber(parseInt(arg))
          break
        case 'f':
          rep = typeof arg === 'symbol' ? 'NaN' : formatNumber(parseFloat(arg))
          break
        case 'j':
          try {
            rep = JSON.stringify(arg)
          } catch {
            rep = '[Circular]'
          }
          break
        case 'o':
          rep = inspect(arg, { depth: 4 })
          break
        case 'O':
          rep = inspect(arg)
          break
        case 'c':
          rep = ''
          break
      }
      out += first.slice(last, i) + rep
      last = i + 2
      i++
    }
    out += first.slice(last)
  }
  for (; a < args.length; a++) {
    const arg = args[a]
    out += (a > 0 ? ' ' : '') + (typeof arg === 'string' ? arg : inspect(arg))
  }
  return out
}

let indent = ''
const counts = new Map()
const timers = new Map()

function emit(level, text, structure) {
  if (indent) text = indent + text.replace(/\n/g, '\n' + indent)
  // The fields' JSON follows U+001E (observability/logs.ts takes the line apart).
  if (structure) text += '\u001e' + structure
  // Strings cross to the host NUL-terminated.
  native.log(level, text.includes('\0') ? text.replace(/\0/g, '\\u0000') : text)
}

/** An object literal: its fields are what JSON can carry (checked by `plainJson`). */
function isPlainObject(v) {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return false
  return Object.getPrototypeOf(v) === Object.prototype && Object.getOwnPropertySymbols(v).length === 0
}

/** JSON of values made of object literals, arrays and primitives only; throws on anything else. */
function plainJson(value) {
  return JSON.stringify(value, (_key, v) => {
    if (typeof v === 'function' || typeof v === 'bigint' || typeof v === 'symbol') throw new TypeError('not JSON')
    if (typeof v === 'object' && v !== null && !Array.isArray(v) && !isPlainObject(v)) {
      throw new TypeError('not JSON')
    }
    return v
  })
}

/**
 * console.log and friends keep their arguments' structure: plain objects become the line's
 * `fields` (merged, later wins), the first Error its `err` (type, message, stack), the rest its
 * text. A format string (`'%s'`) keeps the line as util.format makes it.
 */
function structured(level, args) {
  if (typeof args[0] === 'string' && args[0].includes('%')) return emit(level, format(args))
  let fields
  let err
  const rest = []
  for (const arg of args) {
    if (isPlainObject(arg)) fields = Object.assign(fields || {}, arg)
    else if (err === undefined && arg instanceof Error) err = arg
    else rest.push(arg)
  }
  if (fields === undefined && err === undefined) return emit(level, format(args))
  let structure
  try {
    const e = err && { type: String(err.name || 'Error'), message: String(err.message), stack: String(err.stack || '') }
    structure = plainJson({ f: fields, e })
  } catch {
    return emit(level, format(args)) // cycles, Maps, class instances: as util.format prints them
  }
  let text = rest.length ? format(rest) : ''
  if (!text && err) text = `${err.name || 'Error'}: ${err.message}`
  emit(level, text, structure)
}

/** Reports an error nobody caught (timer callbacks, listeners, waitUntil) as console.error. */
export function reportError(err) {
  emit('error', 'Uncaught ' + (typeof err === 'string' ? err : inspect(err)))
}

function now() {
  return native.now()
}

export const console = {
  log: (...args) => structured('log', args),
  info: (...args) => structured('info', args),
  debug: (...args) => structured('debug', args),
  warn: (...args) => structured('warn', args),
  error: (...args) => structured('error', args),
  trace: (...args) => {
    const stack = (new Error().stack || '').split('\n').slice(1).join('\n').replace(/\n+$/, '')
    emit('log', `Trace${args.length ? ': ' + format(args) : ''}${stack ? '\n' + stack : ''}`)
  },
  dir: (value, options) => emit('log', inspect(value, options)),
  dirxml: (...args) => emit('log', format(args)),
  table: (...args) => emit('log', format(args)),
  assert: (condition, ...args) => {
    if (!condition) emit('error', args.length ? `Assertion failed: ${format(args)}` : 'Assertion failed')
  },
  count: (label = 'default') => {
    const key = String(label)
    const n = (counts.get(key) || 0) + 1
    counts.set(key, n)
    emit('info', `${key}: ${n}`)
  },
  countReset: (label = 'default') => {
    counts.delete(String(label))
  },
  group: (...args) => {
    if (args.length) emit('log', format(args))
    indent += '  '
  },
  groupCollapsed: (...args) => console.group(...args),
  groupEnd: () => {
    indent = indent.slice(2)
  },
  time: (label = 'default') => {
    timers.set(String(label), now())
  },
  timeLog: (label = 'default', ...args) => {
    const start = timers.get(String(label))
    if (start === undefined) return emit('warn', `No such label '${label}' for console.timeLog()`)
    emit('info', `${label}: ${(now() - start).toFixed(3)}ms${args.length ? ' ' + format(args) : ''}`)
  },
  timeEnd: (label = 'default') => {
    const start = timers.get(String(label))
    if (start === undefined) return emit('warn', `No such label '${label}' for console.timeEnd()`)
    timers.delete(String(label))
    emit('info', `${label}: ${(now() - start).toFixed(3)}ms`)
  },
}
