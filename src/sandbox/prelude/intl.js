// Intl (ECMA-402) for the guest, served by the host's ICU (Node's Intl, see src/sandbox/intl.ts):
// DateTimeFormat, NumberFormat, Collator, PluralRules, RelativeTimeFormat, ListFormat, Segmenter,
// DisplayNames, Locale, getCanonicalLocales and supportedValuesOf, and the locale-sensitive methods
// of Number, BigInt, Date, String and Array (the prelude core routes them here).
//
// Why the host: QuickJS has no Intl, and an implementation in the guest (formatjs' polyfills)
// would parse hundreds of KB of code and CLDR data per locale in the interpreter, and still need
// the IANA time zone database. Here an Intl object holds only data: its locales and options as
// JSON (its "spec", the key of the host's cache of real Intl objects) and its resolved options;
// each call sends its arguments as JSON and gets a string or JSON back. Nothing of the host
// reaches the guest but those strings.
//
// Everything guest code can observe happens here, in the guest: options are read once each, in
// the standard's order, and converted (ToString, ToNumber, ToBoolean) before anything crosses, so
// getters and conversions run guest code and throw the guest's own errors. The host then applies
// the standard's checks (RangeError for an unknown locale, time zone or option value).
//
// Defaults: the locale is en-US and the time zone UTC (the guest's Date is UTC too), whatever
// the host's environment says: a function formats the same on every machine.
import { native } from './shared.js'

const { defineProperty } = Object

// ---- crossing to the host ---------------------------------------------------------------------

/** A value as JSON can carry it: undefined, non-finite numbers, -0 and BigInts tagged. */
function enc(v) {
  if (v === undefined) return { $u: 1 }
  if (typeof v === 'number') {
    if (Object.is(v, -0)) return { $num: '-0' }
    return Number.isFinite(v) ? v : { $num: String(v) }
  }
  if (typeof v === 'bigint') return { $big: String(v) }
  if (Array.isArray(v)) return v.map(enc)
  if (typeof v === 'object' && v !== null) {
    const out = {}
    for (const k of Object.keys(v)) out[k] = enc(v[k])
    return out
  }
  return v
}

/** Calls the host: `kind` (an Intl constructor's name), the object's spec, the method, its arguments. */
function host(kind, spec, op, args) {
  return native.intl(kind, spec, op, JSON.stringify(enc(args)))
}

const hostJson = (kind, spec, op, args) => JSON.parse(host(kind, spec, op, args))

// ---- argument conversions, as the standard reads them ------------------------------------------

const isObject = (v) => (typeof v === 'object' && v !== null) || typeof v === 'function'

/** ToString, which throws for symbols (String(symbol) does not). */
const toString = (v) => `${v}`
/** ToNumber, which throws for BigInts and symbols (Number(bigint) does not). */
const toNumber = (v) => +v

const CONVERT = {
  s: toString,
  n: toNumber,
  b: (v) => !!v,
  // useGrouping: true, false, or one of its strings (GetBooleanOrStringNumberFormatOption).
  sb: (v) => (v === true ? true : !v ? false : toString(v)),
}

/**
 * The options of `table` (`[name, type]` in the order Node's V8 reads them, which is the
 * standard's but for details), each read once and converted here; a `stop` entry ends the reading
 * when that option is undefined (the constructor throws there). Undefined stays undefined; null
 * and other primitives go to the host as they are, which throws or coerces as the standard says
 * for that constructor. `extra` holds values read already (DateTimeFormat's defaults).
 */
function readOptions(options, table, extra) {
  if (!isObject(options)) return extra && options === undefined ? { ...extra } : options
  const out = {}
  for (let i = 0; i < table.length; i++) {
    const [name, type, stop] = table[i]
    const v = extra && name in extra ? extra[name] : options[name]
    if (v !== undefined) out[name] = CONVERT[type](v)
    else if (stop) break
  }
  return out
}

