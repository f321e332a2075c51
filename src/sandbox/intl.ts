/**
 * The host side of the guest's `Intl` (see `prelude/intl.js`): Node's ICU formats, compares and
 * segments for the guest. The guest sends an Intl object's "spec" (the JSON of its locales and
 * options, already read and converted in the guest) with each call; the real Intl object is kept
 * here in a cache keyed by that spec, and only strings and JSON data go back.
 *
 * The cache is the executor thread's, shared by its instances, as V8 shares its own formatter
 * cache between all the code of an isolate: a formatter holds ICU data (tens of KB), and a cache
 * per instance would grow with the instances (a thousand warm ones formatting a few ways each)
 * while holding the same formatters many times. What is shared is immutable and keyed by
 * everything that defines it; another function learns nothing from it but, at most, whether a
 * formatter it asks for was made before (a few µs).
 *
 * The spec and the arguments are guest data: parsed as JSON, never evaluated, and handed to
 * Node's Intl constructors, which check them as the standard says (RangeError, TypeError). The
 * defaults are fixed, not the host's: locale en-US (also when no requested locale is available)
 * and time zone UTC.
 *
 * Wire format: JSON values, with `{ $u: 1 }` for undefined, `{ $num: 'NaN' }` for numbers JSON
 * cannot hold and `{ $big: '12' }` for BigInts.
 *
 * @internal
 * @module
 */

/** Intl objects a thread keeps; the least recently used one goes first. */
const CACHED = 256
const DEFAULT_LOCALE = 'en-US'
const DEFAULT_TIME_ZONE = 'UTC'
/** A message of Node's can quote a guest's option: long ones are cut. */
const MAX_MESSAGE = 500

/** A failure whose name and message may be shown to the guest. */
export class IntlFailure {
  constructor(
    readonly name: string,
    readonly message: string,
  ) {}
}

type Ctor = {
  new (locales?: unknown, options?: unknown): object
  supportedLocalesOf(locales: unknown, options?: unknown): string[]
}
const SERVICES: Record<string, Ctor> = {
  DateTimeFormat: Intl.DateTimeFormat as unknown as Ctor,
  NumberFormat: Intl.NumberFormat as unknown as Ctor,
  Collator: Intl.Collator as unknown as Ctor,
  PluralRules: Intl.PluralRules as unknown as Ctor,
  RelativeTimeFormat: Intl.RelativeTimeFormat as unknown as Ctor,
  ListFormat: (Intl as unknown as { ListFormat: Ctor }).ListFormat,
  Segmenter: (Intl as unknown as { Segmenter: Ctor }).Segmenter,
  DisplayNames: (Intl as unknown as { DisplayNames: Ctor }).DisplayNames,
}
/** The methods of each service the guest may call, and whether they answer JSON. */
const METHODS: Record<string, Record<string, 'text' | 'json'>> = {
  DateTimeFormat: { format: 'text', formatToParts: 'json', formatRange: 'text', formatRangeToParts: 'json' },
  NumberFormat: { format: 'text', formatToParts: 'json', formatRange: 'text', formatRangeToParts: 'json' },
  Collator: { compare: 'text' },
  PluralRules: { select: 'text', selectRange: 'text' },
  RelativeTimeFormat: { format: 'text', formatToParts: 'json' },
  ListFormat: { format: 'text', formatToParts: 'json' },
  DisplayNames: { of: 'json' },
  Segmenter: {},
}
const LOCALE_INFO = new Set([
  'calendars',
  'collations',
  'hourCycles',
  'numberingSystems',
  'textInfo',
  'timeZones',
  'weekInfo',
])
/** The options a Date method's defaults look at (ECMA-402 ToDateTimeOptions). */
const DATE_FIELDS = ['weekday', 'year', 'month', 'day']
const TIME_FIELDS = ['dayPeriod', 'hour', 'minute', 'second', 'fractionalSecondDigits']

