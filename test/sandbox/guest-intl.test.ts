// Intl in the guest against Node's (the host's ICU serves the guest's, see src/sandbox/intl.ts):
// every constructor and method with the options real code uses, the locale-sensitive methods of
// Number, BigInt, Date, String and Array, the order in which options are read (through proxies,
// so getters run as Node runs them), and the errors of bad locales, options and receivers. Node
// here runs with the defaults the guest has on every host (en-US, UTC), asserted first.
import { describe, expect, it } from 'vitest'
import { inGuest, sameAsNode } from '../helpers/same-as-node.js'

/** Helpers both runs get. */
const H = `
const attempt = (f) => { try { return f() } catch (e) { return e.constructor.name + ': ' + e.message } }
const name = (f) => { try { f(); return 'ok' } catch (e) { return e.constructor.name } }
const t0 = Date.UTC(2024, 2, 10, 6, 30, 15, 123) // the morning US clocks moved forward
`

describe('defaults', () => {
  it('are en-US and UTC, whatever the host says', async () => {
    expect(
      await inGuest(`
        const dtf = new Intl.DateTimeFormat().resolvedOptions()
        return [dtf.locale, dtf.timeZone, new Intl.NumberFormat().resolvedOptions().locale,
          new Intl.NumberFormat('xx').resolvedOptions().locale, new Intl.Collator([]).resolvedOptions().locale,
          new Date(0).toLocaleString(), (1234.5).toLocaleString()]`),
    ).toEqual(['en-US', 'UTC', 'en-US', 'en-US', 'en-US', '1/1/1970, 12:00:00 AM', '1,234.5'])
  })
})

describe('NumberFormat', () => {
  it('formats numbers, BigInts and decimal strings with every kind of option, as Node does', async () => {
    await sameAsNode(`${H}
      const cases = [
        ['en-US', {}], ['de-DE', {}], ['en-IN', {}], ['ar-EG', {}], ['fr-CH', {}],
        ['en-US', { style: 'currency', currency: 'USD' }], ['ja-JP', { style: 'currency', currency: 'JPY' }],
        ['de-DE', { style: 'currency', currency: 'EUR', currencyDisplay: 'name' }],
        ['en-US', { style: 'currency', currency: 'USD', currencySign: 'accounting' }],
        ['en-US', { style: 'percent', maximumFractionDigits: 1 }],
        ['en-US', { style: 'unit', unit: 'kilometer-per-hour', unitDisplay: 'long' }],
        ['en-GB', { style: 'unit', unit: 'megabyte', unitDisplay: 'narrow' }],
        ['en-US', { notation: 'compact' }], ['en-US', { notation: 'compact', compactDisplay: 'long' }],
        ['de-DE', { notation: 'compact' }], ['en-US', { notation: 'scientific' }], ['en-US', { notation: 'engineering' }],
        ['en-US', { maximumSignificantDigits: 3 }], ['en-US', { minimumFractionDigits: 2, maximumFractionDigits: 2 }],
        ['en-US', { minimumIntegerDigits: 5, useGrouping: false }], ['en-US', { signDisplay: 'exceptZero' }],
        ['en-US', { roundingMode: 'floor', maximumFractionDigits: 0 }], ['en-US', { useGrouping: 'min2' }],
        ['en-US', { roundingIncrement: 5, maximumFractionDigits: 2, minimumFractionDigits: 2 }],
        ['en-US', { trailingZeroDisplay: 'stripIfInteger', minimumFractionDigits: 2 }],
        ['th-TH-u-nu-thai', {}], ['en-US', { numberingSystem: 'arab' }],
      ]
      const values = [1234567.891, -0.5, 0, -0, 1e21, NaN, Infinity, 12345678901234567890n, '1234.5678901234567890123']
      return cases.map(([locale, options]) => {
        const nf = new Intl.NumberFormat(locale, options)
        return { options: nf.resolvedOptions(), out: values.map((v) => nf.format(v)), parts: nf.formatToParts(-1234.5),
          range: attempt(() => nf.formatRange(3, 5)), rangeParts: attempt(() => nf.formatRangeToParts(1, 1000)) }
      })`)
  })

  it('Number and BigInt toLocaleString take locales and options', async () => {
    await sameAsNode(`${H}
      return [(1234567.5).toLocaleString('en-US'), (1234567.5).toLocaleString('de'), (0.256).toLocaleString('en', { style: 'percent' }),
        (12).toLocaleString(['xx', 'fr']), 123456789n.toLocaleString('en-IN'), new Number(5).toLocaleString('en', { minimumFractionDigits: 1 }),
        attempt(() => Number.prototype.toLocaleString.call('5')), attempt(() => BigInt.prototype.toLocaleString.call(5)),
        (2).toLocaleString(), attempt(() => (2).toLocaleString('undefined')), (2).toLocaleString('de'), (2.5).toLocaleString('de')]`)
  })
})

