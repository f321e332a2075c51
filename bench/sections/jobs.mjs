// (m) The jobs engine on server Postgres vs graphile-worker, same run, same no-op task, each in a
// temporary database of its own with 100,000 finished jobs present:
//   - throughput: N jobs enqueued up front, then one worker (concurrency C) drains them;
//   - enqueue-to-start latency: jobs enqueued one at a time to an idle worker, from the enqueue
//     call to the handler's first line (LISTEN/NOTIFY wake-up, claim, dispatch).
// Three contenders: fnbox's runtime (each job runs a no-op export in a sandbox, the way a
// deployed function's jobs run: `deploy('bench', { jobs: { noop: 'noop' } })`), fnbox's engine
// alone (an in-process no-op handler: the queue's own cost), and graphile-worker (in-process
// no-op). The runtime's enqueue-to-start is timed to the end of the sandboxed call (its
// `invoke` event): an upper bound of the start.
import { randomUUID } from 'node:crypto'
import { connect } from 'node:net'
import pg from 'pg'
import { bundleSources } from '../bundle-sources.mjs'
import { fmt, median, report } from '../shared.mjs'

const SERVER = process.env.FNBOX_BENCH_POSTGRES ?? 'postgres://postgres@127.0.0.1:5432'
const JOBS = Number(process.env.FNBOX_BENCH_JOBS ?? 20_000)
const CONCURRENCY = 20
const FINISHED = 100_000
const LATENCY_SAMPLES = 300
// The machine's noise (other work on 2 cores) is large: the two engines run by turns, several
// rounds (FNBOX_BENCH_JOBS_ROUNDS, default 3), and the medians are compared.
const ROUNDS = Number(process.env.FNBOX_BENCH_JOBS_ROUNDS ?? 3)

/** The engine's modules, bundled from the sources (they are not part of the public API yet). */
async function loadEngine() {
  const outfile = await bundleSources({
    name: 'bench-jobs-engine',
    contents: `export { PostgresJobStore } from './src/host/jobs/postgres-jobs.ts'
      export { toJobRequest } from './src/host/jobs/validate.ts'
      export { JobWorker } from './src/triggers/jobs/worker.ts'
      export { openSql } from './src/storage/sql.ts'`,
  })
  return import(outfile)
}

function reachable() {
  const url = new URL(SERVER)
  return new Promise((resolve) => {
    const socket = connect(Number(url.port || 5432), url.hostname)
    socket.setTimeout(2000)
    socket.once('connect', () => (socket.end(), resolve(true)))
    socket.once('error', () => resolve(false))
    socket.once('timeout', () => (socket.destroy(), resolve(false)))
  })
}

async function admin(sql) {
  const client = new pg.Client({ connectionString: `${SERVER}/postgres` })
  await client.connect()
  try {
    await client.query(sql)
  } finally {
    await client.end()
  }
}

async function withDatabase(prefix, fn) {
  const name = `${prefix}_${randomUUID().replaceAll('-', '')}`
  await admin(`create database ${name}`)
  try {
    return await fn(`${SERVER}/${name}`)
  } finally {
    await admin(`drop database if exists ${name} with (force)`)
  }
}

const pct = (sorted, p) => sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * p) / 100))]

/** Enqueues one job at a time (the next after the previous started), timing enqueue to start. */
async function latencies(enqueue, started) {
  const out = []
  for (let i = 0; i < LATENCY_SAMPLES + 20; i++) {
    const t0 = performance.now()
    const seen = started.next()
    await enqueue(i)
    await seen
    if (i >= 20) out.push(performance.now() - t0) // the first ones warm up connections
    await new Promise((resolve) => setTimeout(resolve, 2))
  }
  return out.sort((a, b) => a - b)
}

/** A promise per next handler start. */
function starts() {
  let resolve
  return {
    next: () => new Promise((r) => (resolve = r)),
    hit: () => resolve?.(),
  }
}

async function drain(count) {
  let done = 0
  let finish
  const all = new Promise((r) => (finish = r))
  return {
    all,
    tick() {
      if (++done === count) finish(performance.now())
    },
  }
}

async function fnboxRun(engine, url) {
  const { PostgresJobStore, JobWorker, openSql, toJobRequest } = engine
  const database = await openSql({ postgres: url })
  const db = database.db
  const { sql } = await import('kysely')
  await sql`insert into fnbox_jobs (task, payload, state, attempts, finished_at)
    select 'old', '{}', 'completed', 1, now() from generate_series(1, ${FINISHED})`.execute(db)
  await sql`insert into fnbox_jobs (task, payload) select 'noop', jsonb_build_object('i', g)
    from generate_series(1, ${JOBS}) g`.execute(db)
  await sql`vacuum analyze fnbox_jobs`.execute(db)
  const store = new PostgresJobStore(db, { notifications: database })
  const counter = await drain(JOBS)
  const signal = starts()
  let phase = 'drain'
  const worker = new JobWorker({
    store,
    tasks: ['noop'],
    concurrency: CONCURRENCY,
    handler: async () => {
      if (phase === 'drain') counter.tick()
      else signal.hit()
    },
  })
  const t0 = performance.now()
  await worker.start()
  const rate = JOBS / (((await counter.all) - t0) / 1000)
  phase = 'latency'
  const lat = await latencies((i) => store.enqueue(toJobRequest('noop', { i })), signal)
  await worker.close()
  await database.close()
  return { rate, lat }
}

