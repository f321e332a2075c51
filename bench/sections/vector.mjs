import { createRuntime } from 'fnbox'
import { report, pct } from '../shared.mjs'

// (f) vector top-10 on N x 384 clustered vectors (FNBOX_BENCH_VECTORS, default 50,000): p50/p99
// and recall against a brute force computed here, on PGlite in-process and through pg (PGlite
// served by pglite-socket: the local server has no pgvector).
export default async function benchVector() {
  const N = Number(process.env.FNBOX_BENCH_VECTORS ?? 50_000)
  const DIM = 384
  console.log(`\n(f) vector top-10 on ${N.toLocaleString('en-US')} x ${DIM} clustered vectors, recall vs brute force`)
  let seed = 42
  const rand = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31) * 2 - 1
  const unit = (v) => {
    const n = Math.hypot(...v)
    return v.map((x) => x / n)
  }
  const centres = Array.from({ length: 200 }, () => Array.from({ length: DIM }, rand))
  const near = (c) => unit(c.map((x) => x + rand() * 0.6))
  const items = Array.from({ length: N }, (_, i) => ({
    id: `v${i}`,
    values: near(centres[i % centres.length]).map((x) => Math.fround(x)),
    metadata: { group: i % 8, doc: i % 500 },
  }))
  const queries = Array.from({ length: 100 }, (_, i) => near(centres[(i * 7) % centres.length]))
  const dot = (a, b) => a.reduce((s, x, i) => s + x * b[i], 0)
  // The exact top-10 (ids), and every matching item's score, in doubles.
  const brute = (q, filter) => {
    const scored = items
      .filter((it) => !filter || Object.entries(filter).every(([k, v]) => it.metadata[k] === v))
      .map((it) => [it.id, dot(q, it.values)])
      .sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1))
    return { ids: scored.slice(0, 10).map(([id]) => id), scores: new Map(scored) }
  }
  // pgvector sums in single precision: two items whose exact scores are within ~1e-6 may come in
  // either order. The same items, in order up to such ties, is the exact result.
  const sameResult = (got, want) =>
    got.length === want.ids.length &&
    got.every((id, i) => id === want.ids[i] || Math.abs(want.scores.get(id) - want.scores.get(want.ids[i])) < 1e-6)
  const { PGlite } = await import('@electric-sql/pglite')
  const { vector } = await import('@electric-sql/pglite-pgvector')
  const { PGLiteSocketServer } = await import('@electric-sql/pglite-socket')
  const pgMod = await import('pg')
  const served = await PGlite.create({ extensions: { vector } })
  const server = new PGLiteSocketServer({ db: served, port: 0, host: '127.0.0.1' })
  await server.start()
  const port = Number(server.getServerConn().split(':').at(-1))
  const pool = new pgMod.default.Pool({ host: '127.0.0.1', port, user: 'postgres', database: 'postgres', max: 1 })
  const backends = [
    ['PGlite', { pglite: 'memory://' }],
    ['pg driver (pglite-socket)', { postgres: pool }],
  ]
  for (const [name, storage] of backends) {
    const runtime = await createRuntime({ threads: 1, storage, files: 'memory' })
    const t = performance.now()
    await runtime.vector.createIndex('bench', { dimensions: DIM, metric: 'cosine' })
    for (let i = 0; i < N; i += 500) await runtime.vector.upsert('bench', items.slice(i, i + 500))
    report('f', `${name}: load + HNSW build (s)`, (performance.now() - t) / 1000)
    // Unfiltered (HNSW), a filter matching 1/8 of the rows and one matching 1/500 (both exact).
    for (const [label, filterOf] of [
      ['unfiltered', () => undefined],
      ['filtered (1/8)', (i) => ({ group: i % 8 })],
      ['filtered (1/500)', (i) => ({ doc: (i * 37) % 500 })],
    ]) {
      const filtered = label !== 'unfiltered'
      const times = []
      let hits = 0
      let exact = 0
      for (const [i, q] of queries.entries()) {
        const filter = filterOf(i)
        const s0 = performance.now()
        const res = await runtime.vector.query('bench', { vector: q, topK: 10, filter })
        times.push(performance.now() - s0)
        const want = brute(q, filter)
        const got = res.map((m) => m.id)
        hits += got.filter((id) => want.ids.includes(id)).length
        if (sameResult(got, want)) exact++
      }
      times.sort((a, b) => a - b)
      report('f', `${name}: ${label} p50 (ms)`, pct(times, 50), undefined, '<= 20 ms')
      report('f', `${name}: ${label} p99 (ms)`, pct(times, 99))
      report(
        'f',
        `${name}: ${label} recall@10`,
        hits / (queries.length * 10),
        undefined,
        filtered ? '= 1 (exact)' : '>= 0.95',
      )
      if (filtered)
        report('f', `${name}: ${label} results equal to brute force`, exact / queries.length, undefined, '= 1')
    }
    await runtime.close()
  }
  await pool.end()
  await server.stop()
  await served.close()
}