describe('DateTimeFormat', () => {
  it('formats in IANA time zones with every kind of option, as Node does', async () => {
    await sameAsNode(`${H}
      const zones = ['UTC', 'America/New_York', 'Asia/Kolkata', 'Australia/Lord_Howe', 'Europe/London', 'Asia/Kathmandu', 'America/St_Johns']
      const options = [
        { dateStyle: 'full', timeStyle: 'full' }, { dateStyle: 'medium', timeStyle: 'short' }, {},
        { year: 'numeric', month: 'long', day: '2-digit', weekday: 'short', hour: 'numeric', minute: '2-digit', second: '2-digit', fractionalSecondDigits: 3 },
        { hour: 'numeric', hour12: false, timeZoneName: 'shortOffset' }, { hourCycle: 'h11', hour: 'numeric', timeZoneName: 'long' },
        { era: 'short', year: 'numeric' }, { month: 'narrow' }, { dayPeriod: 'long', hour: 'numeric' }, { timeZoneName: 'longGeneric' },
      ]
      const out = []
      for (const timeZone of zones) for (const o of options) {
        for (const locale of ['en-US', 'de-DE', 'ja-JP-u-ca-japanese', 'ar-SA']) {
          const dtf = new Intl.DateTimeFormat(locale, { ...o, timeZone })
          out.push(dtf.format(t0))
        }
      }
      const dtf = new Intl.DateTimeFormat('en-US', { timeZone: 'America/New_York', dateStyle: 'long', timeStyle: 'long' })
      return { out, resolved: dtf.resolvedOptions(), parts: dtf.formatToParts(new Date(t0)), range: dtf.formatRange(t0, t0 + 86400000 * 3),
        rangeParts: dtf.formatRangeToParts(new Date(t0), new Date(t0 + 3600000)), bound: ['a', 'b'].map(() => dtf.format).every((f, _, a) => f === a[0]),
        map: [t0, t0 + 1].map(dtf.format), invalid: attempt(() => dtf.format(NaN)), now: typeof dtf.format(), date: dtf.format(new Date(t0)) }`)
  })

  it('Date toLocaleString, toLocaleDateString and toLocaleTimeString add the standard defaults', async () => {
    await sameAsNode(`${H}
      const d = new Date(t0)
      return [d.toLocaleString('en-US', { timeZone: 'Asia/Tokyo' }), d.toLocaleDateString('de-DE', { timeZone: 'UTC' }),
        d.toLocaleTimeString('en-GB', { timeZone: 'Europe/Paris' }), d.toLocaleDateString('en-US', { timeZone: 'UTC', month: 'long' }),
        d.toLocaleTimeString('en-US', { timeZone: 'UTC', hour: '2-digit' }), d.toLocaleString('fr', { timeZone: 'UTC', dateStyle: 'short' }),
        attempt(() => d.toLocaleDateString('en', { timeZone: 'UTC', timeStyle: 'short' })),
        attempt(() => d.toLocaleTimeString('en', { timeZone: 'UTC', dateStyle: 'short' })),
        new Date(NaN).toLocaleString('en'), attempt(() => Date.prototype.toLocaleString.call({}))]`)
  })

  it('gives @date-fns/tz-style offsets for named zones across a DST change', async () => {
    await sameAsNode(`${H}
      const dtf = new Intl.DateTimeFormat('en-US', { timeZone: 'America/New_York', hourCycle: 'h23', year: 'numeric', month: 'numeric', day: 'numeric', hour: 'numeric', minute: 'numeric', second: 'numeric', timeZoneName: 'longOffset' })
      return [-2, -1, 0, 1, 2].map((h) => dtf.formatToParts(t0 + h * 3600000).map((p) => p.value).join(''))`)
  })
})

