import { afterEach, describe, expect, it } from 'vitest'
import { createRuntime, type PoolScaleEvent, type Runtime, type RuntimeOptions } from 'fnbox'
import { ManualClock } from '../helpers/manual-clock.js'
import { waitFor } from '../helpers/wait.js'

const open: Runtime[] = []
afterEach(async () => {
  await Promise.all(open.splice(0).map((r) => r.close()))
})

async function runtimeWith(options: RuntimeOptions = {}): Promise<{ runtime: Runtime; clock: ManualClock }> {
  const clock = new ManualClock()
  const runtime = await createRuntime({ clock, limits: { memoryMb: 32 }, ...options })
  open.push(runtime)
  return { runtime, clock }
}

/** Moves the manual clock in autoscaler intervals (1 s by default). */
function tick(clock: ManualClock, seconds: number): void {
  for (let i = 0; i < seconds; i++) clock.advance(1000)
}

const SLOW = (tag: string, ms = 150): string => `
  export async function run() { await new Promise((r) => setTimeout(r, ${ms})); return '${tag}' }
  export const now = () => '${tag}'
  export default { async fetch() { await new Promise((r) => setTimeout(r, ${ms})); return new Response('${tag}') } }`

describe('autoscaling through the runtime', () => {
  it('scales a function up under load and back down once idle, with pool:scale events', async () => {
    const { runtime, clock } = await runtimeWith({ threads: 2 })
    const events: PoolScaleEvent[] = []
    runtime.on('pool:scale', (e) => void events.push(e))
    // Calls of 1 s: the first four are still running when the pool is seen full (with 150 ms
    // calls, a loaded machine saw it only after one had finished: queued 5).
    await runtime.deploy('burst', { code: SLOW('ok', 1000), pool: { max: 4, idleTimeoutMs: 5000 } })
    const calls = Array.from({ length: 10 }, () => runtime.call('burst', 'run'))
    let full: object | undefined
    const seeFull = (): boolean => {
      const s = runtime.stats().functions.burst!
      if (s.inUse === 4) full = { ...s }
      return full !== undefined
    }
    expect(await waitFor(seeFull, 5000)).toBe(true)
    expect(full).toMatchObject({ instances: 4, queued: 6 })
    expect(await Promise.all(calls)).toEqual(Array(10).fill('ok'))
    expect(events.filter((e) => e.reason === 'demand').map((e) => e.to)).toEqual([2, 3, 4])
    expect(runtime.stats().executors.reduce((n, e) => n + e.instances, 0)).toBe(4)
    for (const e of runtime.stats().executors) expect(e.utilization).toBeGreaterThanOrEqual(0)
    expect(runtime.stats().executors.some((e) => e.utilization > 0)).toBe(true) // the calls ran there

    tick(clock, 4)
    expect(runtime.stats().functions.burst!.instances).toBe(4) // not idle long enough yet
    tick(clock, 2)
    expect(runtime.stats().functions.burst).toMatchObject({ instances: 0, target: 0 })
    expect(events.at(-1)).toMatchObject({ function: 'burst', reason: 'idle', to: 0 })
    // Scaled to zero, the next call is a cold start again, and it works.
    expect(await runtime.call('burst', 'now')).toBe('ok')
    expect(runtime.stats().functions.burst!.coldStarts).toBe(5)
  })

  it('pre-warms on a rising load: later steps of the ramp meet warm instances', async () => {
    const { runtime, clock } = await runtimeWith({ threads: 2 })
    const events: PoolScaleEvent[] = []
    runtime.on('pool:scale', (e) => void events.push(e))
    await runtime.deploy('ramp', { code: SLOW('ok', 50), pool: { max: 30 } })
    const waited: number[] = [] // instances made because a call found none idle, per step
    for (let step = 1; step <= 5; step++) {
      const before = events.filter((e) => e.reason === 'demand').length
      const calls = Array.from({ length: step * 2 }, () => runtime.call('ramp', 'run'))
      await waitFor(() => runtime.stats().functions.ramp!.inUse === step * 2, 5000)
      waited.push(events.filter((e) => e.reason === 'demand').length - before)
      tick(clock, 1) // the autoscaler sees this step's peak while its calls run
      await Promise.all(calls)
      const warm = (): boolean => runtime.stats().functions.ramp!.instances >= runtime.stats().functions.ramp!.target
      expect(await waitFor(warm, 5000)).toBe(true)
    }
    expect(waited.slice(3)).toEqual([0, 0]) // steps of 8 and 10 calls found warm instances
    expect(events.some((e) => e.reason === 'prewarm')).toBe(true)
    expect(runtime.stats().functions.ramp!.target).toBeGreaterThan(10) // ahead of the last step
  })
})

