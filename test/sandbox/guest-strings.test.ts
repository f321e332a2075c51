// Strings between the guest and the host (src/sandbox/natives.ts): a guest string reaches the
// host's natives code unit for code unit, NUL and lone surrogates included (see guest-url.test.ts
// for what that means to the URL parser on the host).
import { afterEach, describe, expect, it } from 'vitest'
import { GuestHarness } from '../helpers/guest-harness.js'

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