describe('Collator and localeCompare', () => {
  it('sort as Node sorts, with options and locale-specific orders', async () => {
    await sameAsNode(`${H}
      const words = ['b', 'a', 'B', 'A', 'ä', 'Ä', 'z', 'ö', 'o', 'item10', 'item2', 'Item1', 'å', 'aa', 'ch', 'c', 'h', '_x', ' y', '-', 'é', 'e', 'ê', '1', '10', '9', 'ß', 'ss']
      const sorts = {}
      for (const [locale, options] of [['en', {}], ['de', {}], ['de-u-co-phonebk', {}], ['sv', {}], ['da', {}], ['cs', {}], ['en', { numeric: true }],
        ['en', { sensitivity: 'base' }], ['en', { caseFirst: 'upper' }], ['en', { ignorePunctuation: true }], ['en', { usage: 'search', sensitivity: 'base' }]]) {
        const c = new Intl.Collator(locale, options)
        sorts[locale + JSON.stringify(options)] = [words.slice().sort(c.compare), c.resolvedOptions(), c.compare('a', 'A'), c.compare('a', 'á')]
      }
      sorts.localeCompare = [words.slice().sort((a, b) => a.localeCompare(b)), 'a'.localeCompare('B'), 'ä'.localeCompare('z', 'sv'),
        'a'.localeCompare('A', 'en', { sensitivity: 'base' }), 'item10'.localeCompare('item2', undefined, { numeric: true })]
      return sorts`)
  })

  it('localeCompare and a default Collator match Node on random letters and digits (answered in the guest)', async () => {
    await sameAsNode(`${H}
      let seed = 11
      const rand = () => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648
      const chars = 'aAbByYzZ0189'
      const word = () => Array.from({ length: Math.floor(rand() * 5) }, () => chars[Math.floor(rand() * chars.length)]).join('')
      const en = new Intl.Collator('en-GB').compare
      const out = []
      for (let i = 0; i < 3000; i++) {
        const a = word()
        const b = rand() < 0.3 ? (rand() < 0.5 ? a.toUpperCase() : a.replace(/./, (c) => c.toUpperCase())) : word()
        out.push(a.localeCompare(b), en(a, b))
      }
      return out`)
  })

  it('localeCompare with default options matches Node on random ASCII strings', async () => {
    await sameAsNode(`${H}
      let seed = 7
      const rand = () => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648
      const chars = 'aAbBzZ09_- .,!~\`@'
      const word = () => Array.from({ length: 1 + Math.floor(rand() * 6) }, () => chars[Math.floor(rand() * chars.length)]).join('')
      const out = []
      for (let i = 0; i < 600; i++) { const a = word(), b = rand() < 0.2 ? a.toUpperCase() : word(); out.push(a.localeCompare(b)) }
      return out`)
  })
})