/**
 * ToDateTimeOptions (ECMA-402 before 2024; V8 still runs it): reads which date and time fields
 * are asked for (getters run here, and again in the main reading, as in V8), refuses a style the
 * method cannot show, and gives the `defaults` fields when none is. Returns those defaults.
 */
function dateTimeDefaults(options, required, defaults) {
  if (options === null) throw new TypeError('Cannot convert undefined or null to object')
  const o = options === undefined ? {} : Object(options)
  let needDefaults = true
  if (required === 'date' || required === 'any') {
    for (const f of ['weekday', 'year', 'month', 'day']) if (o[f] !== undefined) needDefaults = false
  }
  if (required === 'time' || required === 'any') {
    for (const f of ['dayPeriod', 'hour', 'minute', 'second', 'fractionalSecondDigits'])
      if (o[f] !== undefined) needDefaults = false
  }
  const dateStyle = o.dateStyle
  const timeStyle = o.timeStyle
  if (dateStyle !== undefined || timeStyle !== undefined) needDefaults = false
  if (required === 'date' && timeStyle !== undefined) throw new TypeError('Invalid option : timeStyle')
  if (required === 'time' && dateStyle !== undefined) throw new TypeError('Invalid option : dateStyle')
  const extra = {}
  if (needDefaults && (defaults === 'date' || defaults === 'all')) extra.year = extra.month = extra.day = 'numeric'
  if (needDefaults && (defaults === 'time' || defaults === 'all')) extra.hour = extra.minute = extra.second = 'numeric'
  return extra
}

// Internal state, by object: guest code cannot read or copy it.
const localeStates = new WeakMap()

/** CanonicalizeLocaleList's reading of `locales`: strings (tags checked by the host), in order. */
function localeList(locales) {
  if (locales === undefined) return undefined
  if (typeof locales === 'string') return [locales]
  if (localeStates.has(locales)) return [localeStates.get(locales).tag]
  if (locales === null) throw new TypeError('Cannot convert undefined or null to object')
  const o = Object(locales)
  const len = Math.min(Math.max(Math.trunc(toNumber(o.length)) || 0, 0), Number.MAX_SAFE_INTEGER)
  const out = []
  for (let k = 0; k < len; k++) {
    if (!(k in o)) continue
    const v = o[k]
    if (typeof v !== 'string' && !isObject(v)) throw new TypeError('Language ID should be string or object.')
    out.push(localeStates.has(v) ? localeStates.get(v).tag : toString(v))
  }
  return out
}

const spec = (locales, options, table, extra) => {
  const list = localeList(locales)
  return JSON.stringify(enc([list, readOptions(options, table, extra)]))
}

/** A DateTimeFormat's spec: the constructor's defaults (`any`, `date`) or a Date method's. */
function dateSpec(locales, options, required, defaults) {
  const list = localeList(locales)
  const extra = dateTimeDefaults(options, required, defaults)
  return JSON.stringify(enc([list, readOptions(options, TABLES.DateTimeFormat, extra)]))
}

// ---- the option tables ----------------------------------------------------------------------