describe('versions', () => {
  it('finishes running and queued calls on their version, then keeps it warm for an instant redeploy', async () => {
    const { runtime } = await runtimeWith({ threads: 1 })
    const creates: string[] = []
    runtime.on('instance:create', (e) => void creates.push(e.version))
    const deploys: number[] = []
    runtime.on('deploy', (e) => void deploys.push(e.coldStartMs))
    const v1 = await runtime.deploy('f', { code: SLOW('v1', 200), pool: { max: 1 } })
    const running = runtime.call('f', 'run')
    const queued = runtime.call('f', 'run')
    await waitFor(() => runtime.stats().functions.f!.queued === 1, 5000)
    const v2 = await runtime.deploy('f', { code: SLOW('v2', 10), pool: { max: 1 } })
    expect(await runtime.call('f', 'now')).toBe('v2')
    expect(runtime.stats().functions.f).toMatchObject({ version: v2.version, draining: 1 })
    expect(await Promise.all([running, queued])).toEqual(['v1', 'v1'])
    await waitFor(() => runtime.stats().functions.f!.draining === 0, 5000)
    expect(runtime.stats().pool.retiredVersions).toBe(1)

    const again = await runtime.deploy('f', { code: SLOW('v1', 200), pool: { max: 1 } })
    expect(again.version).toBe(v1.version)
    expect(deploys.at(-1)).toBe(0) // no instance was created
    expect(await runtime.call('f', 'now')).toBe('v1')
    expect(creates).toEqual([]) // every instance so far came from a deploy
    expect(runtime.stats().pool.retiredVersions).toBe(1) // v2 now
  })

  it('undeploy drains the function; deploying it again while retained is instant', async () => {
    const { runtime } = await runtimeWith({ threads: 1 })
    await runtime.deploy('u', { code: SLOW('u', 100) })
    const inflight = runtime.call('u', 'run')
    await waitFor(() => runtime.stats().functions.u!.inUse === 1, 5000)
    await runtime.undeploy('u') // resolves once the call has finished
    expect(await inflight).toBe('u')
    await expect(runtime.call('u', 'now')).rejects.toMatchObject({ code: 'ERR_NOT_FOUND' })
    let coldStartMs = -1
    runtime.once('deploy', (e) => (coldStartMs = e.coldStartMs))
    await runtime.deploy('u', { code: SLOW('u', 100) })
    expect(coldStartMs).toBe(0)
    expect(await runtime.call('u', 'now')).toBe('u')
  })

  it('releases a retired version for good with retainedVersions 0', async () => {
    const { runtime } = await runtimeWith({ threads: 1, pool: { retainedVersions: 0 } })
    await runtime.deploy('r', { code: SLOW('a') })
    await runtime.deploy('r', { code: SLOW('b') })
    await waitFor(() => runtime.stats().functions.r!.draining === 0, 5000)
    expect(runtime.stats().pool).toMatchObject({ retiredVersions: 0 })
    let coldStartMs = 0
    runtime.once('deploy', (e) => (coldStartMs = e.coldStartMs))
    await runtime.deploy('r', { code: SLOW('a') })
    expect(coldStartMs).toBeGreaterThan(0)
  })
})

describe('global budget through the runtime', () => {
  it('evicts the least recently used idle instance of another function when full', async () => {
    const { runtime, clock } = await runtimeWith({ threads: 1, pool: { maxTotalInstances: 3, blankEngines: 1 } })
    const events: PoolScaleEvent[] = []
    runtime.on('pool:scale', (e) => void events.push(e))
    await runtime.deploy('a', { code: SLOW('a') })
    clock.advance(10)
    await runtime.deploy('b', { code: SLOW('b') })
    clock.advance(10)
    expect(await runtime.call('a', 'now')).toBe('a') // a is now the most recently used
    clock.advance(10)
    await runtime.deploy('c', { code: SLOW('c') })
    const s = runtime.stats()
    expect([s.functions.a!.evictions, s.functions.b!.evictions]).toEqual([0, 1])
    expect(s.pool).toMatchObject({ instances: 3, maxTotalInstances: 3, blankEngines: 1 })
    expect(events.find((e) => e.reason === 'evicted')).toMatchObject({ function: 'b', from: 1, to: 0 })
    clock.advance(10)
    expect(await runtime.call('b', 'now')).toBe('b') // a cold start, evicting a now
    expect(runtime.stats().functions.a!.evictions).toBe(1)
    expect(runtime.stats().functions.b!.coldStarts).toBe(2)
  })

  it('serves a cold function while a hot one has every instance of the budget busy', async () => {
    const { runtime } = await runtimeWith({ threads: 1, pool: { maxTotalInstances: 5, blankEngines: 1 } })
    await runtime.deploy('hot', { code: SLOW('hot', 100), pool: { max: 8 } })
    let hotDone = 0
    const hot = Array.from({ length: 24 }, () => runtime.call('hot', 'run').then(() => hotDone++))
    await waitFor(() => runtime.stats().functions.hot!.inUse === 4, 5000)
    expect(runtime.stats().pool.instances).toBe(5) // the budget is full of busy instances
    await runtime.deploy('cold', { code: SLOW('cold', 1) }) // waits for the hot function to yield one
    expect(await runtime.call('cold', 'run')).toBe('cold')
    // Served within a few hot service times, long before the hot backlog (6 waves) drained.
    expect(hotDone).toBeLessThanOrEqual(12)
    await Promise.all(hot)
    expect(hotDone).toBe(24)
    expect(runtime.stats().functions.hot!.instances).toBeLessThanOrEqual(3)
  })
})