/** fnbox's runtime (the built package): each job a no-op export run in a sandbox. */
async function runtimeRun(url) {
  const { createRuntime } = await import('../../dist/index.js')
  const runtime = await createRuntime({
    storage: { postgres: url },
    files: 'memory',
    jobs: { concurrency: CONCURRENCY },
  })
  await runtime.jobs.list({ limit: 1 }) // opens and migrates the database
  const client = new pg.Client({ connectionString: url })
  await client.connect()
  await client.query(`insert into fnbox_jobs (task, payload, state, attempts, finished_at)
    select 'old', '{}', 'completed', 1, now() from generate_series(1, ${FINISHED})`)
  await client.query('vacuum analyze fnbox_jobs')
  await runtime.deploy('bench', {
    code: 'export async function noop() {}',
    jobs: { noop: 'noop' },
    pool: { max: CONCURRENCY * 2, min: CONCURRENCY },
  })
  const counter = await drain(JOBS)
  const signal = starts()
  let phase = 'drain'
  runtime.on('job:end', (e) => {
    if (phase === 'drain' && e.outcome === 'completed') counter.tick()
  })
  runtime.on('invoke', () => {
    if (phase === 'latency') signal.hit()
  })
  await client.query(`insert into fnbox_jobs (task, payload) select 'noop', jsonb_build_object('i', g)
    from generate_series(1, ${JOBS}) g`)
  const t0 = performance.now()
  const rate = JOBS / (((await counter.all) - t0) / 1000)
  phase = 'latency'
  const lat = await latencies((i) => runtime.jobs.enqueue('noop', { i }), signal)
  await client.end()
  await runtime.close()
  return { rate, lat }
}

async function graphileRun(url) {
  const { run, makeWorkerUtils, Logger } = await import('graphile-worker')
  // Our own pool: one that hears 'error' (the database is dropped with force after the run).
  const pgPool = new pg.Pool({ connectionString: url, max: 10 })
  pgPool.on('error', () => {})
  pgPool.on('connect', (client) => client.on('error', () => {}))
  const utils = await makeWorkerUtils({ pgPool })
  await utils.migrate()
  const client = new pg.Client({ connectionString: url })
  await client.connect()
  // graphile-worker deletes completed jobs; its finished rows are the permanently failed ones.
  await client.query(`select graphile_worker.add_jobs(array(
      select (('old', '{}'::json, null, null, 1, null, null, null)::graphile_worker.job_spec)
      from generate_series(1, ${FINISHED})))`)
  await client.query(`update graphile_worker._private_jobs set attempts = max_attempts, last_error = 'x'`)
  await client.query(`select graphile_worker.add_jobs(array(
      select (('noop', json_build_object('i', g), null, null, null, null, null, null)::graphile_worker.job_spec)
      from generate_series(1, ${JOBS}) g))`)
  await client.query('vacuum analyze graphile_worker._private_jobs')
  await client.end()
  const counter = await drain(JOBS)
  const signal = starts()
  let phase = 'drain'
  const t0 = performance.now()
  const runner = await run({
    pgPool,
    concurrency: CONCURRENCY,
    noHandleSignals: true,
    pollInterval: 1000,
    logger: new Logger(() => () => {}),
    taskList: {
      noop: async () => {
        if (phase === 'drain') counter.tick()
        else signal.hit()
      },
    },
  })
  const rate = JOBS / (((await counter.all) - t0) / 1000)
  phase = 'latency'
  const lat = await latencies((i) => utils.addJob('noop', { i }), signal)
  await runner.stop()
  await utils.release()
  await pgPool.end()
  return { rate, lat }
}

export default async function benchJobs() {
  console.log(
    `\n(m) jobs on server Postgres, ${fmt(FINISHED, 0)} finished rows present: fnbox (runtime: sandboxed no-op; engine: in-process no-op) vs graphile-worker (in-process no-op), concurrency ${CONCURRENCY}`,
  )
  if (!(await reachable())) {
    console.log(`  skipped: no Postgres at ${SERVER} (FNBOX_BENCH_POSTGRES)`)
    return
  }
  const engine = await loadEngine()
  const runs = { runtime: [], fnbox: [], graphile: [] }
  for (let round = 0; round < ROUNDS; round++) {
    runs.runtime.push(await withDatabase('fnbox_bench_runtime', (url) => runtimeRun(url)))
    runs.fnbox.push(await withDatabase('fnbox_bench_jobs', (url) => fnboxRun(engine, url)))
    runs.graphile.push(await withDatabase('fnbox_bench_graphile', (url) => graphileRun(url)))
  }
  const m = (pick, who = 'runtime') => [median(runs[who].map(pick)), median(runs.graphile.map(pick))]
  const rounds = (who) => runs[who].map((r) => fmt(r.rate, 0)).join(', ')
  console.log(
    `  jobs/s per round: fnbox runtime ${rounds('runtime')}; fnbox engine ${rounds('fnbox')}; graphile-worker ${rounds('graphile')}`,
  )
  report(
    'm',
    `runtime (sandboxed) jobs/s, ${fmt(JOBS, 0)} queued, median of ${ROUNDS}`,
    ...m((r) => r.rate),
    '>= 3,000 and >= 0.5',
  )
  report('m', 'runtime enqueue-to-end-of-call p50 (ms)', ...m((r) => pct(r.lat, 50)), '< 20 ms')
  report('m', 'runtime enqueue-to-end-of-call p99 (ms)', ...m((r) => pct(r.lat, 99)))
  report('m', `engine (in-process no-op) jobs/s`, ...m((r) => r.rate, 'fnbox'))
  report('m', 'engine enqueue-to-start p50 (ms)', ...m((r) => pct(r.lat, 50), 'fnbox'), '< 20 ms')
  report('m', 'engine enqueue-to-start p99 (ms)', ...m((r) => pct(r.lat, 99), 'fnbox'))
}