const DIGITS = [
  ['minimumIntegerDigits', 'n'],
  ['minimumFractionDigits', 'n'],
  ['maximumFractionDigits', 'n'],
  ['minimumSignificantDigits', 'n'],
  ['maximumSignificantDigits', 'n'],
  ['roundingPriority', 's'],
]
const TABLES = {
  DateTimeFormat: [
    ['localeMatcher', 's'],
    ['calendar', 's'],
    ['numberingSystem', 's'],
    ['hour12', 'b'],
    ['hourCycle', 's'],
    ['timeZone', 's'],
    ['weekday', 's'],
    ['era', 's'],
    ['year', 's'],
    ['month', 's'],
    ['day', 's'],
    ['dayPeriod', 's'],
    ['hour', 's'],
    ['minute', 's'],
    ['second', 's'],
    ['fractionalSecondDigits', 'n'],
    ['timeZoneName', 's'],
    ['formatMatcher', 's'],
    ['dateStyle', 's'],
    ['timeStyle', 's'],
  ],
  NumberFormat: [
    ['localeMatcher', 's'],
    ['numberingSystem', 's'],
    ['style', 's'],
    ['currency', 's'],
    ['currencyDisplay', 's'],
    ['currencySign', 's'],
    ['unit', 's'],
    ['unitDisplay', 's'],
    ['roundingIncrement', 'n'],
    ['notation', 's'],
    ...DIGITS,
    ['trailingZeroDisplay', 's'],
    ['compactDisplay', 's'],
    ['useGrouping', 'sb'],
    ['signDisplay', 's'],
    ['roundingMode', 's'],
  ],
  Collator: [
    ['usage', 's'],
    ['localeMatcher', 's'],
    ['collation', 's'],
    ['numeric', 'b'],
    ['caseFirst', 's'],
    ['sensitivity', 's'],
    ['ignorePunctuation', 'b'],
  ],
  PluralRules: [['localeMatcher', 's'], ['type', 's'], ...DIGITS],
  RelativeTimeFormat: [
    ['localeMatcher', 's'],
    ['numberingSystem', 's'],
    ['style', 's'],
    ['numeric', 's'],
  ],
  ListFormat: [
    ['localeMatcher', 's'],
    ['type', 's'],
    ['style', 's'],
  ],
  Segmenter: [
    ['localeMatcher', 's'],
    ['granularity', 's'],
  ],
  DisplayNames: [
    ['localeMatcher', 's'],
    ['style', 's'],
    ['type', 's', true],
    ['fallback', 's'],
    ['languageDisplay', 's'],
  ],
  Locale: [
    ['language', 's'],
    ['script', 's'],
    ['region', 's'],
    ['calendar', 's'],
    ['collation', 's'],
    ['hourCycle', 's'],
    ['caseFirst', 's'],
    ['numeric', 'b'],
    ['numberingSystem', 's'],
  ],
}
const MATCHER = [['localeMatcher', 's']]

// ---- the service constructors ------------------------------------------------------------------

const states = new WeakMap()

function state(obj, kind, method) {
  const s = states.get(obj)
  if (!s || s.kind !== kind) {
    throw new TypeError(`Method Intl.${kind}.prototype.${method} called on incompatible receiver ${describe(obj)}`)
  }
  return s
}

function describe(v) {
  try {
    return typeof v === 'string' ? v : isObject(v) ? '#<Object>' : String(v)
  } catch {
    return typeof v
  }
}

/** Makes `obj` an Intl object of `kind`: the host checks the options and resolves them. */
function initialize(obj, kind, locales, options) {
  const s = kind === 'DateTimeFormat' ? dateSpec(locales, options, 'any', 'date') : spec(locales, options, TABLES[kind])
  const resolved = host(kind, s, 'new', [])
  states.set(obj, { kind, spec: s, resolved })
  return obj
}

const call = (obj, kind, method, args) => {
  const s = state(obj, kind, method)
  return host(kind, s.spec, method, args)
}
const callJson = (obj, kind, method, args) => JSON.parse(call(obj, kind, method, args))

/** `Intl.<kind>` and its prototype's `methods`; `callable`: may be called without `new`. */
function service(kind, methods, { callable = false, length = 0, getters = {} } = {}) {
  const ctor = function (locales, options) {
    if (new.target === undefined && !callable) {
      throw new TypeError(`Constructor Intl.${kind} requires 'new'`)
    }
    const obj = Object.create(new.target ? new.target.prototype : ctor.prototype)
    return initialize(obj, kind, locales, options)
  }
  defineProperty(ctor, 'name', { value: kind })
  defineProperty(ctor, 'length', { value: length })
  const proto = ctor.prototype
  const all = {
    resolvedOptions() {
      return JSON.parse(state(this, kind, 'resolvedOptions').resolved)
    },
    ...methods,
  }
  for (const name of Object.keys(all)) {
    defineProperty(all[name], 'name', { value: name })
    defineProperty(proto, name, { value: all[name], writable: true, enumerable: false, configurable: true })
  }
  for (const name of Object.keys(getters)) {
    const get = getters[name]
    defineProperty(get, 'name', { value: `get ${name}` })
    defineProperty(proto, name, { get, enumerable: false, configurable: true })
  }
  defineProperty(proto, Symbol.toStringTag, { value: `Intl.${kind}`, configurable: true })
  defineProperty(ctor, 'supportedLocalesOf', {
    value: function supportedLocalesOf(locales, options) {
      return hostJson('Intl', '', 'supportedLocalesOf', [kind, localeList(locales), readOptions(options, MATCHER)])
    },
    writable: true,
    configurable: true,
  })
  return ctor
}

