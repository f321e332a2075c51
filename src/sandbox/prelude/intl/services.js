// The Intl service constructors (DateTimeFormat, NumberFormat, Collator, PluralRules,
// RelativeTimeFormat, ListFormat, DisplayNames): each an object holding its spec and resolved
// options, whose methods call the host. Part of the guest's Intl (see ../intl.js).
import {
  host,
  hostJson,
  isObject,
  toString,
  toNumber,
  readOptions,
  localeList,
  spec,
  dateSpec,
  TABLES,
  MATCHER,
} from './options.js'
const { defineProperty } = Object

// ---- the service constructors ------------------------------------------------------------------

export const states = new WeakMap()

export function state(obj, kind, method) {
  const s = states.get(obj)
  if (!s || s.kind !== kind) {
    throw new TypeError(`Method Intl.${kind}.prototype.${method} called on incompatible receiver ${describe(obj)}`)
  }
  return s
}

export function describe(v) {
  try {
    return typeof v === 'string' ? v : isObject(v) ? '#<Object>' : String(v)
  } catch {
    return typeof v
  }
}

/** Makes `obj` an Intl object of `kind`: the host checks the options and resolves them. */
export function initialize(obj, kind, locales, options) {
  const s = kind === 'DateTimeFormat' ? dateSpec(locales, options, 'any', 'date') : spec(locales, options, TABLES[kind])
  const resolved = host(kind, s, 'new', [])
  states.set(obj, { kind, spec: s, resolved })
  return obj
}

export const call = (obj, kind, method, args) => {
  const s = state(obj, kind, method)
  return host(kind, s.spec, method, args)
}
export const callJson = (obj, kind, method, args) => JSON.parse(call(obj, kind, method, args))

/** `Intl.<kind>` and its prototype's `methods`; `callable`: may be called without `new`. */
export function service(kind, methods, { callable = false, length = 0, getters = {} } = {}) {
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
export function makeBound(fn, obj) {
  return {
    [''](...args) {
      return fn(obj, ...args)
    },
  }['']
}

/** A getter returning one bound function per object (format, compare). */
export function bound(kind, name, fn) {
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
export const timeOf = (date) => (date === undefined ? Date.now() : toNumber(date))

/** ToIntlMathematicalValue's input: a BigInt or a string stays one; an object becomes a primitive. */
export function numeric(x) {
  if (isObject(x)) x = typeof x.valueOf === 'function' ? x.valueOf() : toNumber(x)
  if (typeof x === 'bigint' || typeof x === 'string') return x
  return toNumber(x)
}

export const ALNUM = /^[0-9A-Za-z]*$/

/**
 * The default collation (root, as en has it) of two ASCII letters-and-digits strings, answered
 * here: a sort makes thousands of comparisons, and each would cross to the host. Letters compare
 * ignoring case, after digits; then the first difference of case decides, lower case first.
 * Undefined for other strings.
 */
export function compareAlnum(a, b) {
  if (!ALNUM.test(a) || !ALNUM.test(b)) return undefined
  const la = a.toLowerCase()
  const lb = b.toLowerCase()
  if (la !== lb) return la < lb ? -1 : 1
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return a[i] > b[i] ? -1 : 1
  return 0
}

/** Whether a Collator's resolved options are the default collation (compareAlnum applies). */
export function isDefaultCollation(resolved) {
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

export function compare(obj, a, b) {
  const s = state(obj, 'Collator', 'compare')
  const x = toString(a)
  const y = toString(b)
  s.fast ??= isDefaultCollation(s.resolved)
  return (s.fast ? compareAlnum(x, y) : undefined) ?? +host('Collator', s.spec, 'compare', [x, y])
}

export function range(start, end, convert) {
  if (start === undefined || end === undefined) throw new TypeError('start or end is undefined')
  return [convert(start), convert(end)]
}

/**
 * DateTimeFormat or NumberFormat: `one` reads the value to format (a date's time value, a number),
 * `each` the ends of a range.
 */
export function formatService(kind, one, each) {
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

export const DateTimeFormat = formatService('DateTimeFormat', timeOf, toNumber)
export const NumberFormat = formatService('NumberFormat', numeric, numeric)

export const Collator = service(
  'Collator',
  {},
  { callable: true, getters: { compare: bound('Collator', 'compare', compare) } },
)

export const PluralRules = service('PluralRules', {
  select(n) {
    return call(this, 'PluralRules', 'select', [toNumber(n)])
  },
  selectRange(start, end) {
    return call(this, 'PluralRules', 'selectRange', range(start, end, toNumber))
  },
})

export const RelativeTimeFormat = service('RelativeTimeFormat', {
  format(value, unit) {
    return call(this, 'RelativeTimeFormat', 'format', [toNumber(value), toString(unit)])
  },
  formatToParts(value, unit) {
    return callJson(this, 'RelativeTimeFormat', 'formatToParts', [toNumber(value), toString(unit)])
  },
})

/** StringListFromIterable: undefined is empty; every item must be a string. */
export function stringList(list) {
  if (list === undefined) return []
  const out = []
  for (const item of list) {
    if (typeof item !== 'string') throw new TypeError(`Iterable yielded ${describe(item)} which is not a string`)
    out.push(item)
  }
  return out
}

export const ListFormat = service('ListFormat', {
  format(list) {
    return call(this, 'ListFormat', 'format', [stringList(list)])
  },
  formatToParts(list) {
    return callJson(this, 'ListFormat', 'formatToParts', [stringList(list)])
  },
})

export const DisplayNames = service(
  'DisplayNames',
  {
    of(code) {
      return callJson(this, 'DisplayNames', 'of', [toString(code)]) ?? undefined
    },
  },
  { length: 2 },
)
