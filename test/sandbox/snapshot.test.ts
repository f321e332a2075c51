/**
 * Engine snapshots, driven in-process on the engine of one thread: an instance restored from a
 * snapshot must behave exactly like one evaluated from source.
 */
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { createRuntime, type InstanceEvent, type Runtime, type SnapshotEvent } from 'fnbox'
import { compiledModule, Engine, worthSnapshot } from '../../src/sandbox/engine.js'
import type { InvocationSink } from '../../src/sandbox/instance.js'
import { ModuleCell } from '../../src/sandbox/module-cell.js'
import type { HostCall, HostReplyValue } from '../../src/sandbox/protocol.js'
import { takeMemory, type Snapshot } from '../../src/sandbox/snapshot.js'
import { invocationLimits, TEST_LIMITS as LIMITS } from '../helpers/sandbox-limits.js'

interface Harness {
  engine: Engine
  snapshots: Snapshot[]
  lost: number[]
  logs: string[]
  hostCalls: HostCall[]
}

const harnesses: Harness[] = []
afterEach(() => {
  for (const h of harnesses.splice(0)) for (let id = 1; id < 100; id++) h.engine.destroy(id)
})

/** An engine that snapshots every function it can (by default), without a blank. */
function harness(snapshots: 'always' | 'auto' | 'never' = 'always'): Harness {
  const h: Harness = {
    engine: undefined as unknown as Engine,
    snapshots: [],
    lost: [],
    logs: [],
    hostCalls: [],
  }
  h.engine = new Engine(
    {
      lost: (ids) => h.lost.push(...ids),
      blank: () => undefined,
      snapshot: (_key, snapshot) => h.snapshots.push(snapshot),
    },
    0,
    0,
    () => false,
    { snapshots },
  )
  harnesses.push(h)
  return h
}

let nextInv = 1

/** The next snapshot the engine packs by itself: it waits for a quiet moment after the create. */
function nextSnapshot(h: Harness): Promise<Snapshot> {
  const seen = h.snapshots.length
  return new Promise((resolve) => {
    const poll = (): void => {
      if (h.snapshots.length > seen) resolve(h.snapshots[seen]!)
      else setImmediate(poll)
    }
    poll()
  })
}

function sink(h: Harness): InvocationSink {
  return {
    respond: () => undefined,
    chunk: () => Promise.resolve(),
    end: () => undefined,
    log: (level, message) => h.logs.push(`${level}: ${message}`),
    host: (req): Promise<HostReplyValue> => {
      h.hostCalls.push(req)
      if (req.op !== 'data') return Promise.reject(new Error('no network here'))
      return Promise.resolve({
        op: 'data',
        json: JSON.stringify({ echoed: req.method, args: JSON.parse(req.args) }),
        bytes: undefined,
      })
    },
    hostFire: () => undefined,
  }
}

async function call(h: Harness, id: number, exportName: string, ...args: unknown[]): Promise<unknown> {
  const instance = h.engine.instance(id)
  if (!instance) throw new Error(`no instance ${id}`)
  const out = await instance.invoke(
    nextInv++,
    { kind: 'call', exportName, argsJson: JSON.stringify(args) },
    invocationLimits(2000),
    sink(h),
  )
  return out.result === undefined ? undefined : JSON.parse(out.result)
}

/** Module state of several kinds, host calls, timers and logs: what a restore must carry. */
const STATEFUL = `
  import { kv, secrets } from 'fnbox:host'
  let n = 0
  const squares = Array.from({ length: 2000 }, (_, i) => i * i)
  const byName = new Map([['a', 1], ['b', 2]])
  class Counter { #c = 10; next() { return ++this.#c } }
  const counter = new Counter()
  const started = performance.now()
  const apiKey = secrets.get('API_KEY')
  const url = new URL('https://example.com/a?b=c')
  export function step() { return [++n, squares[1999], byName.get('b'), counter.next()] }
  export function poke(v) { globalThis.poked = v; return v }
  export function peek() { return globalThis.poked ?? null }
  export function secret() { return [apiKey, secrets.get('API_KEY')] }
  export function rand() { return [Math.random(), Math.random()] }
  export function elapsed() { return performance.now() - started }
  export function host() { return url.searchParams.get('b') }
  export async function later(ms) { await new Promise((r) => setTimeout(r, ms)); console.log('later', ms); return ms }
  export async function data(key) { return await kv.get(key) }
  export function deep(d) { return d === 0 ? 0 : 1 + deep(d - 1) }
  export function hog() { const keep = []; for (;;) keep.push('x'.repeat(1 << 16) + keep.length) }
  export function spin() { for (;;) {} }
`

