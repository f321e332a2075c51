/**
 * A module cell: one QuickJS WebAssembly module with fixed linear memory, hosting up to
 * `instancesPerModule` instances of ONE function version (a module's memory is one address space,
 * so it never hosts two trust domains).
 *
 * Memory: the module's linear memory is fixed at `memoryMb` (initial = maximum), the one hard cap
 * there is: QuickJS's own `setMemoryLimit` undercounts badly in this build (a guest reached ~380 MB
 * under a 32 MB limit), so it is kept only as an extra check. Instances sharing a module share
 * its `memoryMb`; `pool.instancesPerModule: 1` gives each instance a cap of its own, at ~0.5 MB of
 * RSS per module instead of ~80 KB per instance. Untouched pages cost no RSS.
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

// The package's CJS typings hide that its default export is the variant itself.
const variant = releaseSync as unknown as QuickJSSyncVariant

/** The release-sync build declares at most 32768 pages (2 GiB) and needs at least 256 (16 MiB). */
export const MAX_MODULE_MB = 2048
export const MIN_MODULE_MB = 16

export type CondemnHandler = (cell: ModuleCell, victims: Instance[], reason: string) => void
export type EmptyHandler = (cell: ModuleCell) => void

export class ModuleCell {
  readonly module: QuickJSWASMModule
  readonly memoryMb: number
  /** The function's limits; a blank cell gets them when it is bound. */
  limits: SandboxLimits
  readonly instances = new Set<Instance>()
  /** The bound function's granted secrets (the engine updates the map in place). */
  secrets: ReadonlyMap<string, string> = new Map()
  #condemned = false
  #onCondemn: CondemnHandler
  #onEmpty: EmptyHandler

  private constructor(
    module: QuickJSWASMModule,
    limits: SandboxLimits,
    onCondemn: CondemnHandler,
    onEmpty: EmptyHandler,
  ) {
    this.module = module
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
    const mb = Math.max(MIN_MODULE_MB, Math.min(MAX_MODULE_MB, limits.memoryMb))
    const pages = mb * 16
    const wasmMemory = new WebAssembly.Memory({ initial: pages, maximum: pages })
    const module = await newQuickJSWASMModuleFromVariant(newVariant(variant, { wasmModule, wasmMemory }))
    return new ModuleCell(module, limits, onCondemn, onEmpty)
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

  get hasRoom(): boolean {
    return !this.#condemned && this.instances.size < this.limits.instancesPerModule
  }

  adopt(instance: Instance): void {
    this.instances.add(instance)
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