describe('backpressure and closing', () => {
  it('answers 503 with Retry-After once acquireTimeoutMs passes on the injected clock', async () => {
    const { runtime, clock } = await runtimeWith({ threads: 1 })
    await runtime.deploy('q', { code: SLOW('q', 300), pool: { max: 1, acquireTimeoutMs: 2000 } })
    const first = runtime.fetch(new Request('http://x/q'))
    await waitFor(() => runtime.stats().functions.q!.inUse === 1, 5000)
    const second = runtime.fetch(new Request('http://x/q'))
    await waitFor(() => runtime.stats().functions.q!.queued === 1, 5000)
    clock.advance(2000)
    const res = await second
    expect(res.status).toBe(503)
    expect(res.headers.get('retry-after')).toMatch(/^[1-9]\d*$/)
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe('ERR_QUEUE_FULL')
    expect(await (await first).text()).toBe('q')
  })

  it('close() serves queued calls and calls in flight within its deadline', async () => {
    const { runtime } = await runtimeWith({ threads: 1 })
    open.pop()
    await runtime.deploy('c', { code: SLOW('done', 100), pool: { max: 1 } })
    const calls = Array.from({ length: 3 }, () => runtime.call('c', 'run'))
    await waitFor(() => runtime.stats().functions.c!.queued === 2, 5000)
    await runtime.close({ timeoutMs: 5000 })
    expect(await Promise.all(calls)).toEqual(['done', 'done', 'done'])
  })

  it('close() past its deadline fails what is still queued or running with ERR_CLOSED', async () => {
    const { runtime } = await runtimeWith({ threads: 1 })
    open.pop()
    await runtime.deploy('c', { code: SLOW('done', 2000), pool: { max: 1 } })
    const calls = Array.from({ length: 3 }, () => runtime.call('c', 'run').catch((e: { code: string }) => e.code))
    await waitFor(() => runtime.stats().functions.c!.queued === 2, 5000)
    await runtime.close({ timeoutMs: 100 })
    expect(await Promise.all(calls)).toEqual(['ERR_CLOSED', 'ERR_CLOSED', 'ERR_CLOSED'])
  })
})

describe('blank engines', () => {
  it('keeps blankEngines ready, counted in the budget, and refills them after a deploy takes one', async () => {
    const { runtime } = await runtimeWith({ threads: 1, pool: { blankEngines: 2 } })
    expect(await waitFor(() => runtime.stats().executors[0]!.blanks === 2, 10_000)).toBe(true)
    expect(runtime.stats().pool).toMatchObject({ instances: 2, memoryMb: 64, blankEngines: 2 })
    // How much faster a blank start is, is measured by npm run bench (a timed assertion here
    // failed on a loaded machine); here: a deploy takes a blank, and the thread makes another.
    await runtime.deploy('b', { code: `export const x = () => 1` })
    expect(await runtime.call('b', 'x')).toBe(1)
    expect(await waitFor(() => runtime.stats().executors[0]!.blanks === 2, 10_000)).toBe(true)
    expect(runtime.stats().pool.instances).toBe(3)
  })
})

describe('options', () => {
  it('validates the budget options, naming them', async () => {
    await expect(createRuntime({ pool: { maxTotalInstances: 0 } })).rejects.toThrow(/options\.pool\.maxTotalInstances/)
    await expect(createRuntime({ threads: 1, pool: { maxTotalInstances: 2, blankEngines: 2 } })).rejects.toThrow(
      /options\.pool\.blankEngines/,
    )
    await expect(createRuntime({ pool: { targetUtilization: 0 } })).rejects.toThrow(
      /options\.pool\.targetUtilization must be a number from 0\.1 to 1/,
    )
    await expect(createRuntime({ pool: { prewarm: 'yes' as never } })).rejects.toThrow(/options\.pool\.prewarm/)
    await expect(createRuntime({ clock: {} as never })).rejects.toThrow(/options\.clock/)
    const { runtime } = await runtimeWith({ threads: 1, pool: { memoryBudgetMb: 100 } })
    await expect(
      runtime.deploy('x', { code: 'export const a = 1', pool: { maxTotalInstances: 3 } as never }),
    ).rejects.toThrow(/options\.pool\.maxTotalInstances/)
    await expect(runtime.deploy('x', { code: 'export const a = 1', limits: { memoryMb: 96 } })).rejects.toThrow(
      /options\.limits\.memoryMb/,
    )
  })
})