describe('snapshots', () => {
  it('restores instances that behave like freshly evaluated ones', async () => {
    const h = harness()
    h.engine.load('f', STATEFUL, 'f.js', LIMITS, { API_KEY: 'k1' })
    const first = await h.engine.create(1, 'f')
    expect(first.restored).toBe(false)
    // Off the response path: copied now, packed once the thread is free (or when it is needed).
    expect(h.snapshots).toHaveLength(0)
    const packed = await nextSnapshot(h)
    expect(h.engine.snapshotOf('f')).toBe(packed)
    expect(h.snapshots).toHaveLength(1)
    const second = await h.engine.create(2, 'f')
    expect(second.restored).toBe(true)

    for (const id of [1, 2]) {
      expect(await call(h, id, 'step')).toEqual([1, 1999 * 1999, 2, 11])
      expect(await call(h, id, 'step')).toEqual([2, 1999 * 1999, 2, 12])
      expect(await call(h, id, 'secret')).toEqual(['k1', 'k1'])
      expect(await call(h, id, 'host')).toBe('c')
      expect(await call(h, id, 'later', 5)).toBe(5)
      expect(await call(h, id, 'data', 'k')).toEqual({ echoed: 'kv.get', args: { key: 'k' } })
      expect(await call(h, id, 'deep', 100)).toBe(100)
      // A monotonic clock across the snapshot: never negative, never behind.
      expect(await call(h, id, 'elapsed')).toBeGreaterThanOrEqual(0)
    }
    expect(h.logs.filter((l) => l === 'log: later 5')).toHaveLength(2)
    expect(h.hostCalls.filter((c) => c.op === 'data')).toHaveLength(2)
  })

  it('writes the memory back byte for byte', async () => {
    const h = harness()
    h.engine.load('f', STATEFUL, 'f.js', LIMITS, {})
    await h.engine.create(1, 'f')
    const snapshot = h.engine.snapshotOf('f')!
    const cell = await ModuleCell.restore(
      compiledModule(),
      LIMITS,
      snapshot,
      () => undefined,
      () => undefined,
    )
    const again = takeMemory(cell.memory, snapshot.layout)
    expect(again.runs).toEqual(snapshot.runs)
    expect(Buffer.from(again.data).equals(Buffer.from(snapshot.data))).toBe(true)
  })

  it('leaves memory the top-level code freed out of the snapshot', async () => {
    const h = harness()
    // 8 MB of strings built and dropped while evaluating: free heap when the snapshot is taken.
    h.engine.load(
      'f',
      `let parts = []; for (let i = 0; i < 128; i++) parts.push('x'.repeat(65536) + i)
      parts = parts.length; export const get = () => parts`,
      'f.js',
      LIMITS,
      {},
    )
    await h.engine.create(1, 'f')
    expect(h.engine.snapshotOf('f')!.data.byteLength).toBeLessThan(2 << 20)
    expect((await h.engine.create(2, 'f')).restored).toBe(true)
    expect(await call(h, 2, 'get')).toBe(128)
  })

  it('keeps instances restored from one snapshot independent', async () => {
    const h = harness()
    h.engine.load('f', STATEFUL, 'f.js', LIMITS, {})
    await h.engine.create(1, 'f')
    for (let id = 2; id <= 5; id++) expect((await h.engine.create(id, 'f')).restored).toBe(true)
    expect(await call(h, 3, 'poke', 'three')).toBe('three')
    expect(await call(h, 3, 'step')).toEqual([1, 1999 * 1999, 2, 11])
    for (const id of [1, 2, 4, 5]) {
      expect(await call(h, id, 'peek')).toBeNull()
      expect(await call(h, id, 'step')).toEqual([1, 1999 * 1999, 2, 11])
    }
    // Each restored copy draws its own random numbers.
    const draws = await Promise.all([1, 2, 3, 4, 5].map((id) => call(h, id, 'rand')))
    expect(new Set(draws.map((d) => JSON.stringify(d))).size).toBe(5)
    // Each lives in a module of its own.
    const cells = new Set([1, 2, 3, 4, 5].map((id) => h.engine.instance(id)!.cell))
    expect(cells.size).toBe(5)
  })

  it('enforces memory, time and stack limits in restored instances, and frees them cleanly', async () => {
    const h = harness()
    h.engine.load('f', STATEFUL, 'f.js', LIMITS, {})
    await h.engine.create(1, 'f')
    for (let id = 2; id <= 4; id++) await h.engine.create(id, 'f')

    await expect(call(h, 2, 'hog')).rejects.toMatchObject({ error: { code: 'ERR_MEMORY_LIMIT' }, discard: true })
    const hogged = h.engine.instance(2)!
    hogged.dispose()
    expect(hogged.cell.condemned).toBe(false)

    const spinning = h.engine.instance(3)!
    await expect(
      spinning.invoke(nextInv++, { kind: 'call', exportName: 'spin', argsJson: '[]' }, invocationLimits(100), sink(h)),
    ).rejects.toMatchObject({ error: { code: 'ERR_TIMEOUT' } })
    expect(spinning.alive).toBe(false)
    expect(spinning.cell.condemned).toBe(false)

    await expect(call(h, 4, 'deep', 1e6)).rejects.toMatchObject({ error: { code: 'ERR_STACK_OVERFLOW' } })
    expect(await call(h, 4, 'step')).toEqual([1, 1999 * 1999, 2, 11])
    const survivor = h.engine.instance(4)!
    h.engine.destroy(4)
    expect(survivor.cell.condemned).toBe(false)
    expect(h.lost).toEqual([])
  })

  it('does not snapshot top-level code that draws randomness, arms timers or starts host I/O', async () => {
    const impure = {
      random: `const id = Math.random(); export const get = () => id`,
      uuid: `const id = crypto.randomUUID(); export const get = () => id`,
      bytes: `const b = crypto.getRandomValues(new Uint8Array(4)); export const get = () => [...b]`,
      timer: `let fired = false; setTimeout(() => { fired = true }, 1); export const get = () => fired`,
      io: `import { kv } from 'fnbox:host'; kv.get('x').catch(() => {}); export const get = () => 1`,
    }
    const h = harness()
    for (const [name, code] of Object.entries(impure)) {
      h.engine.load(name, code, `${name}.js`, LIMITS, {})
      expect((await h.engine.create(1, name)).restored).toBe(false)
      expect((await h.engine.create(2, name)).restored).toBe(false)
      h.engine.destroy(1)
      h.engine.destroy(2)
    }
    expect(h.snapshots).toEqual([])
  })

  it('snapshots only code slow to evaluate, by its time and its work', async () => {
    const h = harness('auto')
    h.engine.load('quick', STATEFUL, 'quick.js', LIMITS, {})
    h.engine.load(
      'busy',
      `let a = 0; for (let i = 0; i < 1e6; i++) a += i; export const get = () => a`,
      'b.js',
      LIMITS,
      {},
    )
    for (const key of ['quick', 'busy']) {
      await h.engine.create(1, key)
      await h.engine.create(2, key)
    }
    expect(h.snapshots.map((s) => s.key)).toEqual(['busy'])
    expect(h.engine.snapshotOf('quick')).toBeUndefined()
    // A quick function that was merely slow this time (a busy machine) does not qualify.
    expect(worthSnapshot(50, 2_000, 0)).toBe(false)
    expect(worthSnapshot(50, 200_000, 0)).toBe(true)
    expect(worthSnapshot(50, 2_000, 30)).toBe(true)
    expect(worthSnapshot(5, 200_000, 30)).toBe(false)
  })

  it('drops a snapshot when the secrets change, and adopts only its own', async () => {
    const h = harness()
    h.engine.load('f', STATEFUL, 'f.js', LIMITS, { API_KEY: 'old' })
    await h.engine.create(1, 'f')
    const snapshot = h.engine.snapshotOf('f')!
    h.engine.setSecrets('f', { API_KEY: 'new' })
    expect(h.engine.snapshotOf('f')).toBeUndefined()
    // A snapshot taken with the old values is refused.
    h.engine.adoptSnapshot('f', snapshot)
    expect(h.engine.snapshotOf('f')).toBeUndefined()
    const fresh = await h.engine.create(2, 'f')
    expect(fresh.restored).toBe(false)
    expect(await call(h, 2, 'secret')).toEqual(['new', 'new'])
    // Another function, even with the same code, never takes this one's snapshot.
    h.engine.load('g', STATEFUL, 'f.js', LIMITS, { API_KEY: 'old' })
    h.engine.adoptSnapshot('g', snapshot)
    expect(h.engine.snapshotOf('g')).toBeUndefined()
  })
})

