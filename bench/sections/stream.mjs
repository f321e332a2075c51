import express from 'express'
import { createRuntime } from 'fnbox'
import { report, pct } from '../shared.mjs'

// (h) a streamed chat completion: time to first byte and total time at an HTTP client, through
// Express + fnbox (the examples/ai-chat functions, bundled from TypeScript) against the same SDK code
// bundled for Node and called from a plain Express handler; the same local mock server answers both.
export default async function benchStream() {
  console.log(
    '\n(h) streamed completion (examples/ai-chat) via Express: fnbox vs the same SDK code run directly in Node',
  )
  const esbuild = await import('esbuild')
  const { startMockOpenAI } = await import('../../examples/ai-chat/mock-openai.mjs')
  const { mkdtemp, writeFile, rm } = await import('node:fs/promises')
  const { tmpdir } = await import('node:os')
  const { join } = await import('node:path')
  const TOKENS = Array.from({ length: 16 }, (_, i) => ` token${i}`)
  const DELAY = 2
  const mock = await startMockOpenAI({ tokens: TOKENS, delayMs: DELAY })
  const secrets = { OPENAI_API_KEY: 'sk-bench', OPENAI_BASE_URL: mock.url }
  const dir = await mkdtemp(join(tmpdir(), 'fnbox-bench-'))
  const runtime = await createRuntime({
    storage: 'memory',
    secrets: { key: 'ab'.repeat(32) },
    allowedHosts: [mock.host],
  })
  for (const [k, v] of Object.entries(secrets)) await runtime.secrets.set(k, v)
  const app = express()
  app.use('/fn', runtime.express())
  const nodeFns = {}
  app.post('/node/:name', async (req, res) => {
    const response = await nodeFns[req.params.name].fetch(
      new Request(`http://local${req.url}`, { method: 'POST', body: req, duplex: 'half', headers: req.headers }),
    )
    res.writeHead(response.status, Object.fromEntries(response.headers))
    for await (const chunk of response.body) res.write(chunk)
    res.end()
  })
  const server = app.listen(0, '127.0.0.1')
  await new Promise((r) => server.once('listening', r))
  const base = `http://127.0.0.1:${server.address().port}`
  const once = async (url) => {
    const s = performance.now()
    const res = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"prompt":"hi"}',
    })
    const reader = res.body.getReader()
    let ttfb
    let text = ''
    const decoder = new TextDecoder()
    for (;;) {
      const { done, value } = await reader.read()
      if (done) break
      ttfb ??= performance.now() - s
      text += decoder.decode(value, { stream: true })
    }
    if (text !== TOKENS.join('')) throw new Error(`bad answer from ${url}: ${text.slice(0, 80)}`)
    return [ttfb, performance.now() - s]
  }
  // Node and fnbox requests alternate, so drift on the machine (other work, CPU frequency) falls
  // on both alike; the added time is the median of the per-pair differences.
  const paired = async (nodeUrl, fnUrl, n) => {
    for (let i = 0; i < 10; i++) {
      await once(nodeUrl)
      await once(fnUrl)
    }
    const rows = { node: { ttfb: [], total: [] }, fn: { ttfb: [], total: [] } }
    const added = []
    for (let i = 0; i < n; i++) {
      const first = i % 2 ? 'fn' : 'node'
      const out = {}
      for (const side of first === 'fn' ? ['fn', 'node'] : ['node', 'fn']) {
        out[side] = await once(side === 'fn' ? fnUrl : nodeUrl)
        rows[side].ttfb.push(out[side][0])
        rows[side].total.push(out[side][1])
      }
      added.push(out.fn[0] - out.node[0])
    }
    const p50 = (a) =>
      pct(
        a.slice().sort((x, y) => x - y),
        50,
      )
    return {
      node: { ttfb: p50(rows.node.ttfb), total: p50(rows.node.total) },
      ours: { ttfb: p50(rows.fn.ttfb), total: p50(rows.fn.total) },
      added: p50(added),
    }
  }
  for (const [name, file] of [
    ['openai', 'openai-chat.ts'],
    ['aisdk', 'ai-sdk-chat.ts'],
  ]) {
    const entry = new URL(`../../examples/ai-chat/functions/${file}`, import.meta.url).pathname
    await runtime.deploy(name, {
      entry,
      bundle: { minify: true },
      secrets: Object.keys(secrets),
      pool: { min: 1, max: 1 },
    })
    // The same entry for Node, with fnbox:host's secrets served from the map above.
    const built = await esbuild.build({
      entryPoints: [entry],
      bundle: true,
      write: false,
      format: 'esm',
      platform: 'node',
      banner: { js: "import { createRequire } from 'node:module'; const require = createRequire(import.meta.url);" },
      plugins: [
        {
          name: 'host',
          setup(b) {
            b.onResolve({ filter: /^fnbox:host$/ }, () => ({ path: 'host', namespace: 'host' }))
            b.onLoad({ filter: /.*/, namespace: 'host' }, () => ({
              contents: `const values = ${JSON.stringify(secrets)}; export const secrets = { get: (n) => values[n] }`,
            }))
          },
        },
      ],
    })
    const file2 = join(dir, `${name}.mjs`)
    await writeFile(file2, built.outputFiles[0].text)
    nodeFns[name] = (await import(file2)).default
    const { node, ours, added } = await paired(`${base}/node/${name}`, `${base}/fn/${name}`, 60)
    const label = name === 'openai' ? 'OpenAI SDK' : 'AI SDK streamText'
    report('h', `${label}: time to first byte p50 (ms)`, ours.ttfb, node.ttfb)
    report('h', `${label}: TTFB added by fnbox, median of paired requests (ms)`, added, undefined, '<= 5 ms')
    report('h', `${label}: total time p50 (ms)`, ours.total, node.total)
  }
  server.close()
  await runtime.close()
  await mock.close()
  await rm(dir, { recursive: true, force: true })
}
