import { it } from 'vitest'
import { preludeSource, quickjs } from './helpers/guest-harness.js'
import { installNatives } from '../src/sandbox/natives.js'
it('cost', async () => {
  const src = await preludeSource()
  const mod = await quickjs()
  const hooks = { maxTransferBytes: 1e7, pump() {}, log() {}, setTimer: () => 1, clearTimer() {}, respond() {}, emitChunk: async () => {}, fetchStart: async () => { throw 1 }, fetchAbort() {}, bodyRead: async () => undefined, bodyCancel() {} } as any
  const used = (rt: any, ctx: any) => { const h = rt.computeMemoryUsage(); const v = ctx.dump(h).memory_used_size; h.dispose(); return v }
  const med = (a: number[]) => [...a].sort((x, y) => x - y)[a.length >> 1]!
  const T = { ctx: [] as number[], natives: [] as number[], prelude: [] as number[], streams: [] as number[], memEmpty: [] as number[], memNatives: [] as number[], memPrelude: [] as number[], memStreams: [] as number[] }
  for (let i = 0; i < 300; i++) {
    const t0 = performance.now()
    const rt = mod.newRuntime(); const ctx = rt.newContext()
    const t1 = performance.now()
    const memEmpty = used(rt, ctx)
    const t2 = performance.now()
    const n = installNatives(ctx, hooks)
    const t3 = performance.now()
    const memNatives = used(rt, ctx)
    const t4 = performance.now()
    ctx.unwrapResult(ctx.evalCode(src, 'fnbox:prelude')).dispose()
    const t5 = performance.now()
    const memPrelude = used(rt, ctx)
    const t6 = performance.now()
    ctx.unwrapResult(ctx.evalCode('ReadableStream', 'x')).dispose()
    const t7 = performance.now()
    const memStreams = used(rt, ctx)
    ctx.unwrapResult(ctx.evalCode('delete globalThis.__fnbox_entry', 'x')).dispose()
    if (i >= 200) {
      T.ctx.push(t1 - t0); T.natives.push(t3 - t2); T.prelude.push(t5 - t4); T.streams.push(t7 - t6)
      T.memEmpty.push(memEmpty); T.memNatives.push(memNatives); T.memPrelude.push(memPrelude); T.memStreams.push(memStreams)
    }
    n.dispose(); ctx.dispose(); rt.dispose()
  }
  console.log('bundle bytes', src.length, Object.fromEntries(Object.entries(T).map(([k, v]) => [k, +med(v).toFixed(3)])))
})
