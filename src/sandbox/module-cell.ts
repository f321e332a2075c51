/**
 * A module cell: one QuickJS WebAssembly module with fixed linear memory, hosting up to
 * `instancesPerModule` instances of ONE function version (a module's memory is one address space,
 * so it never hosts two trust domains).
 *
 * Memory: the module's linear memory is fixed at `memoryMb` (initial = maximum), the one hard cap
 * there is: QuickJS's own `setMemoryLimit` undercounts badly in this build (a guest reached ~380 MB
 * under a 32 MB limit), and where it does hit first its "out of memory" is an error the guest can
 * catch and turn into anything else, so it is not used. Instances sharing a module share its
 * `memoryMb`; `pool.instancesPerModule: 1` gives each instance a cap of its own, at ~0.5 MB of
 * RSS per module instead of ~80 KB per instance. Untouched pages cost no RSS.
 *
 * Running out of it is detected here, not from what the guest throws: QuickJS reports a failed
 * allocation as an `InternalError` when it can still allocate one and as a thrown `null` when it
 * cannot, and a guest can catch either and throw something else. A module's allocator asks to grow
 * the memory (emscripten's `emscripten_resize_heap` calls the memory's `grow`) exactly when an
 * allocation does not fit, so that call marks the module exhausted, whichever allocation it was
 * (QuickJS's own, or the host's copying a value in) and whatever the guest did next; the instance
 * that ran takes the mark (see {@link ModuleCell.takeExhausted}). Host-side allocations get a
 * guard too: quickjs-emscripten writes a value in at the pointer `malloc` returned without checking
 * it, and a write at address 0 would corrupt the module's static data.
 *
 * @internal
 * @module
 */
import releaseSync from '@jitl/quickjs-wasmfile-release-sync'
import {
  newQuickJSWASMModuleFromVariant,
  newVariant,
  type QuickJSSyncVariant,
  type QuickJSWASMModule,
} from 'quickjs-emscripten-core'
import type { Instance } from './instance.js'
import type { SandboxLimits } from './protocol.js'
import { emscriptenModule } from './quickjs-internals.js'
import { restoreMemory, type Probe, type Snapshot } from './snapshot.js'

// The package's CJS typings hide that its default export is the variant itself.
const variant = releaseSync as unknown as QuickJSSyncVariant

/** The release-sync build declares at most 32768 pages (2 GiB) and needs at least 256 (16 MiB). */
export const MAX_MODULE_MB = 2048
export const MIN_MODULE_MB = 16

export type CondemnHandler = (cell: ModuleCell, victims: Instance[], reason: string) => void
export type EmptyHandler = (cell: ModuleCell) => void

/** Memories whose module asked for more than their fixed size since the last {@link takeExhausted}. */
const exhausted = new WeakSet<WebAssembly.Memory>()

/** A host-side allocation in a module's memory failed (the module is full); nothing was written. */
export class SandboxMemoryExhausted extends Error {
  constructor() {
    super('the sandbox ran out of memory')
  }
}

/**
 * True when the module of `memory` ran out of memory since the last call (and clears the mark).
 * The executor thread runs one thing at a time, so the instance that checks right after it drove
 * the module is the one that exhausted it.
 */
export function takeExhausted(memory: WebAssembly.Memory): boolean {
  return exhausted.delete(memory)
}

/**
 * A new QuickJS module with fixed memory of `mb` MiB. Instantiated synchronously from the compiled
 * module (about half the time of emscripten's asynchronous path).
 */
export async function instantiate(wasmModule: WebAssembly.Module, mb: number): Promise<Probe> {
  const pages = Math.max(MIN_MODULE_MB, Math.min(MAX_MODULE_MB, mb)) * 16
  const memory = new WebAssembly.Memory({ initial: pages, maximum: pages })
  // Fixed memory cannot grow: the allocator asks only when an allocation does not fit.
  Object.defineProperty(memory, 'grow', {
    value: () => {
      exhausted.add(memory)
      throw new RangeError('the module memory is fixed')
    },
  })
  const module = await newQuickJSWASMModuleFromVariant(
    newVariant(variant, {
      wasmMemory: memory,
      emscriptenModule: {
        instantiateWasm(imports, onSuccess) {
          const instance = new WebAssembly.Instance(wasmModule, imports)
          onSuccess(instance)
          return instance.exports
        },
      },
    }),
  )
  const em = emscriptenModule(module)
  const malloc = em._malloc.bind(em)
  em._malloc = (bytes: number): number => {
    const ptr = malloc(bytes)
    if (ptr === 0 && bytes > 0) throw new SandboxMemoryExhausted()
    return ptr
  }
  return { module, memory }
}

