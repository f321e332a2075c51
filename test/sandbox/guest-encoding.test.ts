// TextDecoder (and TextDecoderStream) against the Encoding Standard
// (https://encoding.spec.whatwg.org/): its label table, its decoders' answers for the bytes where
// Node 20's ICU decoders differ from the standard (windows-1252 is latin1 there, big5 and euc-kr
// map other code points, iso-8859-16 and x-user-defined are missing), streaming across every
// chunk boundary, fatal mode and BOM handling. Whole byte ranges are compared with @exodus/bytes
// run in Node, the library the guest's decoders come from (its tables are checked against the
// standard's index files by its own tests): this checks how the guest loads, wraps and streams it.
import { TextDecoder as Reference } from '@exodus/bytes/encoding.js'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { GuestHarness } from '../helpers/guest-harness.js'

/** The standard's encodings and their labels (https://encoding.spec.whatwg.org/#names-and-labels). */
const LABELS: Record<string, string> = {
  'utf-8': 'utf-8 unicode-1-1-utf-8 unicode11utf8 unicode20utf8 utf8 x-unicode20utf8',
  'utf-16be': 'utf-16be unicodefffe',
  'utf-16le': 'utf-16le csunicode iso-10646-ucs-2 ucs-2 unicode unicodefeff utf-16',
  'iso-8859-2': 'iso-8859-2 iso-ir-101 iso_8859-2:1987 iso8859-2 iso88592 iso_8859-2 csisolatin2 l2 latin2',
  'iso-8859-3': 'iso-8859-3 iso-ir-109 iso_8859-3:1988 iso8859-3 iso88593 iso_8859-3 csisolatin3 l3 latin3',
  'iso-8859-4': 'iso-8859-4 iso-ir-110 iso_8859-4:1988 iso8859-4 iso88594 iso_8859-4 csisolatin4 l4 latin4',
  'iso-8859-5': 'iso-8859-5 csisolatincyrillic cyrillic iso-ir-144 iso_8859-5:1988 iso8859-5 iso88595 iso_8859-5',
  'iso-8859-6':
    'iso-8859-6 arabic asmo-708 csiso88596e csiso88596i csisolatinarabic ecma-114 iso-8859-6-e iso-8859-6-i iso-ir-127 iso_8859-6:1987 iso8859-6 iso88596 iso_8859-6',
  'iso-8859-7':
    'iso-8859-7 csisolatingreek ecma-118 elot_928 greek greek8 iso-ir-126 sun_eu_greek iso_8859-7:1987 iso8859-7 iso88597 iso_8859-7',
  'iso-8859-8':
    'iso-8859-8 csiso88598e csisolatinhebrew hebrew iso-8859-8-e iso-ir-138 visual iso_8859-8:1988 iso8859-8 iso88598 iso_8859-8',
  'iso-8859-8-i': 'iso-8859-8-i csiso88598i logical',
  'iso-8859-16': 'iso-8859-16',
  'koi8-r': 'koi8-r cskoi8r koi koi8 koi8_r',
  'koi8-u': 'koi8-u koi8-ru',
  'windows-874': 'windows-874 dos-874 iso-8859-11 iso8859-11 iso885911 tis-620',
  ibm866: 'ibm866 866 cp866 csibm866',
  'x-mac-cyrillic': 'x-mac-cyrillic x-mac-ukrainian',
  macintosh: 'macintosh csmacintosh mac x-mac-roman',
  gbk: 'gbk chinese csgb2312 csiso58gb231280 gb2312 gb_2312 gb_2312-80 iso-ir-58 x-gbk',
  gb18030: 'gb18030',
  big5: 'big5 big5-hkscs cn-big5 csbig5 x-x-big5',
  'euc-jp': 'euc-jp cseucpkdfmtjapanese x-euc-jp',
  shift_jis: 'shift_jis csshiftjis ms932 ms_kanji shift-jis sjis windows-31j x-sjis',
  'euc-kr': 'euc-kr cseuckr csksc56011987 iso-ir-149 korean ks_c_5601-1987 ks_c_5601-1989 ksc5601 ksc_5601 windows-949',
  'iso-2022-jp': 'iso-2022-jp csiso2022jp',
  replacement: 'replacement csiso2022kr hz-gb-2312 iso-2022-cn iso-2022-cn-ext iso-2022-kr',
  'x-user-defined': 'x-user-defined',
  'iso-8859-10': 'iso-8859-10 iso8859-10 iso885910 csisolatin6 iso-ir-157 l6 latin6',
  'iso-8859-13': 'iso-8859-13 iso8859-13 iso885913',
  'iso-8859-14': 'iso-8859-14 iso8859-14 iso885914',
  'iso-8859-15': 'iso-8859-15 iso8859-15 iso885915 csisolatin9 iso_8859-15 l9',
  'windows-1250': 'windows-1250 cp1250 x-cp1250',
  'windows-1251': 'windows-1251 cp1251 x-cp1251',
  'windows-1252':
    'windows-1252 cp1252 x-cp1252 ansi_x3.4-1968 ascii cp819 csisolatin1 ibm819 iso-8859-1 iso-ir-100 iso8859-1 iso88591 iso_8859-1 iso_8859-1:1987 l1 latin1 us-ascii',
  'windows-1253': 'windows-1253 cp1253 x-cp1253',
  'windows-1254':
    'windows-1254 cp1254 x-cp1254 csisolatin5 iso-8859-9 iso-ir-148 iso8859-9 iso88599 iso_8859-9 iso_8859-9:1989 l5 latin5',
  'windows-1255': 'windows-1255 cp1255 x-cp1255',
  'windows-1256': 'windows-1256 cp1256 x-cp1256',
  'windows-1257': 'windows-1257 cp1257 x-cp1257',
  'windows-1258': 'windows-1258 cp1258 x-cp1258',
}
const MULTIBYTE = ['gbk', 'gb18030', 'big5', 'euc-jp', 'iso-2022-jp', 'shift_jis', 'euc-kr']
const SINGLE_BYTE = Object.keys(LABELS).filter(
  (e) => !MULTIBYTE.includes(e) && !['utf-8', 'utf-16le', 'utf-16be', 'replacement'].includes(e),
)

