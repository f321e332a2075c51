// Strings between the guest and the host (src/sandbox/natives.ts): a guest string reaches the
// host's natives code unit for code unit, NUL and lone surrogates included, and the URL parser on
// the host sees exactly what the guest passed (the WHATWG URL standard refuses NUL in hosts).
import { afterEach, describe, expect, it } from 'vitest'
import { GuestHarness } from '../helpers/guest-harness.js'
import { sameAsNode } from '../helpers/same-as-node.js'

const open: GuestHarness[] = []
afterEach(() => {
  for (const h of open.splice(0)) h.dispose()
})

const TRICKY = [
  'a\u0000b',
  'x\ud800y',
  '\udc00\u0000\ud800',
  '\ud800\u0000a',
  'é\u0000😀',
  '\ufffd',
  'z'.repeat(300) + '\u0000',
]

describe('strings cross the FFI exactly', () => {
  it('a native receives every code unit: NUL, lone surrogates, U+FFFD', async () => {
    const received: string[] = []
    const h = await GuestHarness.create({ hooks: { secret: (name) => (received.push(name), name) } })
    open.push(h)
    const back = await h.evalAsync<boolean[]>(`
      const { secrets } = globalThis[Symbol.for('fnbox.host')]
      return ${JSON.stringify(TRICKY)}.map((s) => secrets.get(s) === s)
    `)
    expect(received).toEqual(TRICKY)
    expect(back).toEqual(TRICKY.map(() => true))
  })

  it('a log line keeps lone surrogates', async () => {
    const h = await GuestHarness.create()
    open.push(h)
    await h.evalAsync(`console.log('a\\ud800b'); console.log('\\udfff')`)
    expect(h.logs.map((l) => l.message)).toEqual(['a\ud800b', '\udfff'])
  })
})

describe('URL parsing sees NUL as it is', () => {
  it('refuses NUL in hosts, special or not, and percent-encodes it elsewhere', async () => {
    await sameAsNode(`
      const out = []
      for (const s of ['sc://a b/', 'sc://a\\0b/', 'http://a\\0b/', 'http://a/\\0x', 'non-spec:/\\0/x', '\\0http://h/ \\0', 'http://h/?\\0#\\0']) {
        out.push(URL.canParse(s) ? new URL(s).href : 'refused')
      }
      return out
    `)
  })

  it('setters refuse a host with NUL and keep the URL', async () => {
    await sameAsNode(`
      const out = []
      for (const base of ['http://example.com/', 'sc://x/', 'file:///p']) {
        for (const part of ['hostname', 'host']) {
          const u = new URL(base)
          u[part] = 'te\\0st'
          out.push(u.href)
        }
        const u = new URL(base)
        u.pathname = 'a\\0b'
        u.search = '\\0'
        u.hash = '\\0'
        u.username = '\\0'
        out.push(u.href)
      }
      return out
    `)
  })
})