export class ModuleCell {
  readonly module: QuickJSWASMModule
  readonly memory: WebAssembly.Memory
  readonly memoryMb: number
  /** The function's limits; a blank cell gets them when it is bound. */
  limits: SandboxLimits
  readonly instances = new Set<Instance>()
  /** The bound function's granted secrets (the engine updates the map in place). */
  secrets: ReadonlyMap<string, string> = new Map()
  /** Instances it ever adopted: a snapshot is taken only of a cell that hosted one (see {@link pristine}). */
  #hosted = 0
  /** Restored from a snapshot: it holds that one instance (the function restores each instance). */
  readonly restored: boolean
  #condemned = false
  #onCondemn: CondemnHandler
  #onEmpty: EmptyHandler

  private constructor(
    probe: Probe,
    limits: SandboxLimits,
    onCondemn: CondemnHandler,
    onEmpty: EmptyHandler,
    restored = false,
  ) {
    this.module = probe.module
    this.memory = probe.memory
    this.restored = restored
    this.memoryMb = limits.memoryMb
    this.limits = limits
    this.#onCondemn = onCondemn
    this.#onEmpty = onEmpty
  }

  /**
   * A module with fixed memory. Created unbound (a blank, for whichever function needs a cell
   * next: only the prelude has run in it, so it belongs to no trust domain yet) or bound.
   */
  static async create(
    wasmModule: WebAssembly.Module,
    limits: SandboxLimits,
    onCondemn: CondemnHandler = () => undefined,
    onEmpty: EmptyHandler = () => undefined,
  ): Promise<ModuleCell> {
    return new ModuleCell(await instantiate(wasmModule, limits.memoryMb), limits, onCondemn, onEmpty)
  }

  /**
   * A bound cell whose memory is `snapshot`'s: a fresh module's memory is overwritten before any
   * runtime exists in it. Its one instance is then rebuilt with `Instance.restore`.
   */
  static async restore(
    wasmModule: WebAssembly.Module,
    limits: SandboxLimits,
    snapshot: Snapshot,
    onCondemn: CondemnHandler,
    onEmpty: EmptyHandler,
  ): Promise<ModuleCell> {
    if (snapshot.memoryMb !== limits.memoryMb) throw new Error('the snapshot is of another memory size')
    const probe = await instantiate(wasmModule, limits.memoryMb)
    restoreMemory(probe.memory, snapshot)
    return new ModuleCell(probe, limits, onCondemn, onEmpty, true)
  }

  /** Gives a blank cell to one function version, for good. */
  bind(
    limits: SandboxLimits,
    secrets: ReadonlyMap<string, string>,
    onCondemn: CondemnHandler,
    onEmpty: EmptyHandler,
  ): void {
    if (limits.memoryMb !== this.memoryMb) throw new Error('a cell cannot change its memory size')
    this.limits = limits
    this.secrets = secrets
    this.#onCondemn = onCondemn
    this.#onEmpty = onEmpty
  }

  /** The module was given up (see {@link condemn}). */
  get condemned(): boolean {
    return this.#condemned
  }

  get hasRoom(): boolean {
    return !this.#condemned && !this.restored && this.instances.size < this.limits.instancesPerModule
  }

  /**
   * True while the cell has hosted only the one instance it holds: taken right after that
   * instance's code was evaluated (before any call), its memory holds no other instance's data,
   * freed or not, and may be snapshotted.
   */
  get pristine(): boolean {
    return !this.#condemned && !this.restored && this.#hosted === 1 && this.instances.size === 1
  }

  adopt(instance: Instance): void {
    this.instances.add(instance)
    this.#hosted++
  }

  /** Called by an instance once it is freed. */
  release(instance: Instance): void {
    this.instances.delete(instance)
    if (this.instances.size === 0) this.#onEmpty(this)
  }

  /**
   * The module can no longer be trusted (a runtime failed to free, a trap): every instance in it
   * is dropped without freeing, and the module is left to the garbage collector.
   */
  condemn(reason: string): void {
    if (this.#condemned) return
    this.#condemned = true
    const victims = [...this.instances]
    this.instances.clear()
    this.#onCondemn(this, victims, reason)
    this.#onEmpty(this)
  }
}