/** An anonymous function calling `fn(obj, ...args)`, as the standard's bound functions are. */
function makeBound(fn, obj) {
  return {
    [''](...args) {
      return fn(obj, ...args)
    },
  }['']
}

/** A getter returning one bound function per object (format, compare). */
function bound(kind, name, fn) {
  return function () {
    const s = state(this, kind, name)
    if (!s.bound) {
      s.bound = makeBound(fn, this)
      defineProperty(s.bound, 'length', { value: fn.length - 1 })
    }
    return s.bound
  }
}

/** A date argument as the standard takes it: now when undefined, else its time value. */
const timeOf = (date) => (date === undefined ? Date.now() : toNumber(date))

/** ToIntlMathematicalValue's input: a BigInt or a string stays one; an object becomes a primitive. */
function numeric(x) {
  if (isObject(x)) x = typeof x.valueOf === 'function' ? x.valueOf() : toNumber(x)
  if (typeof x === 'bigint' || typeof x === 'string') return x
  return toNumber(x)
}

const ALNUM = /^[0-9A-Za-z]*$/

/**
 * The default collation (root, as en has it) of two ASCII letters-and-digits strings, answered
 * here: a sort makes thousands of comparisons, and each would cross to the host. Letters compare
 * ignoring case, after digits; then the first difference of case decides, lower case first.
 * Undefined for other strings.
 */
function compareAlnum(a, b) {
  if (!ALNUM.test(a) || !ALNUM.test(b)) return undefined
  const la = a.toLowerCase()
  const lb = b.toLowerCase()
  if (la !== lb) return la < lb ? -1 : 1
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return a[i] > b[i] ? -1 : 1
  return 0
}

/** Whether a Collator's resolved options are the default collation (compareAlnum applies). */
function isDefaultCollation(resolved) {
  const r = JSON.parse(resolved)
  return (
    (r.locale === 'en' || r.locale.startsWith('en-')) &&
    !r.locale.includes('-u-') &&
    r.usage === 'sort' &&
    r.sensitivity === 'variant' &&
    r.ignorePunctuation === false &&
    r.collation === 'default' &&
    r.numeric === false &&
    r.caseFirst === 'false'
  )
}

function compare(obj, a, b) {
  const s = state(obj, 'Collator', 'compare')
  const x = toString(a)
  const y = toString(b)
  s.fast ??= isDefaultCollation(s.resolved)
  return (s.fast ? compareAlnum(x, y) : undefined) ?? +host('Collator', s.spec, 'compare', [x, y])
}

function range(start, end, convert) {
  if (start === undefined || end === undefined) throw new TypeError('start or end is undefined')
  return [convert(start), convert(end)]
}

/**
 * DateTimeFormat or NumberFormat: `one` reads the value to format (a date's time value, a number),
 * `each` the ends of a range.
 */
function formatService(kind, one, each) {
  const format = (obj, value) => call(obj, kind, 'format', [one(value)])
  return service(
    kind,
    {
      formatToParts(value) {
        return callJson(this, kind, 'formatToParts', [one(value)])
      },
      formatRange(start, end) {
        return call(this, kind, 'formatRange', range(start, end, each))
      },
      formatRangeToParts(start, end) {
        return callJson(this, kind, 'formatRangeToParts', range(start, end, each))
      },
    },
    { callable: true, getters: { format: bound(kind, 'format', format) } },
  )
}

const DateTimeFormat = formatService('DateTimeFormat', timeOf, toNumber)
const NumberFormat = formatService('NumberFormat', numeric, numeric)