describe('the other services', () => {
  it('PluralRules, RelativeTimeFormat, ListFormat and DisplayNames answer as Node does', async () => {
    await sameAsNode(`${H}
      const plural = ['en', 'ar', 'ru', 'pl', 'ja', 'cy'].map((l) => [new Intl.PluralRules(l).resolvedOptions(),
        [0, 1, 2, 3, 5, 11, 22, 101, 1.5].map((n) => new Intl.PluralRules(l).select(n)),
        [1, 2, 3, 4, 11, 12, 13, 21, 22, 23].map((n) => new Intl.PluralRules(l, { type: 'ordinal' }).select(n)),
        attempt(() => new Intl.PluralRules(l).selectRange(1, 5))])
      const rtf = ['en', 'es', 'zh'].flatMap((l) => [{}, { numeric: 'auto' }, { style: 'narrow' }].map((o) => {
        const f = new Intl.RelativeTimeFormat(l, o)
        return [f.resolvedOptions(), [-1, 0, 1, -3.5, 2].flatMap((v) => ['second', 'minutes', 'day', 'week', 'quarter', 'years'].map((u) => f.format(v, u))), f.formatToParts(-2, 'hour')]
      }))
      const lists = ['en', 'de', 'ja', 'es'].flatMap((l) => [{}, { type: 'disjunction' }, { type: 'unit', style: 'narrow' }].map((o) => {
        const f = new Intl.ListFormat(l, o)
        return [f.format(['a', 'b', 'c']), f.format(new Set(['x', 'y'])), f.format([]), f.formatToParts(['1', '2']), f.resolvedOptions()]
      }))
      const names = [['region', 'FR'], ['region', '419'], ['language', 'en-US'], ['language', 'zh-Hant'], ['script', 'Cyrl'], ['currency', 'JPY'],
        ['calendar', 'islamic-umalqura'], ['dateTimeField', 'weekOfYear']].flatMap(([type, code]) =>
        ['en', 'de', 'ja'].map((l) => new Intl.DisplayNames(l, { type }).of(code)))
      const fallback = [new Intl.DisplayNames('en', { type: 'region', fallback: 'none' }).of('ZZ'), new Intl.DisplayNames('en', { type: 'region' }).of('ZZ'),
        new Intl.DisplayNames('en', { type: 'language', languageDisplay: 'standard' }).of('en-GB'), new Intl.DisplayNames('en', { type: 'region' }).resolvedOptions()]
      return { plural, rtf, lists, names, fallback }`)
  })

  it('Segmenter splits graphemes, words and sentences, and finds the segment containing an index', async () => {
    await sameAsNode(`${H}
      const text = 'Hello, wörld! 👨‍👩‍👧 family. 東京都に住む。 Ça va? e\u0301'
      const out = {}
      for (const [locale, granularity] of [['en', 'grapheme'], ['en', 'word'], ['en', 'sentence'], ['ja', 'word'], ['fr', 'word']]) {
        const seg = new Intl.Segmenter(locale, { granularity })
        const segments = seg.segment(text)
        out[locale + granularity] = [[...segments], [0, 5, 15, 16, 40, -1, 999].map((i) => segments.containing(i)), seg.resolvedOptions()]
      }
      const it = new Intl.Segmenter().segment('ab')[Symbol.iterator]()
      out.iterator = [it.next(), it.next(), it.next(), Object.prototype.toString.call(it), it[Symbol.iterator]() === it]
      return out`)
  })

  it('Locale parses, completes and describes tags, and the namespace lists what ICU supports', async () => {
    await sameAsNode(`${H}
      const fields = (l) => ({ tag: l.toString(), baseName: l.baseName, language: l.language, script: l.script, region: l.region, calendar: l.calendar,
        caseFirst: l.caseFirst, collation: l.collation, hourCycle: l.hourCycle, numeric: l.numeric, numberingSystem: l.numberingSystem })
      const locales = ['en', 'zh-Hant-TW', 'sr-Cyrl', 'en-US-u-ca-buddhist-hc-h23-kn', 'und-Latn', 'iw', 'EN-gb']
      return {
        locales: locales.map((t) => { const l = new Intl.Locale(t); return [fields(l), fields(l.maximize()), fields(l.minimize()),
          l.calendars, l.hourCycles, l.numberingSystems, l.textInfo, l.timeZones, l.weekInfo, l.collations] }),
        options: fields(new Intl.Locale('en', { region: 'GB', calendar: 'islamic', numeric: true, caseFirst: 'upper', hourCycle: 'h11', numberingSystem: 'arab', collation: 'emoji' })),
        fromLocale: new Intl.Locale(new Intl.Locale('fr-CA')).toString(),
        asLocales: new Intl.NumberFormat(new Intl.Locale('de')).resolvedOptions().locale,
        canonical: [Intl.getCanonicalLocales(['EN-us', 'zh-hant-tw', new Intl.Locale('iw')]), Intl.getCanonicalLocales('und'), Intl.getCanonicalLocales()],
        supported: ['calendar', 'collation', 'currency', 'numberingSystem', 'timeZone', 'unit'].map((k) => Intl.supportedValuesOf(k)),
        supportedLocales: [Intl.NumberFormat.supportedLocalesOf(['en-US', 'xx', 'de-AT']), Intl.Segmenter.supportedLocalesOf('ja', { localeMatcher: 'lookup' })],
        errors: [attempt(() => Intl.supportedValuesOf('nope')), attempt(() => new Intl.Locale('')), attempt(() => new Intl.Locale(5)), attempt(() => Intl.Locale('en'))],
      }`)
  })

  it('toLocaleUpperCase, toLocaleLowerCase and Array toLocaleString follow the locale', async () => {
    await sameAsNode(`${H}
      return ['istanbul'.toLocaleUpperCase('tr'), 'İSTANBUL'.toLocaleLowerCase('tr'), 'I'.toLocaleLowerCase('en'), 'ﬀ'.toLocaleUpperCase(),
        'ΌΣΟΣ'.toLocaleLowerCase('el'), 'i̇'.toLocaleUpperCase('lt'), attempt(() => 'a'.toLocaleUpperCase('!!')),
        [1234.5, new Date(t0), null, 12n, 'x'].toLocaleString('de-DE', { timeZone: 'UTC' }), [1e6].toLocaleString(), attempt(() => String.prototype.localeCompare.call(null, 'a'))]`)
  })
})