let h: GuestHarness
beforeAll(async () => {
  h = await GuestHarness.create()
})
afterAll(() => h.dispose())

const run = <T = unknown>(body: string): Promise<T> => h.evalAsync<T>(body, 20_000)

/** Code points of a string, as hex (readable diffs). */
const points = (s: string): string[] => Array.from(s, (c) => c.codePointAt(0)!.toString(16))

describe('labels', () => {
  it('every label of the standard names its encoding, in any ASCII case; replacement labels are refused', async () => {
    const got = await run<Record<string, string>>(`
      const labels = ${JSON.stringify(LABELS)}
      const out = {}
      for (const [name, list] of Object.entries(labels)) {
        for (const label of list.split(' ')) {
          for (const l of [label, label.toUpperCase()]) {
            try { out[l] = new TextDecoder(l).encoding } catch (e) { out[l] = e.name }
          }
        }
      }
      return out`)
    const expected: Record<string, string> = {}
    for (const [name, list] of Object.entries(LABELS)) {
      for (const label of list.split(' ')) {
        expected[label] = expected[label.toUpperCase()] = name === 'replacement' ? 'RangeError' : name
      }
    }
    expect(got).toEqual(expected)
  })

  it('strips ASCII whitespace around a label, and only that', async () => {
    expect(
      await run(`
        const out = {}
        for (const ws of ['\\t', '\\n', '\\f', '\\r', ' ', '\\v', '\\u00a0', '\\u2028', '\\0']) {
          for (const label of ['utf-8', 'latin1', 'shift_jis']) {
            try { out[label + ' ' + JSON.stringify(ws)] = new TextDecoder(ws + label + ws).encoding } catch (e) { out[label + ' ' + JSON.stringify(ws)] = e.name }
          }
        }
        try { new TextDecoder('\\u212Aoi8-r') } catch (e) { out.kelvin = e.name }
        try { new TextDecoder('utf-8', 5) } catch (e) { out.options = e.name }
        return out`),
    ).toEqual({
      ...Object.fromEntries(
        ['\t', '\n', '\f', '\r', ' '].flatMap((ws) => [
          [`utf-8 ${JSON.stringify(ws)}`, 'utf-8'],
          [`latin1 ${JSON.stringify(ws)}`, 'windows-1252'],
          [`shift_jis ${JSON.stringify(ws)}`, 'shift_jis'],
        ]),
      ),
      ...Object.fromEntries(
        ['\v', '\u00a0', '\u2028', '\0'].flatMap((ws) =>
          ['utf-8', 'latin1', 'shift_jis'].map((l) => [`${l} ${JSON.stringify(ws)}`, 'RangeError']),
        ),
      ),
      kelvin: 'RangeError',
      options: 'TypeError',
    })
  })
})

