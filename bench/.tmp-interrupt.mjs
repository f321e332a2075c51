// Engine parity probe: the same bundle in raw QuickJS with and without an interrupt handler that
// does what fnbox's does (Date.now, performance.now, a counter), interleaved call by call.
import { bundle } from 'fnbox'
import { rawModule } from './shared.mjs'
const ROOT = new URL('../', import.meta.url).pathname
const real = (await bundle('bench/fixtures/real-bundle.mjs', { cwd: ROOT })).code
const ORDER = {
  id: 7,
  customer: { name: 'Ada', email: 'ada@example.com' },
  lines: [
    { sku: 'a-1', qty: 2, price: 9.5 },
    { sku: 'b-2', qty: 1, price: 120 },
    { sku: 'c-3', qty: 5, price: 1.25 },
  ],
  tags: ['priority'],
}
const median = (xs) => xs.toSorted((a, b) => a - b)[xs.length >> 1]
function ctxOf(qjs, handler) {
  const rt = qjs.newRuntime()
  if (handler) rt.setInterruptHandler(handler)
  const ctx = rt.newContext()
  const ns = ctx.unwrapResult(ctx.evalCode(real, 'f.js', { type: 'module' }))
  ctx.setProp(ctx.global, '__ns', ns)
  ns.dispose()
  const fn = ctx.unwrapResult(ctx.evalCode(`(json) => JSON.stringify(__ns.run(...JSON.parse(json)))`))
  return (json) => {
    const a = ctx.newString(json)
    const o = ctx.unwrapResult(ctx.callFunction(fn, ctx.undefined, a))
    ctx.getString(o)
    o.dispose()
    a.dispose()
  }
}
const qjs = await rawModule(128)
let polls = 0
const deadline = Date.now() + 1e9
const plain = ctxOf(qjs)
const hooked = ctxOf(qjs, () => {
  polls++
  if (Date.now() >= deadline) return true
  return performance.now() < 0
})
const json = JSON.stringify([ORDER])
const t = (f) => {
  const s = performance.now()
  f(json)
  return (performance.now() - s) * 1000
}
const ratios = []
for (let r = 0; r < 5; r++) {
  const a = [],
    b = []
  polls = 0
  for (let i = 0; i < 1500; i++) {
    a.push(t(plain))
    b.push(t(hooked))
  }
  if (r) ratios.push(median(b) / median(a))
  console.log(
    `round ${r}: plain ${median(a).toFixed(1)} us, with handler ${median(b).toFixed(1)} us, polls per call ${(polls / 1500).toFixed(1)}`,
  )
}
console.log('ratio with handler / without:', ratios.map((x) => x.toFixed(3)).join(', '))
