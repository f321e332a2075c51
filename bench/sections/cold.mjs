import { createRuntime } from 'fnbox'
import { report, pct, rawModule } from '../shared.mjs'

// (c) cold start: deploy to first response, for a tiny function and a ~500 KB bundle.
export function bigBundle(targetBytes = 500 * 1024) {
  const parts = []
  let size = 0
  for (let i = 0; size < targetBytes; i++) {
    const part =
      `function helper${i}(input, options = {}) {\n` +
      `  const items = Array.isArray(input) ? input : [input]\n` +
      `  const out = items.map((item, index) => ({ index, value: String(item) + '${i}', size: options.size ?? ${i % 97} }))\n` +
      `  if (out.length > ${i % 13}) return out.slice(0, ${i % 13}).concat({ tail: out.length })\n` +
      `  return out.filter((x) => x.value.length % 2 === ${i % 2} || options.keepAll)\n` +
      `}\n` +
      `const table${i} = { id: ${i}, name: 'entry-${i}', flags: [${i % 3}, ${i % 5}, ${i % 7}], run: helper${i} }\n`
    parts.push(part)
    size += part.length
  }
  const count = parts.length
  parts.push(`const registry = [${Array.from({ length: count }, (_, i) => `table${i}`).join(',')}]\n`)
  parts.push(`export default { fetch: () => new Response(String(registry.length)) }\n`)
  return parts.join('')
}

export default async function benchCold() {
  console.log('\n(c) cold start: deploy() to first response (deploy creates the first instance)')
  const big = bigBundle()
  const tiny = `export default { fetch: () => new Response('hi') }`
  // Baseline: a fresh raw QuickJS module + runtime + context evaluating the same source.
  const rawCold = async (code) => {
    const s = performance.now()
    const qjs = await rawModule(128)
    const rt = qjs.newRuntime()
    const ctx = rt.newContext()
    ctx.unwrapResult(ctx.evalCode(code, 'f.js', { type: 'module' })).dispose()
    const ms = performance.now() - s
    ctx.dispose()
    rt.dispose()
    return ms
  }
  const runtime = await createRuntime()
  // blank: a thread has its blank engine ready (the usual case; the pause before each deploy,
  // outside the timed part, lets it refill). none: memoryMb differs from the runtime default, so
  // no blank fits and the deploy creates its module, runtime, context and prelude itself.
  const measure = async (label, code, reps, blank) => {
    const ours = []
    const base = []
    for (let i = 0; i < reps; i++) {
      await new Promise((r) => setTimeout(r, blank ? 150 : 20))
      const s = performance.now()
      await runtime.deploy(`cold${i}`, {
        code: code + `\n// ${label} ${i} ${Math.random()}`,
        limits: blank ? undefined : { memoryMb: 64 },
      })
      const res = await runtime.fetch(new Request(`http://x/cold${i}`))
      await res.text()
      ours.push(performance.now() - s)
      base.push(await rawCold(code + `\n// ${i}`))
      await runtime.undeploy(`cold${i}`)
    }
    ours.sort((a, b) => a - b)
    base.sort((a, b) => a - b)
    return [pct(ours, 50), pct(base, 50)]
  }
  const [tinyOurs, tinyBase] = await measure('tiny', tiny, 20, true)
  report('c', 'tiny function, blank ready: deploy -> 1st response p50 (ms)', tinyOurs, tinyBase, '<= 5 ms')
  const [tinyCold, tinyColdBase] = await measure('tiny', tiny, 20, false)
  report('c', 'tiny function, no blank: deploy -> 1st response p50 (ms)', tinyCold, tinyColdBase)
  const [bigOurs, bigBase] = await measure('big', big, 8, true)
  report('c', `${Math.round(big.length / 1024)} KB bundle, blank ready: deploy -> 1st response (ms)`, bigOurs, bigBase)
  await runtime.close()
}