function decode(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(decode)
  if (value === null || typeof value !== 'object') return value
  const o = value as Record<string, unknown>
  if ('$u' in o) return undefined
  if ('$num' in o) return Number(o.$num)
  if ('$big' in o) {
    try {
      return BigInt(String(o.$big))
    } catch {
      throw new IntlFailure('SyntaxError', `Cannot convert ${String(o.$big).slice(0, 50)} to a BigInt`)
    }
  }
  const out: Record<string, unknown> = {}
  for (const [k, v] of Object.entries(o)) out[k] = decode(v)
  return out
}

function parse(json: string): unknown {
  try {
    return decode(JSON.parse(json))
  } catch (err) {
    if (err instanceof IntlFailure) throw err
    throw new IntlFailure('TypeError', 'malformed Intl request')
  }
}

/** The locales to construct with: en-US when none is asked for or none of them is available. */
function localesFor(ctor: Ctor, requested: unknown): unknown {
  if (requested === undefined) return DEFAULT_LOCALE
  const list = Intl.getCanonicalLocales(requested as string[])
  if (list.length === 0) return DEFAULT_LOCALE
  return ctor.supportedLocalesOf(list).length > 0 ? list : [...list, DEFAULT_LOCALE]
}

/** DateTimeFormat options with the UTC default, and a Date method's defaults (`kind`). */
function dateOptions(options: unknown, kind?: string): unknown {
  if (options === null) return options // the constructor throws as the standard says
  const o: Record<string, unknown> = typeof options === 'object' ? { ...(options as object) } : {}
  if (o.timeZone === undefined) o.timeZone = DEFAULT_TIME_ZONE
  if (kind === undefined) return o
  if (kind === 'date' && o.timeStyle !== undefined) throw new IntlFailure('TypeError', 'Invalid option : timeStyle')
  if (kind === 'time' && o.dateStyle !== undefined) throw new IntlFailure('TypeError', 'Invalid option : dateStyle')
  const has = (fields: string[]): boolean => fields.some((f) => o[f] !== undefined)
  let needDefaults = o.dateStyle === undefined && o.timeStyle === undefined
  if (kind !== 'time' && has(DATE_FIELDS)) needDefaults = false
  if (kind !== 'date' && has(TIME_FIELDS)) needDefaults = false
  if (needDefaults && kind !== 'time') o.year = o.month = o.day = 'numeric'
  if (needDefaults && kind !== 'date') o.hour = o.minute = o.second = 'numeric'
  return o
}

/** The thread's Intl objects by spec (see the module doc). */
const cache = new Map<string, object>()

/**
 * Runs `op` of `kind` (an Intl constructor's name, `Locale`, or `Intl` for the namespace's own
 * functions) for the object `spec` describes, on the JSON arguments `args`. Returns a string
 * (formatted text, or JSON). Throws an {@link IntlFailure}.
 */
export function callIntl(kind: string, spec: string, op: string, args: string): string {
  try {
    return run(kind, spec, op, parse(args) as unknown[])
  } catch (err) {
    throw failure(err)
  }
}

function run(kind: string, spec: string, op: string, args: unknown[]): string {
  if (!Array.isArray(args)) throw new IntlFailure('TypeError', 'malformed Intl request')
  if (kind === 'Intl') return namespace(op, args)
  if (kind === 'Locale') return locale(spec, op)
  const ctor = SERVICES[kind]
  if (!ctor) throw new IntlFailure('TypeError', 'unknown Intl service')
  const dateMethod = kind === 'DateTimeFormat' && op.startsWith('toLocale:') ? op.slice(9) : undefined
  if (dateMethod !== undefined && !['any', 'date', 'time'].includes(dateMethod)) {
    throw new IntlFailure('TypeError', 'unknown Intl method')
  }
  const obj = cached(kind, ctor, spec, dateMethod) as Record<string, (...a: unknown[]) => unknown>
  if (op === 'new') return JSON.stringify((obj.resolvedOptions as () => unknown)())
  if (dateMethod !== undefined) return String(obj.format!(args[0]))
  if (kind === 'Segmenter' && op === 'segment') return segment(obj, args[0])
  const answer = METHODS[kind]![op]
  if (!answer) throw new IntlFailure('TypeError', 'unknown Intl method')
  const result = obj[op]!.apply(obj, args)
  return answer === 'json' ? JSON.stringify(result ?? null) : String(result)
}