describe('single-byte encodings', () => {
  it('decode every byte as the standard says, where Node 20 does not', async () => {
    expect(
      await run(`
        const one = (enc, ...bytes) => Array.from(new TextDecoder(enc).decode(new Uint8Array(bytes)), (c) => c.codePointAt(0).toString(16))
        return {
          windows1252: one('windows-1252', 0x80, 0x81, 0x92, 0x9f, 0xff),
          ascii: one('ascii', 0x80),
          koi8u: one('koi8-u', 0xae, 0xbe),
          ibm866: one('ibm866', 0x1a, 0x1c, 0x7f),
          windows874: one('windows-874', 0xdb, 0xfc),
          windows1253: one('windows-1253', 0xaa),
          windows1255: one('windows-1255', 0xca),
          iso885916: one('iso-8859-16', 0xa1, 0xa4),
          userDefined: one('x-user-defined', 0x41, 0x80, 0xff),
          fatal: [0xaa, 0x41].map((b) => { try { return new TextDecoder('windows-1253', { fatal: true }).decode(new Uint8Array([b])) } catch (e) { return e.name } }),
        }`),
    ).toEqual({
      windows1252: ['20ac', '81', '2019', '178', 'ff'],
      ascii: ['20ac'],
      koi8u: ['45e', '40e'],
      ibm866: ['1a', '1c', '7f'],
      windows874: ['fffd', 'fffd'],
      windows1253: ['fffd'],
      windows1255: ['5ba'],
      iso885916: ['104', '20ac'],
      userDefined: ['41', 'f780', 'f7ff'],
      fatal: ['TypeError', 'A'],
    })
  })

  it('give the reference decoders answer for all 256 bytes of each, and fatal mode refuses unmapped bytes', async () => {
    const got = await run<Record<string, string | string[]>>(`
      const all = new Uint8Array(256).map((_, i) => i)
      const out = {}
      for (const enc of ${JSON.stringify(SINGLE_BYTE)}) {
        out[enc] = new TextDecoder(enc).decode(all)
        try { new TextDecoder(enc, { fatal: true }).decode(all); out[enc + ' fatal'] = 'ok' } catch (e) { out[enc + ' fatal'] = e.name }
      }
      return out`)
    const all = new Uint8Array(256).map((_, i) => i)
    for (const enc of SINGLE_BYTE) {
      const reference = new Reference(enc).decode(all)
      expect(points(got[enc] as string), enc).toEqual(points(reference))
      expect(got[`${enc} fatal`], enc).toBe(reference.includes('\ufffd') ? 'TypeError' : 'ok')
    }
  })
})

/** Every two-byte sequence with a lead byte from 0x81 and a trail from 0x30, one after another. */
function pairs(): Uint8Array {
  const out: number[] = []
  for (let lead = 0x81; lead <= 0xfe; lead++) for (let trail = 0x30; trail <= 0xfe; trail++) out.push(lead, trail)
  return Uint8Array.from(out)
}

