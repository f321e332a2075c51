// Intl.Locale: a locale tag and its fields, resolved by the host. Part of the guest's Intl (see ../intl.js).
import { enc, host, isObject, toString, readOptions, localeStates, TABLES } from './options.js'
import { describe } from './services.js'
const { defineProperty } = Object

// ---- Locale --------------------------------------------------------------------------------

export const LOCALE_FIELDS = [
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
export const LOCALE_INFO = [
  'calendars',
  'collations',
  'hourCycles',
  'numberingSystems',
  'textInfo',
  'timeZones',
  'weekInfo',
]

export function localeState(obj, name) {
  const s = localeStates.get(obj)
  if (!s) throw new TypeError(`Method Intl.Locale.prototype.${name} called on incompatible receiver ${describe(obj)}`)
  return s
}

export function newLocale(data, proto = Locale.prototype) {
  const obj = Object.create(proto)
  localeStates.set(obj, data)
  return obj
}

export function Locale(tag, options) {
  if (new.target === undefined) throw new TypeError("Constructor Intl.Locale requires 'new'")
  if (typeof tag !== 'string' && !isObject(tag))
    throw new TypeError("First argument to Intl.Locale constructor can't be empty or missing")
  const t = localeStates.has(tag) ? localeStates.get(tag).tag : toString(tag)
  const data = JSON.parse(host('Locale', JSON.stringify([t, enc(readOptions(options, TABLES.Locale))]), 'new', []))
  return newLocale(data, new.target.prototype)
}
defineProperty(Locale, 'length', { value: 1 })
export const localeMethods = {
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