/** Top-level work slow enough (~100 ms here) that the runtime snapshots the function. */
const HEAVY = `
  import { kv, secrets } from 'fnbox:host'
  let acc = 0
  for (let i = 0; i < 1e6; i++) acc = (acc * 31 + i) % 1000003
  const key = secrets.get('API_KEY') ?? null
  let n = 0
  export async function hold(ms) { await new Promise((r) => setTimeout(r, ms)); return ++n }
  export function state() { return { acc, n, key, now: secrets.get('API_KEY') ?? null } }
  export async function count(name) { return await kv.incr(name) }
  export async function upstream(url) { const res = await fetch(url); return res.status + ' ' + (await res.text()) }
  export function hog() { const keep = []; for (;;) keep.push('x'.repeat(1 << 16) + keep.length) }
  export default { fetch: (req) => new Response('hi ' + new URL(req.url).pathname) }
`
const ACC = (() => {
  let acc = 0
  for (let i = 0; i < 1e6; i++) acc = (acc * 31 + i) % 1000003
  return acc
})()

describe('snapshots in a runtime', () => {
  let runtime: Runtime
  let server: Server
  let port = 0
  const snapshots: SnapshotEvent[] = []
  const creates: InstanceEvent[] = []
  /** Resolves once `n` snapshots of `name` came: they are packed after its instance answered. */
  const snapshotted = async (name: string, n = 1): Promise<void> => {
    while (snapshots.filter((s) => s.function === name).length < n) {
      await new Promise((resolve) => runtime.once('snapshot', resolve))
    }
  }

  beforeAll(async () => {
    server = createServer((_req, res) => res.end('upstream says hi'))
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
    port = (server.address() as AddressInfo).port
    runtime = await createRuntime({ threads: 2, storage: 'memory', secrets: { key: 'ab'.repeat(32) } })
    runtime.on('snapshot', (e) => snapshots.push(e))
    runtime.on('instance:create', (e) => creates.push(e))
    await runtime.secrets.set('API_KEY', 'first')
  })
  afterAll(async () => {
    await runtime.close()
    server.close()
  })

  it('restores later instances on every thread from the first one, with their host calls working', async () => {
    await runtime.deploy('heavy', {
      code: HEAVY,
      secrets: ['API_KEY'],
      allowedHosts: [`127.0.0.1:${port}`],
      pool: { max: 4 },
    })
    await snapshotted('heavy')
    expect(snapshots.filter((s) => s.function === 'heavy')).toHaveLength(1)
    expect(snapshots[0]!.bytes).toBeGreaterThan(0)
    // Four concurrent calls: the deploy's instance and three new ones, restored on both threads.
    expect(await Promise.all([1, 2, 3, 4].map(() => runtime.call('heavy', 'hold', 1000)))).toEqual([1, 1, 1, 1])
    const made = creates.filter((c) => c.function === 'heavy')
    expect(made).toHaveLength(3)
    expect(made.every((c) => c.restored)).toBe(true)
    expect(runtime.stats().executors.every((e) => e.instances > 0)).toBe(true)

    // Every instance: the same module state, working host calls (kv, fetch, secrets, HTTP).
    const states = await Promise.all(
      [1, 2, 3, 4].map(async () => {
        const [state, count, up, res] = await Promise.all([
          runtime.call<{ acc: number; n: number; key: string; now: string }>('heavy', 'state'),
          runtime.call<number>('heavy', 'count', 'visits'),
          runtime.call<string>('heavy', 'upstream', `http://127.0.0.1:${port}/`),
          runtime.fetch(new Request('http://x/heavy/path')).then((r) => r.text()),
        ])
        return { state, count, up, res }
      }),
    )
    for (const s of states) {
      expect(s.state).toMatchObject({ acc: ACC, key: 'first', now: 'first' })
      expect(s.up).toBe('200 upstream says hi')
      expect(s.res).toBe('hi /path') // the request's URL is relative to the function's mount
    }
    expect(states.map((s) => s.count).sort()).toEqual([1, 2, 3, 4])
  })

  it('counts a module per restored instance in the pool budget', async () => {
    const before = runtime.stats().pool.memoryMb
    await runtime.deploy('budgeted', { code: HEAVY, limits: { memoryMb: 32 }, pool: { max: 4 } })
    await snapshotted('budgeted')
    await Promise.all([1, 2, 3, 4].map(() => runtime.call('budgeted', 'hold', 300)))
    expect(runtime.stats().functions.budgeted!.instances).toBe(4)
    // The deploy's instance (in the module its snapshot was taken of) and three restored ones.
    expect(runtime.stats().pool.memoryMb - before).toBe(4 * 32)
    await runtime.undeploy('budgeted')
  })

  it('hands new instances the changed secrets, not those the snapshot was taken with', async () => {
    await runtime.secrets.set('API_KEY', 'first')
    await runtime.deploy('secretive', { code: HEAVY, secrets: ['API_KEY'], pool: { max: 1 } })
    await snapshotted('secretive')
    expect(await runtime.call('secretive', 'state')).toMatchObject({ key: 'first', now: 'first' })
    await runtime.secrets.set('API_KEY', 'second')
    expect(await runtime.call('secretive', 'state')).toMatchObject({ key: 'first', now: 'second' })
    // The instance goes (out of memory); the next one evaluates the code with the new value.
    await expect(runtime.call('secretive', 'hog')).rejects.toMatchObject({ code: 'ERR_MEMORY_LIMIT' })
    expect(await runtime.call('secretive', 'state')).toMatchObject({ key: 'second', now: 'second' })
    expect(creates.filter((c) => c.function === 'secretive').map((c) => c.restored)).toEqual([false])
    // ... and is snapshotted in turn, with the new value.
    await snapshotted('secretive', 2)
    expect(snapshots.filter((s) => s.function === 'secretive')).toHaveLength(2)
    await expect(runtime.call('secretive', 'hog')).rejects.toMatchObject({ code: 'ERR_MEMORY_LIMIT' })
    expect(await runtime.call('secretive', 'state')).toMatchObject({ key: 'second', now: 'second' })
    expect(creates.filter((c) => c.function === 'secretive').map((c) => c.restored)).toEqual([false, true])
  })

  it('fails a restored instance out of memory cleanly, and restores the next one', async () => {
    await runtime.deploy('hog', { code: HEAVY, limits: { memoryMb: 32 }, pool: { max: 2 } })
    await snapshotted('hog')
    await Promise.all([1, 2].map(() => runtime.call('hog', 'hold', 100)))
    for (let i = 0; i < 3; i++) {
      await expect(runtime.call('hog', 'hog')).rejects.toMatchObject({ code: 'ERR_MEMORY_LIMIT' })
    }
    expect(await runtime.call('hog', 'state')).toMatchObject({ acc: ACC })
    const made = creates.filter((c) => c.function === 'hog')
    expect(made.length).toBeGreaterThanOrEqual(3)
    expect(made.every((c) => c.restored)).toBe(true)
  })

  it('restores on a thread that was restarted', async () => {
    const rt = await createRuntime({ threads: 1 })
    const made: InstanceEvent[] = []
    rt.on('instance:create', (e) => made.push(e))
    try {
      const snapshotted = new Promise((resolve) => rt.once('snapshot', resolve))
      await rt.deploy('heavy', { code: HEAVY })
      await snapshotted
      await rt.deploy('wedge', {
        // Builds its data, waits (interruptibly) until just before its deadline, then enters one
        // JSON.stringify of ~450 ms: a builtin that ignores the interrupt, so the thread must go.
        code: `export function run() {
          const t0 = Date.now()
          const big = []; for (let i = 0; i < 200000; i++) big.push({ a: 'x'.repeat(20), b: [i, i, i] })
          while (Date.now() - t0 < 1900) {}
          return JSON.stringify(big).length
        }`,
        limits: { timeoutMs: 2000, memoryMb: 256 },
      })
      await expect(rt.call('wedge', 'run')).rejects.toMatchObject({ code: 'ERR_TIMEOUT' })
      expect(rt.stats().executors[0]!.restarts).toBe(1)
      expect(await rt.call('heavy', 'state')).toMatchObject({ acc: ACC, n: 0 })
      // The call's instance, and any the autoscaler adds for the load it saw (a tick may fall in
      // this test on a slow machine: target ceil(1 / 0.7) = 2), are all restored.
      const heavy = made.filter((m) => m.function === 'heavy')
      expect(heavy.length).toBeGreaterThanOrEqual(1)
      expect(heavy.every((m) => m.restored)).toBe(true)
    } finally {
      await rt.close()
    }
  })
})
