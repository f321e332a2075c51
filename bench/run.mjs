// fnbox benchmarks: every figure is printed with a baseline measured in the same run, and the ratio.
//   npm run bench                  all sections
//   npm run bench -- call cold     only those sections (call, peers, mailbox, http, cold, rss, kv, files, durable, first, pglite-start, vector, faults, stream, streams, snapshot, burst, zipf, webapis, jobs, stall, observe)
//   --json                         also print every figure as JSON at the end
// Each section is a module of its own, sections/<name>.mjs (its default export runs it); what
// they share is in shared.mjs.
import { availableParallelism } from 'node:os'
import { results } from './shared.mjs'

/** The sections, in the order a full run takes them. */
const SECTIONS = [
  'call',
  'peers',
  'mailbox',
  'http',
  'cold',
  'rss',
  'kv',
  'files',
  'durable',
  'first',
  'pglite-start',
  'vector',
  'faults',
  'snapshot',
  'stream',
  'streams',
  'burst',
  'zipf',
  'webapis',
  'jobs',
  'stall',
  'observe',
]

const wanted = process.argv.slice(2).filter((a) => !a.startsWith('-'))
const unknown = wanted.filter((name) => !SECTIONS.includes(name))
if (unknown.length > 0) {
  console.error(`unknown bench section: ${unknown.join(', ')} (sections: ${SECTIONS.join(', ')})`)
  process.exit(2)
}

console.log(`fnbox bench — node ${process.version}, ${availableParallelism()} cores`)
for (const name of SECTIONS) {
  if (wanted.length > 0 && !wanted.includes(name)) continue
  const { default: section } = await import(`./sections/${name}.mjs`)
  await section()
}
if (process.argv.includes('--json')) console.log(JSON.stringify(results, null, 2))
