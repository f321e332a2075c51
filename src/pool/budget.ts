/**
 * The global budget of the pools: instances, and the fixed memory of the WebAssembly modules
 * holding them, across every function.
 *
 * Memory is counted as modules' fixed memory (`memoryMb` each), the most they can ever take: a
 * function's instances on one thread share modules of `instancesPerModule`, so they count as
 * `ceil(instances / instancesPerModule)` modules there. (A module is freed when its last instance
 * is; the thread may hold a partly emptied one longer than this count says.) Blank engines count
 * as one instance and one module each.
 *
 * @internal
 * @module
 */

/** What the budget needs to know of a pool. */
export interface BudgetOwner {
  readonly memoryMb: number
  readonly instancesPerModule: number
}

export interface BudgetLimits {
  maxTotalInstances: number
  memoryBudgetMb: number
}

export class Budget<P extends BudgetOwner, E> {
  readonly limits: BudgetLimits
  /** Instances (and creations under way) of each pool on each thread. */
  readonly #counts = new Map<P, Map<E, number>>()
  #instances = 0
  #memoryMb = 0
  #reservedInstances = 0
  #reservedMb = 0

  constructor(limits: BudgetLimits) {
    this.limits = limits
  }

  /** Sets what is held back for blank engines: `count` modules of `memoryMb`. */
  reserve(count: number, memoryMb: number): void {
    this.#reservedInstances = count
    this.#reservedMb = count * memoryMb
  }

  get instances(): number {
    return this.#instances + this.#reservedInstances
  }

  get memoryMb(): number {
    return this.#memoryMb + this.#reservedMb
  }

  /** Room left for functions' instances and memory once blank engines are held back. */
  get forFunctions(): BudgetLimits {
    return {
      maxTotalInstances: this.limits.maxTotalInstances - this.#reservedInstances,
      memoryBudgetMb: this.limits.memoryBudgetMb - this.#reservedMb,
    }
  }

  count(pool: P, executor: E): number {
    return this.#counts.get(pool)?.get(executor) ?? 0
  }

  /** Instances of `pool` on every thread. */
  countOf(pool: P): number {
    let n = 0
    for (const c of this.#counts.get(pool)?.values() ?? []) n += c
    return n
  }

  /** The module memory `pool` holds, in MiB. */
  memoryOf(pool: P): number {
    let mb = 0
    for (const c of this.#counts.get(pool)?.values() ?? []) mb += modules(pool, c) * pool.memoryMb
    return mb
  }

  /** Module memory one more instance of `pool` on `executor` adds (a new module or none). */
  growthMb(pool: P, executor: E): number {
    return stepMb(pool, this.count(pool, executor), 1)
  }

  /** True when one more instance of `pool` on `executor` fits, after freeing `freed`. */
  fits(pool: P, executor: E, freed: Freed = NONE): boolean {
    return (
      this.instances + 1 - freed.instances <= this.limits.maxTotalInstances &&
      this.memoryMb + this.growthMb(pool, executor) - freed.memoryMb <= this.limits.memoryBudgetMb
    )
  }

  add(pool: P, executor: E): void {
    this.#change(pool, executor, 1)
  }

  remove(pool: P, executor: E): void {
    if (this.count(pool, executor) > 0) this.#change(pool, executor, -1)
  }

  #change(pool: P, executor: E, delta: 1 | -1): void {
    let byExecutor = this.#counts.get(pool)
    if (!byExecutor) this.#counts.set(pool, (byExecutor = new Map()))
    const before = byExecutor.get(executor) ?? 0
    this.#memoryMb += stepMb(pool, before, delta)
    this.#instances += delta
    const after = before + delta
    if (after > 0) byExecutor.set(executor, after)
    else byExecutor.delete(executor)
    if (byExecutor.size === 0) this.#counts.delete(pool)
  }

  /**
   * What removing `victims` (one instance each, in order) would free: used to find out, before
   * evicting anything, whether evicting helps at all.
   */
  simulateFree(victims: Iterable<readonly [P, E]>): Freed[] {
    const counts = new Map<P, Map<E, number>>()
    const out: Freed[] = []
    let instances = 0
    let memoryMb = 0
    for (const [pool, executor] of victims) {
      let byExecutor = counts.get(pool)
      if (!byExecutor) counts.set(pool, (byExecutor = new Map()))
      const before = byExecutor.get(executor) ?? this.count(pool, executor)
      if (before <= 0) {
        out.push({ instances, memoryMb })
        continue
      }
      byExecutor.set(executor, before - 1)
      instances++
      memoryMb -= stepMb(pool, before, -1)
      out.push({ instances, memoryMb })
    }
    return out
  }
}

/** Room freed by evictions. */
export interface Freed {
  instances: number
  memoryMb: number
}

const NONE: Freed = { instances: 0, memoryMb: 0 }

function modules(pool: BudgetOwner, instances: number): number {
  return Math.ceil(instances / pool.instancesPerModule)
}

/** Memory change of going from `before` instances to `before + delta` on one thread. */
function stepMb(pool: BudgetOwner, before: number, delta: 1 | -1): number {
  return (modules(pool, before + delta) - modules(pool, before)) * pool.memoryMb
}
