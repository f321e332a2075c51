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
//
// The parts: intl/options.js (crossing to the host, reading options), intl/services.js (the
// formatters and other services), intl/segmenter.js, intl/locale.js; here the Intl namespace and
// the locale-sensitive methods of the built-ins.
import { host, hostJson, isObject, toString, toNumber, localeList, spec, dateSpec, TABLES } from './intl/options.js'
import {
  describe,
  compareAlnum,
  DateTimeFormat,
  NumberFormat,
  Collator,
  PluralRules,
  RelativeTimeFormat,
  ListFormat,
  DisplayNames,
} from './intl/services.js'
import { Segmenter } from './intl/segmenter.js'
import { Locale } from './intl/locale.js'
const { defineProperty } = Object

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