const Collator = service(
  'Collator',
  {},
  { callable: true, getters: { compare: bound('Collator', 'compare', compare) } },
)

const PluralRules = service('PluralRules', {
  select(n) {
    return call(this, 'PluralRules', 'select', [toNumber(n)])
  },
  selectRange(start, end) {
    return call(this, 'PluralRules', 'selectRange', range(start, end, toNumber))
  },
})

const RelativeTimeFormat = service('RelativeTimeFormat', {
  format(value, unit) {
    return call(this, 'RelativeTimeFormat', 'format', [toNumber(value), toString(unit)])
  },
  formatToParts(value, unit) {
    return callJson(this, 'RelativeTimeFormat', 'formatToParts', [toNumber(value), toString(unit)])
  },
})

/** StringListFromIterable: undefined is empty; every item must be a string. */
function stringList(list) {
  if (list === undefined) return []
  const out = []
  for (const item of list) {
    if (typeof item !== 'string') throw new TypeError(`Iterable yielded ${describe(item)} which is not a string`)
    out.push(item)
  }
  return out
}

const ListFormat = service('ListFormat', {
  format(list) {
    return call(this, 'ListFormat', 'format', [stringList(list)])
  },
  formatToParts(list) {
    return callJson(this, 'ListFormat', 'formatToParts', [stringList(list)])
  },
})

const DisplayNames = service(
  'DisplayNames',
  {
    of(code) {
      return callJson(this, 'DisplayNames', 'of', [toString(code)]) ?? undefined
    },
  },
  { length: 2 },
)

// ---- Segmenter: the host splits the whole string once; Segments and its iterator live here -----

const segmentsStates = new WeakMap()

// %Segments.prototype%: containing and @@iterator, no constructor.
const SegmentsProto = {}
const segmentsMethods = {
  containing(index) {
    const s = segmentsState(this, 'containing')
    const n = Math.trunc(toNumber(index)) || 0
    if (n < 0 || n >= s.input.length) return undefined
    const list = segmentList(s)
    let lo = 0
    let hi = list.length - 1
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1
      if (list[mid][1] <= n) lo = mid
      else hi = mid - 1
    }
    return segmentData(s, list[lo])
  },
  [Symbol.iterator]() {
    return makeSegmentIterator(segmentsState(this, '[Symbol.iterator]'))
  },
}
for (const key of [...Object.keys(segmentsMethods), Symbol.iterator]) {
  defineProperty(SegmentsProto, key, { value: segmentsMethods[key], writable: true, configurable: true })
}

function segmentsState(obj, method) {
  const s = segmentsStates.get(obj)
  if (!s) throw new TypeError(`Method %Segments.prototype%.${method} called on incompatible receiver ${describe(obj)}`)
  return s
}

function segmentList(s) {
  return (s.list ??= JSON.parse(host('Segmenter', s.spec, 'segment', [s.input])))
}

function segmentData(s, [segment, index, isWordLike]) {
  const data = { segment, index, input: s.input }
  if (s.word) data.isWordLike = isWordLike
  return data
}

const SegmentIterator = {
  next() {
    const it = segmentsStates.get(this)
    if (!it) throw new TypeError('Method %SegmentIterator.prototype%.next called on incompatible receiver')
    const list = segmentList(it.s)
    if (it.i >= list.length) return { value: undefined, done: true }
    return { value: segmentData(it.s, list[it.i++]), done: false }
  },
}
const SegmentIteratorProto = Object.create(Object.getPrototypeOf(Object.getPrototypeOf([][Symbol.iterator]())))
defineProperty(SegmentIteratorProto, 'next', { value: SegmentIterator.next, writable: true, configurable: true })
defineProperty(SegmentIteratorProto, Symbol.toStringTag, { value: 'Segmenter String Iterator', configurable: true })

function makeSegmentIterator(s) {
  const it = Object.create(SegmentIteratorProto)
  segmentsStates.set(it, { s, i: 0 })
  return it
}

