/**
 * The pool manager over fake executor threads and a manual clock: the pools' logic (autoscaler,
 * budget, eviction, fairness, draining) tested without starting a worker.
 */
import { DEFAULT_POOL, type PoolOptions } from '../../src/options.js'
import type { FunctionSource, InstanceRef } from '../../src/pool/executor.js'
import type { FunctionPool } from '../../src/pool/function-pool.js'
import {
  PoolManager,
  type PlacedExecutor,
  type PoolManagerOptions,
  type PoolScaleChange,
} from '../../src/pool/pool-manager.js'
import { SecretRedactor } from '../../src/host/secrets/redact.js'
import { ManualClock } from './manual-clock.js'

let nextId = 1

export class FakeThread implements PlacedExecutor {
  readonly refs = new Map<number, InstanceRef>()
  readonly destroyed: number[] = []
  readonly unloaded: string[] = []
  creating = 0
  inflight = 0
  utilization = 0
  blanks = 0
  /** Creations fail with it while set. */
  fail: Error | undefined

  constructor(readonly index: number) {}

  get size(): number {
    return this.refs.size + this.creating
  }

  hasBlank(): boolean {
    return this.blanks > 0
  }

  async create(fn: FunctionSource): Promise<{ ref: InstanceRef; ms: number; restored: boolean }> {
    this.creating++
    try {
      await null
      if (this.fail) throw this.fail
      const ref: InstanceRef = { executor: this as never, id: nextId++, key: fn.key, lost: false }
      this.refs.set(ref.id, ref)
      return { ref, ms: 1, restored: false }
    } finally {
      this.creating--
    }
  }

  destroy(ref: InstanceRef): void {
    if (this.refs.delete(ref.id)) this.destroyed.push(ref.id)
  }

  unload(key: string): void {
    this.unloaded.push(key)
  }
}

/** Lets promise chains (creations, grants) run. */
export async function flush(): Promise<void> {
  for (let i = 0; i < 5; i++) await new Promise((resolve) => setImmediate(resolve))
}

export interface Harness {
  clock: ManualClock
  threads: FakeThread[]
  manager: PoolManager
  changes: PoolScaleChange[]
  released: FunctionPool[]
  /** A deployed pool: its first instance made, handed to the autoscaler. */
  deploy(name: string, pool?: Partial<PoolOptions>, memoryMb?: number): Promise<FunctionPool>
  /** A pool whose deploy is under way (it may wait for room). */
  startDeploy(name: string, pool?: Partial<PoolOptions>, memoryMb?: number): [FunctionPool, Promise<number>]
  /** Moves the clock by whole autoscaler intervals, letting creations finish after each. */
  ticks(n: number): Promise<void>
}

export function harness(options: Partial<PoolManagerOptions> & { threads?: number } = {}): Harness {
  const clock = new ManualClock()
  const threads = Array.from({ length: options.threads ?? 2 }, (_, i) => new FakeThread(i))
  const changes: PoolScaleChange[] = []
  const released: FunctionPool[] = []
  const manager = new PoolManager(
    {
      clock,
      maxTotalInstances: 1000,
      memoryBudgetMb: 1 << 20,
      blankEngines: 0,
      blankMemoryMb: 128,
      retainedVersions: 8,
      scaleIntervalMs: 1000,
      ...options,
    },
    () => threads,
    { scaled: (c) => changes.push(c), released: (p) => released.push(p) },
  )
  const startDeploy = (
    name: string,
    pool: Partial<PoolOptions> = {},
    memoryMb = 128,
  ): [FunctionPool, Promise<number>] => {
    const settings = { ...DEFAULT_POOL, ...pool }
    const source: FunctionSource = {
      key: `${name}@v1`,
      name,
      version: 'v1',
      code: '',
      filename: `${name}.js`,
      limits: {
        memoryMb,
        maxStackKb: 256,
        maxResponseBytes: 0,
        maxLogBytes: 0,
        instancesPerModule: settings.instancesPerModule,
      },
      secrets: {},
      redactor: new SecretRedactor(),
    }
    const p = manager.create(source, settings, { name, version: 'v1' }, () => undefined)
    const warm = p.warmUp().then((ms) => {
      manager.activate(p)
      return ms
    })
    return [p, warm]
  }
  return {
    clock,
    threads,
    manager,
    changes,
    released,
    startDeploy,
    async deploy(name, pool, memoryMb) {
      const [p, warm] = startDeploy(name, pool, memoryMb)
      await warm
      await flush()
      return p
    },
    async ticks(n) {
      for (let i = 0; i < n; i++) {
        clock.advance(1000)
        await flush()
      }
    },
  }
}