describe('the standard checks', () => {
  it('reads each option once, in Node order, through getters', async () => {
    await sameAsNode(`${H}
      const reads = (make) => {
        const log = []
        const options = new Proxy({}, { get(target, key) { log.push(String(key)); return undefined } })
        attempt(() => make(options))
        return log
      }
      return {
        DateTimeFormat: reads((o) => new Intl.DateTimeFormat('en', o)),
        NumberFormat: reads((o) => new Intl.NumberFormat('en', o)),
        Collator: reads((o) => new Intl.Collator('en', o)),
        PluralRules: reads((o) => new Intl.PluralRules('en', o)),
        RelativeTimeFormat: reads((o) => new Intl.RelativeTimeFormat('en', o)),
        ListFormat: reads((o) => new Intl.ListFormat('en', o)),
        Segmenter: reads((o) => new Intl.Segmenter('en', o)),
        DisplayNames: reads((o) => new Intl.DisplayNames('en', o)),
        Locale: reads((o) => new Intl.Locale('en', o)),
        supportedLocalesOf: reads((o) => Intl.Collator.supportedLocalesOf('en', o)),
      }`)
  })

  it('refuses bad locales, options, arguments and receivers with the errors Node gives', async () => {
    await sameAsNode(`${H}
      const throwing = { get currency() { throw new RangeError('from a getter') } }
      return [
        name(() => new Intl.NumberFormat('en-US-!!')), name(() => new Intl.NumberFormat(['en', 5])), name(() => new Intl.NumberFormat(null)),
        name(() => new Intl.NumberFormat('en', { style: 'currency' })), name(() => new Intl.NumberFormat('en', { style: 'currency', currency: 'EURO' })),
        name(() => new Intl.NumberFormat('en', { maximumFractionDigits: 101 })), name(() => new Intl.NumberFormat('en', { minimumFractionDigits: 'x' })),
        name(() => new Intl.NumberFormat('en', { style: Symbol('s') })), name(() => new Intl.NumberFormat('en', { unit: 'parsec', style: 'unit' })),
        attempt(() => new Intl.NumberFormat('en', { style: 'currency', ...throwing })), name(() => new Intl.NumberFormat('en', null)),
        name(() => new Intl.DateTimeFormat('en', { timeZone: 'Nowhere/Land' })), name(() => new Intl.DateTimeFormat('en', { timeZone: 'x'.repeat(100000) })),
        name(() => new Intl.DateTimeFormat('en', { dateStyle: 'full', hour: 'numeric' })), name(() => new Intl.DateTimeFormat('en', { hour: 'often' })),
        name(() => new Intl.DateTimeFormat('en').formatRange(1)), name(() => new Intl.DateTimeFormat('en').format(8.64e15 + 1)),
        name(() => new Intl.Collator('en', { sensitivity: 'none' })), name(() => new Intl.PluralRules('en', { type: 'many' })),
        name(() => new Intl.RelativeTimeFormat('en').format(1, 'fortnight')), name(() => new Intl.RelativeTimeFormat('en').format(Infinity, 'day')),
        name(() => new Intl.ListFormat('en').format(['a', 5])), name(() => new Intl.ListFormat('en', 'short')), name(() => new Intl.Segmenter('en', { granularity: 'line' })),
        name(() => new Intl.DisplayNames('en')), name(() => new Intl.DisplayNames('en', { type: 'region' }).of('1')), name(() => Intl.PluralRules()),
        name(() => Intl.DateTimeFormat.prototype.resolvedOptions.call({})), name(() => Object.getOwnPropertyDescriptor(Intl.NumberFormat.prototype, 'format').get.call(5)),
        name(() => new Intl.Locale('en', { calendar: 'x' })), name(() => new Intl.Collator('en').compare.call(null, 'a', 'b')),
        typeof Intl.DateTimeFormat('en'), Intl.NumberFormat('en') instanceof Intl.NumberFormat, Object.prototype.toString.call(new Intl.Collator()),
        Object.prototype.toString.call(Intl), Intl.DateTimeFormat.name, Intl.DateTimeFormat.length, Intl.DisplayNames.length, Intl.Locale.length,
        Object.getOwnPropertyNames(Intl).sort(), new Intl.NumberFormat().format.name, new Intl.NumberFormat().format.length,
      ]`)
  })

  it('takes NUL and other odd characters in its strings', async () => {
    await sameAsNode(`${H}
      return [new Intl.ListFormat('en').format(['a\\0b', '\\0']), [...new Intl.Segmenter().segment('x\\0y')].map((s) => s.segment),
        'a\\0'.localeCompare('a'), new Intl.Collator('en').compare('\\0', ''), new Intl.DisplayNames('en', { type: 'language' }).of('en-\\u0130'.slice(0, 2)),
        '\\u{1F600}'.toLocaleUpperCase(), new Intl.NumberFormat('en', { style: 'unit', unit: 'percent' }).format(5)]`)
  })
})