const Segmenter = service('Segmenter', {
  segment(string) {
    const st = state(this, 'Segmenter', 'segment')
    const segments = Object.create(SegmentsProto)
    const word = JSON.parse(st.resolved).granularity === 'word'
    segmentsStates.set(segments, { spec: st.spec, input: toString(string), word, list: undefined })
    return segments
  },
})

// ---- Locale --------------------------------------------------------------------------------

const LOCALE_FIELDS = [
  'baseName',
  'calendar',
  'caseFirst',
  'collation',
  'hourCycle',
  'numeric',
  'numberingSystem',
  'language',
  'script',
  'region',
]
const LOCALE_INFO = ['calendars', 'collations', 'hourCycles', 'numberingSystems', 'textInfo', 'timeZones', 'weekInfo']

function localeState(obj, name) {
  const s = localeStates.get(obj)
  if (!s) throw new TypeError(`Method Intl.Locale.prototype.${name} called on incompatible receiver ${describe(obj)}`)
  return s
}

function newLocale(data, proto = Locale.prototype) {
  const obj = Object.create(proto)
  localeStates.set(obj, data)
  return obj
}

function Locale(tag, options) {
  if (new.target === undefined) throw new TypeError("Constructor Intl.Locale requires 'new'")
  if (typeof tag !== 'string' && !isObject(tag))
    throw new TypeError("First argument to Intl.Locale constructor can't be empty or missing")
  const t = localeStates.has(tag) ? localeStates.get(tag).tag : toString(tag)
  const data = JSON.parse(host('Locale', JSON.stringify([t, enc(readOptions(options, TABLES.Locale))]), 'new', []))
  return newLocale(data, new.target.prototype)
}
defineProperty(Locale, 'length', { value: 1 })
const localeMethods = {
  toString() {
    return localeState(this, 'toString').tag
  },
  maximize() {
    return newLocale(JSON.parse(host('Locale', JSON.stringify([localeState(this, 'maximize').maximal, {}]), 'new', [])))
  },
  minimize() {
    return newLocale(JSON.parse(host('Locale', JSON.stringify([localeState(this, 'minimize').minimal, {}]), 'new', [])))
  },
}
for (const name of Object.keys(localeMethods)) {
  defineProperty(Locale.prototype, name, { value: localeMethods[name], writable: true, configurable: true })
}
for (const name of LOCALE_FIELDS) {
  const get = {
    [name]() {
      const v = localeState(this, name)[name]
      return v === null ? undefined : v
    },
  }[name]
  defineProperty(get, 'name', { value: `get ${name}` })
  defineProperty(Locale.prototype, name, { get, configurable: true })
}
for (const name of LOCALE_INFO) {
  const get = {
    [name]() {
      const s = localeState(this, name)
      return JSON.parse(host('Locale', JSON.stringify([s.tag, {}]), name, []))
    },
  }[name]
  defineProperty(get, 'name', { value: `get ${name}` })
  defineProperty(Locale.prototype, name, { get, configurable: true })
}
defineProperty(Locale.prototype, Symbol.toStringTag, { value: 'Intl.Locale', configurable: true })

// ---- the Intl namespace ----------------------------------------------------------------------

export const Intl = {}
const members = {
  getCanonicalLocales(locales) {
    return hostJson('Intl', '', 'getCanonicalLocales', [localeList(locales)])
  },
  supportedValuesOf(key) {
    return hostJson('Intl', '', 'supportedValuesOf', [toString(key)])
  },
  DateTimeFormat,
  NumberFormat,
  Collator,
  PluralRules,
  RelativeTimeFormat,
  ListFormat,
  Locale,
  DisplayNames,
  Segmenter,
}
for (const name of Object.keys(members)) {
  defineProperty(Intl, name, { value: members[name], writable: true, configurable: true, enumerable: false })
}
defineProperty(Intl, Symbol.toStringTag, { value: 'Intl', configurable: true })

// ---- the locale-sensitive methods of the built-ins (the core's stubs call these) ---------------

