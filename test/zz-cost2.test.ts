import { it } from 'vitest'
import { preludeSource, quickjs } from './helpers/guest-harness.js'
import { installNatives } from '../src/sandbox/natives.js'
it('cost2', async () => {
  const src = await preludeSource()
  const mod = await quickjs()
  const i0 = src.indexOf("'/**\\n * @license"), i1 = src.indexOf("'", i0 + 1 + 100000 > 0 ? i0 + 1 : 0)
  const strStart = src.indexOf("var ") 
  const variants: Record<string, string> = {
    full: src,
    bigString: 'var x = ' + JSON.stringify('a'.repeat(66000)),
    parseOnly: '(function(){' + src + '})',
  }
  const med = (a: number[]) => [...a].sort((x, y) => x - y)[a.length >> 1]!.toFixed(2)
  for (const [name, code] of Object.entries(variants)) {
    const t: number[] = [], tn: number[] = []
    for (let i = 0; i < 30; i++) {
      const rt = mod.newRuntime(); const ctx = rt.newContext()
      const t0 = performance.now()
      const n = installNatives(ctx, { maxTransferBytes: 1e6, pump() {}, log() {}, setTimer: () => 1, clearTimer() {}, respond() {}, emitChunk: async () => {}, fetchStart: async () => { throw 1 }, fetchAbort() {}, bodyRead: async () => undefined, bodyCancel() {} } as any)
      tn.push(performance.now() - t0)
      const t1 = performance.now()
      const r = ctx.evalCode(code, 'x.js'); if (r.error) { console.log(ctx.dump(r.error)); r.error.dispose() } else r.value.dispose()
      t.push(performance.now() - t1)
      n.dispose(); ctx.dispose(); rt.dispose()
    }
    console.log(name, 'natives', med(tn), 'eval', med(t))
  }
})
