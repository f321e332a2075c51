import { it } from 'vitest'
import { GuestHarness } from './helpers/guest-harness.js'
it('bench', async () => {
  const h = await GuestHarness.create()
  for (let round = 0; round < 4; round++) {
  const r = await h.evalAsync(`
    const t = (name, n, f) => { const s = performance.now(); for (let i = 0; i < n; i++) f(i); return [name, ((performance.now() - s) / n * 1000).toFixed(2) + 'us'] }
    const enc = new TextEncoder(), dec = new TextDecoder()
    const small = enc.encode('hello world')
    const big = 'x'.repeat(100000)
    return [
      t('encode small', 5000, () => enc.encode('hello world')),
      t('decode small', 5000, () => dec.decode(small)),
      t('encode 100k', 50, () => enc.encode(big)),
      t('url', 2000, () => new URL('https://example.com/a/b?c=d#e')),
      t('headers', 2000, () => new Headers({ a: '1', b: '2', 'content-type': 'x' })),
      t('response', 2000, () => new Response('body', { status: 201, headers: { a: 'b' } })),
      t('request', 2000, () => new Request('https://example.com/x', { method: 'POST', body: 'x' })),
      t('json resp', 2000, () => Response.json({ a: 1 })),
      t('format', 2000, () => JSON.stringify({ a: 1 })),
      t('uuid', 2000, () => crypto.randomUUID()),
      t('btoa 3k', 200, () => btoa('\\0'.repeat(3000))),
      t('btoa 3k nonul', 200, () => btoa('a'.repeat(3000))),
      t('repeat', 200, () => '\\0'.repeat(3000)),
      t('noop', 5000, () => 0),
      t('getRandom', 2000, () => crypto.getRandomValues(new Uint8Array(16))),
      t('perfnow', 2000, () => performance.now()),
    ]
  `)
  if (round === 3) console.log(r)
  }
  h.dispose()
})
