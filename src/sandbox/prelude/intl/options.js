// Crossing to the host, and reading arguments and options as the standard does (conversions,
// option tables): what every Intl service of the guest shares. Part of the guest's Intl (see ../intl.js).
import { native } from '../shared.js'

// ---- crossing to the host ---------------------------------------------------------------------

/** A value as JSON can carry it: undefined, non-finite numbers, -0 and BigInts tagged. */
export function enc(v) {
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
export function host(kind, spec, op, args) {
  return native.intl(kind, spec, op, JSON.stringify(enc(args)))
}

export const hostJson = (kind, spec, op, args) => JSON.parse(host(kind, spec, op, args))

// ---- argument conversions, as the standard reads them ------------------------------------------

export const isObject = (v) => (typeof v === 'object' && v !== null) || typeof v === 'function'

/** ToString, which throws for symbols (String(symbol) does not). */
export const toString = (v) => `${v}`
/** ToNumber, which throws for BigInts and symbols (Number(bigint) does not). */
export const toNumber = (v) => +v

export const CONVERT = {
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
export function readOptions(options, table, extra) {
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
export function dateTimeDefaults(options, required, defaults) {
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
export const localeStates = new WeakMap()

/** CanonicalizeLocaleList's reading of `locales`: strings (tags checked by the host), in order. */
export function localeList(locales) {
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

export const spec = (locales, options, table, extra) => {
  const list = localeList(locales)
  return JSON.stringify(enc([list, readOptions(options, table, extra)]))
}

/** A DateTimeFormat's spec: the constructor's defaults (`any`, `date`) or a Date method's. */
export function dateSpec(locales, options, required, defaults) {
  const list = localeList(locales)
  const extra = dateTimeDefaults(options, required, defaults)
  return JSON.stringify(enc([list, readOptions(options, TABLES.DateTimeFormat, extra)]))
}

// ---- the option tables ----------------------------------------------------------------------

export const DIGITS = [
  ['minimumIntegerDigits', 'n'],
  ['minimumFractionDigits', 'n'],
  ['maximumFractionDigits', 'n'],
  ['minimumSignificantDigits', 'n'],
  ['maximumSignificantDigits', 'n'],
  ['roundingPriority', 's'],
]
export const TABLES = {
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
export const MATCHER = [['localeMatcher', 's']]