function thisNumber(v, method) {
  if (typeof v === 'number') return v
  if (isObject(v)) {
    try {
      return Number.prototype.valueOf.call(v)
    } catch {
      // not a Number object
    }
  }
  throw new TypeError(`Number.prototype.${method} requires that 'this' be a Number`)
}

function thisTime(v, method) {
  try {
    return Date.prototype.getTime.call(v)
  } catch {
    throw new TypeError(`Method Date.prototype.${method} called on incompatible receiver ${describe(v)}`)
  }
}

// The specs of the built-ins' methods called with a string locale (or none) and no options, the
// usual call: reading them observes nothing, so they are made once. Bounded: the locale is data.
const simpleSpecs = new Map()

/** `make()`, or its value from simpleSpecs when `locales` and `options` read nothing. */
function builtinSpec(key, locales, options, make) {
  if (options !== undefined || (locales !== undefined && typeof locales !== 'string')) return make()
  const k = locales === undefined ? key : `${key}\u0001${locales}`
  let sp = simpleSpecs.get(k)
  if (sp === undefined) {
    sp = make()
    if (simpleSpecs.size >= 64) simpleSpecs.clear()
    simpleSpecs.set(k, sp)
  }
  return sp
}

/** A Date method: `required` and `defaults` are its ToDateTimeOptions arguments. */
function dateMethod(name, required, defaults) {
  return function (locales, options) {
    const t = thisTime(this, name)
    if (Number.isNaN(t)) return 'Invalid Date'
    const sp = builtinSpec(required, locales, options, () => dateSpec(locales, options, required, defaults))
    return host('DateTimeFormat', sp, `toLocale:${required}`, [t])
  }
}

const numberSpec = (locales, options) =>
  builtinSpec('NumberFormat', locales, options, () => spec(locales, options, TABLES.NumberFormat))

function coerceThis(v, method) {
  if (v === undefined || v === null) throw new TypeError(`String.prototype.${method} called on null or undefined`)
  return toString(v)
}

export const builtins = {
  numberToLocaleString(locales, options) {
    const x = thisNumber(this, 'toLocaleString')
    return host('NumberFormat', numberSpec(locales, options), 'format', [x])
  },
  bigintToLocaleString(locales, options) {
    let x
    try {
      x = BigInt.prototype.valueOf.call(this)
    } catch {
      throw new TypeError("BigInt.prototype.toLocaleString requires that 'this' be a BigInt")
    }
    return host('NumberFormat', numberSpec(locales, options), 'format', [x])
  },
  dateToLocaleString: dateMethod('toLocaleString', 'any', 'all'),
  dateToLocaleDateString: dateMethod('toLocaleDateString', 'date', 'date'),
  dateToLocaleTimeString: dateMethod('toLocaleTimeString', 'time', 'time'),
  localeCompare(that, locales, options) {
    const s = coerceThis(this, 'localeCompare')
    const t = toString(that)
    const fast = locales === undefined && options === undefined ? compareAlnum(s, t) : undefined
    if (fast !== undefined) return fast
    const sp = builtinSpec('Collator', locales, options, () => spec(locales, options, TABLES.Collator))
    return +host('Collator', sp, 'compare', [s, t])
  },
  toLocaleUpperCase(locales) {
    const s = coerceThis(this, 'toLocaleUpperCase')
    return host('Intl', '', 'toLocaleUpperCase', [s, localeList(locales)])
  },
  toLocaleLowerCase(locales) {
    const s = coerceThis(this, 'toLocaleLowerCase')
    return host('Intl', '', 'toLocaleLowerCase', [s, localeList(locales)])
  },
  arrayToLocaleString(locales, options) {
    const o = Object(this)
    const len = Math.min(Math.max(Math.trunc(toNumber(o.length)) || 0, 0), Number.MAX_SAFE_INTEGER)
    let out = ''
    for (let k = 0; k < len; k++) {
      if (k > 0) out += ','
      const v = o[k]
      if (v !== undefined && v !== null) out += toString(Object(v).toLocaleString(locales, options))
    }
    return out
  },
}