/** The Intl object `spec` describes, from the cache or made (and cached). */
function cached(kind: string, ctor: Ctor, spec: string, dateMethod: string | undefined): object {
  const key = `${kind}\u0001${dateMethod ?? ''}\u0001${spec}`
  let obj = cache.get(key)
  if (obj) {
    cache.delete(key)
  } else {
    const parsed = parse(spec)
    if (!Array.isArray(parsed) || parsed.length !== 2) throw new IntlFailure('TypeError', 'malformed Intl request')
    const [locales, options] = parsed as [unknown, unknown]
    obj = new ctor(localesFor(ctor, locales), kind === 'DateTimeFormat' ? dateOptions(options, dateMethod) : options)
    if (cache.size >= CACHED) cache.delete(cache.keys().next().value!)
  }
  cache.set(key, obj)
  return obj
}

function segment(segmenter: Record<string, (...a: unknown[]) => unknown>, input: unknown): string {
  const out: [string, number, boolean?][] = []
  for (const s of segmenter.segment!(String(input)) as Iterable<Intl.SegmentData>) {
    out.push(s.isWordLike === undefined ? [s.segment, s.index] : [s.segment, s.index, s.isWordLike])
  }
  return JSON.stringify(out)
}

function namespace(op: string, args: unknown[]): string {
  switch (op) {
    case 'getCanonicalLocales':
      return JSON.stringify(Intl.getCanonicalLocales(args[0] as string[]))
    case 'supportedValuesOf':
      return JSON.stringify(Intl.supportedValuesOf(args[0] as 'calendar'))
    case 'supportedLocalesOf': {
      const ctor = typeof args[0] === 'string' ? SERVICES[args[0]] : undefined
      if (!ctor) throw new IntlFailure('TypeError', 'unknown Intl service')
      return JSON.stringify(ctor.supportedLocalesOf(args[1], args[2]))
    }
    case 'toLocaleUpperCase':
      return String(args[0]).toLocaleUpperCase(args[1] as string[])
    case 'toLocaleLowerCase':
      return String(args[0]).toLocaleLowerCase(args[1] as string[])
  }
  throw new IntlFailure('TypeError', 'unknown Intl method')
}

/** A Locale's data (`new`: its fields, maximal and minimal tags) or one of its info getters. */
function locale(spec: string, op: string): string {
  const parsed = parse(spec)
  if (!Array.isArray(parsed) || parsed.length !== 2) throw new IntlFailure('TypeError', 'malformed Intl request')
  const l = new Intl.Locale(parsed[0] as string, parsed[1] as Intl.LocaleOptions) as unknown as Record<string, unknown>
  if (op === 'new') {
    const data: Record<string, unknown> = {
      tag: l.toString!.call(l),
      maximal: String((l.maximize as () => object).call(l)),
      minimal: String((l.minimize as () => object).call(l)),
    }
    // Every field getter (baseName, calendar, ... region); the info getters give objects.
    for (const [name, d] of Object.entries(Object.getOwnPropertyDescriptors(Intl.Locale.prototype))) {
      const v: unknown = d.get ? d.get.call(l) : null
      if (v === undefined || typeof v === 'string' || typeof v === 'boolean') data[name] = v ?? null
    }
    return JSON.stringify(data)
  }
  if (LOCALE_INFO.has(op)) return JSON.stringify(l[op] ?? null)
  throw new IntlFailure('TypeError', 'unknown Intl method')
}

/** Node's error as one the guest may see: the standard's names, Node's message, cut short. */
function failure(err: unknown): IntlFailure {
  if (err instanceof IntlFailure) return err
  const e = err as { name?: unknown; message?: unknown } | null
  const name = typeof e?.name === 'string' ? e.name : ''
  let message = typeof e?.message === 'string' ? e.message : ''
  if (message.length > MAX_MESSAGE) message = `${message.slice(0, MAX_MESSAGE)}…`
  if (name === 'RangeError' || name === 'TypeError' || name === 'SyntaxError') return new IntlFailure(name, message)
  return new IntlFailure('TypeError', 'the Intl operation failed')
}