describe('multi-byte encodings', () => {
  it('decode the standard examples, where Node 20 does not', async () => {
    expect(
      await run(`
        const one = (enc, ...bytes) => Array.from(new TextDecoder(enc).decode(new Uint8Array(bytes)), (c) => c.codePointAt(0).toString(16))
        return {
          big5: one('big5', 0x81, 0x40, 0x87, 0x40, 0x88, 0x62, 0xa4, 0x40),
          eucKr: one('euc-kr', 0x81, 0x41, 0xb0, 0xa1),
          eucJp: one('euc-jp', 0x81, 0x21, 0xa4, 0xa2, 0x8e, 0xb1),
          shiftJis: one('shift_jis', 0x82, 0xa0, 0x81, 0x7f, 0xa1),
          gb18030: one('gb18030', 0x81, 0x30, 0x81, 0x30, 0xa1, 0xa1, 0x80, 0x84, 0x31, 0xa4, 0x39),
          gbk: one('gbk', 0x80, 0xa1, 0xa1),
          iso2022jp: one('iso-2022-jp', 0x1b, 0x24, 0x42, 0x30, 0x21, 0x1b, 0x28, 0x49, 0x21, 0x1b, 0x28, 0x42, 0x41),
        }`),
    ).toEqual({
      big5: ['fffd', '40', '43f0', 'ca', '304', '4e00'],
      eucKr: ['ac02', 'ac00'],
      eucJp: ['fffd', '21', '3042', 'ff71'],
      shiftJis: ['3042', 'fffd', '7f', 'ff61'],
      gb18030: ['80', '3000', '20ac', 'ffff'],
      gbk: ['20ac', '3000'],
      iso2022jp: ['4e9c', 'ff61', '41'],
    })
  })

  it('give the reference decoders answer for every two-byte sequence of each', async () => {
    const bytes = pairs()
    const got = await run<Record<string, string>>(`
      const bytes = new Uint8Array(${JSON.stringify(Array.from(bytes))})
      const out = {}
      for (const enc of ${JSON.stringify(MULTIBYTE)}) out[enc] = new TextDecoder(enc).decode(bytes)
      return out`)
    for (const enc of MULTIBYTE) expect(got[enc] === new Reference(enc).decode(bytes), enc).toBe(true)
  })
})

/** Text every encoding can hold (with ASCII between), as bytes of that encoding. */
const SAMPLES: Record<string, number[]> = {
  'utf-8': Array.from(new TextEncoder().encode('a€😀bあ')),
  'utf-16le': [0x61, 0, 0x3d, 0xd8, 0x00, 0xde, 0x42, 0x30, 0x62, 0],
  'utf-16be': [0, 0x61, 0xd8, 0x3d, 0xde, 0x00, 0x30, 0x42, 0, 0x62],
  'windows-1252': [0x61, 0x80, 0xe9, 0x62],
  gb18030: [0x61, 0x81, 0x30, 0x81, 0x30, 0xa1, 0xa1, 0x84, 0x31, 0xa4, 0x39, 0x62],
  big5: [0x61, 0x88, 0x62, 0xa4, 0x40, 0x62],
  'euc-jp': [0x61, 0xa4, 0xa2, 0x8f, 0xb0, 0xa1, 0x8e, 0xb1, 0x62],
  'iso-2022-jp': [0x61, 0x1b, 0x24, 0x42, 0x30, 0x21, 0x1b, 0x28, 0x49, 0x21, 0x1b, 0x28, 0x42, 0x62],
  shift_jis: [0x61, 0x82, 0xa0, 0xa1, 0x62],
  'euc-kr': [0x61, 0xb0, 0xa1, 0x81, 0x41, 0x62],
}

describe('streaming', () => {
  it('decode({ stream: true }) cut at every byte boundary gives the one-shot answer, for each encoding', async () => {
    const got = await run<Record<string, { whole: string; cuts: string[]; three: string[] }>>(`
      const samples = ${JSON.stringify(SAMPLES)}
      const out = {}
      for (const [enc, list] of Object.entries(samples)) {
        const bytes = new Uint8Array(list)
        const whole = new TextDecoder(enc).decode(bytes)
        const cuts = []
        const three = []
        const d = new TextDecoder(enc)
        for (let i = 0; i <= bytes.length; i++) {
          cuts.push(d.decode(bytes.subarray(0, i), { stream: true }) + d.decode(bytes.subarray(i)))
          for (let j = i; j <= bytes.length; j++) {
            three.push(d.decode(bytes.subarray(0, i), { stream: true }) + d.decode(bytes.subarray(i, j), { stream: true }) + d.decode(bytes.subarray(j)))
          }
        }
        out[enc] = { whole, cuts, three }
      }
      return out`)
    for (const [enc, bytes] of Object.entries(SAMPLES)) {
      const whole = new Reference(enc).decode(Uint8Array.from(bytes))
      expect(got[enc]!.whole, enc).toBe(whole)
      expect(whole, enc).not.toContain('\ufffd')
      expect(new Set(got[enc]!.cuts), enc).toEqual(new Set([whole]))
      expect(new Set(got[enc]!.three), enc).toEqual(new Set([whole]))
    }
  })

  it('TextDecoderStream decodes each encoding across chunks, and flushes an unfinished sequence', async () => {
    const got = await run<Record<string, string>>(`
      const samples = ${JSON.stringify(SAMPLES)}
      const out = {}
      for (const [enc, list] of Object.entries(samples)) {
        const chunks = list.map((b) => new Uint8Array([b]))
        let text = ''
        for await (const s of ReadableStream.from(chunks).pipeThrough(new TextDecoderStream(enc))) text += s
        out[enc] = text
      }
      let cut = ''
      for await (const s of ReadableStream.from([new Uint8Array([0x61, 0x82])]).pipeThrough(new TextDecoderStream('shift_jis'))) cut += s
      out.cut = cut
      const fatal = new TextDecoderStream('euc-kr', { fatal: true })
      out.fatal = [fatal.encoding, fatal.fatal, fatal.ignoreBOM].join()
      try { for await (const s of ReadableStream.from([new Uint8Array([0xb0])]).pipeThrough(fatal)) cut += s } catch (e) { out.fatalError = e.name }
      return out`)
    for (const [enc, bytes] of Object.entries(SAMPLES)) {
      expect(got[enc], enc).toBe(new Reference(enc).decode(Uint8Array.from(bytes)))
    }
    expect(got.cut).toBe('a\ufffd')
    expect(got.fatal).toBe('euc-kr,true,false')
    expect(got.fatalError).toBe('TypeError')
  })
})

describe('errors and byte order marks', () => {
  it('fatal decoders throw TypeError naming the encoding; lenient ones replace', async () => {
    expect(
      await run(`
        const out = {}
        const bad = { 'utf-16le': [0x00, 0xd8], 'utf-16be': [0xdc, 0x00, 0x00], 'shift_jis': [0x82], 'euc-kr': [0xb0, 0x20], 'iso-2022-jp': [0x1b, 0x41], 'big5': [0x80] }
        for (const [enc, list] of Object.entries(bad)) {
          const bytes = new Uint8Array(list)
          out[enc] = Array.from(new TextDecoder(enc).decode(bytes), (c) => c.codePointAt(0).toString(16))
          try { new TextDecoder(enc, { fatal: true }).decode(bytes) } catch (e) { out[enc].push(e.name + ': ' + e.message) }
        }
        return out`),
    ).toEqual({
      'utf-16le': ['fffd', 'TypeError: The encoded data was not valid for encoding utf-16le'],
      'utf-16be': ['fffd', 'fffd', 'TypeError: The encoded data was not valid for encoding utf-16be'],
      shift_jis: ['fffd', 'TypeError: The encoded data was not valid for encoding shift_jis'],
      'euc-kr': ['fffd', '20', 'TypeError: The encoded data was not valid for encoding euc-kr'],
      'iso-2022-jp': ['fffd', '41', 'TypeError: The encoded data was not valid for encoding iso-2022-jp'],
      big5: ['fffd', 'TypeError: The encoded data was not valid for encoding big5'],
    })
  })

  // The third decode continues the stream the first two began: its BOM was seen already.
  it('UTF-16 strips its own BOM once per stream unless ignoreBOM; other encodings keep bytes as they are', async () => {
    expect(
      await run(`
        const le = new Uint8Array([0xff, 0xfe, 0x61, 0x00])
        const be = new Uint8Array([0xfe, 0xff, 0x00, 0x61])
        const cp = (s) => Array.from(s, (c) => c.codePointAt(0).toString(16))
        const d = new TextDecoder('utf-16le')
        return {
          le: cp(new TextDecoder('utf-16le').decode(le)),
          be: cp(new TextDecoder('utf-16be').decode(be)),
          keep: cp(new TextDecoder('utf-16le', { ignoreBOM: true }).decode(le)),
          foreign: cp(new TextDecoder('utf-16le').decode(be)),
          streamed: [d.decode(le.subarray(0, 1), { stream: true }), d.decode(le.subarray(1), { stream: true }), d.decode(le)].map(cp),
          latin1: cp(new TextDecoder('latin1').decode(new Uint8Array([0xef, 0xbb, 0xbf]))),
        }`),
    ).toEqual({
      le: ['61'],
      be: ['61'],
      keep: ['feff', '61'],
      foreign: ['fffe', '6100'],
      streamed: [[], ['61'], ['feff', '61']],
      latin1: ['ef', 'bb', 'bf'],
    })
  })
})
