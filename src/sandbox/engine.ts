/**
 * The engine of one executor thread: the compiled QuickJS WebAssembly module, the function
 * versions loaded on this thread, their module cells and instances.
 *
 * @internal
 * @module
 */
import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { FnboxError } from '../errors.js'
import { asFailure, Instance } from './instance.js'
import { ModuleCell, type CondemnHandler, type EmptyHandler } from './module-cell.js'
import type { SandboxLimits } from './protocol.js'

interface LoadedFunction {
  code: string
  filename: string
  limits: SandboxLimits
  /** Granted secrets by name; shared by reference with the function's cells. */
  secrets: Map<string, string>
  cells: Set<ModuleCell>
  /** A cell being created, so concurrent creates share it instead of each making a module. */
  pendingCell: Promise<ModuleCell> | undefined
}

export interface EngineEvents {
  /** Instances dropped because their module was condemned. */
  lost(ids: number[], reason: string): void
  /** The number of blank engines ready changed (one became ready, was taken or dropped). */
  blank(ready: number): void
}

let compiled: WebAssembly.Module | undefined

function wasmModule(): WebAssembly.Module {
  if (!compiled) {
    const require = createRequire(import.meta.url)
    const bytes = readFileSync(require.resolve('@jitl/quickjs-wasmfile-release-sync/wasm'))
    compiled = new WebAssembly.Module(bytes)
  }
  return compiled
}

/** A cell with one instance whose prelude has run, waiting for the next function that needs a cell. */
interface Blank {
  cell: ModuleCell
  instance: Instance
}

export class Engine {
  readonly #functions = new Map<string, LoadedFunction>()
  readonly #instances = new Map<number, Instance>()
  readonly #events: EngineEvents
  /** Memory of blank cells: the runtime's default `memoryMb` (0: keep no blank). */
  readonly #blankMemoryMb: number
  /** Blank engines to keep ready (set by the main thread: they count in the pool budget). */
  readonly #blankTarget: number
  readonly #blanks: Blank[] = []
  #preparingBlank = false

  /** True while guests of this thread have work in flight: refills wait for a quiet moment. */
  readonly #busy: () => boolean

  constructor(events: EngineEvents, blankMemoryMb: number, blankTarget = 1, busy: () => boolean = () => false) {
    this.#events = events
    this.#blankMemoryMb = blankMemoryMb
    this.#blankTarget = blankTarget
    this.#busy = busy
    wasmModule()
  }

  /**
   * Keeps blank engines ready (module + runtime + context + prelude), so a function's first
   * instance on this thread only evaluates its own code. Prepared one at a time, when the thread
   * is otherwise idle.
   */
  refillBlank(): void {
    if (this.#blanks.length >= this.#blankTarget || this.#preparingBlank || this.#blankMemoryMb === 0) return
    this.#preparingBlank = true
    const limits: SandboxLimits = {
      memoryMb: this.#blankMemoryMb,
      maxStackKb: 256,
      maxResponseBytes: 0,
      maxLogBytes: 0,
      instancesPerModule: 1,
    }
    void this.#prepareBlank(limits).then((made) => {
      this.#preparingBlank = false
      // The next one, after letting waiting messages through; a failure is not retried in a loop.
      if (made) setTimeout(() => this.refillBlank(), 0).unref()
    })
  }

  /**
   * Each step runs synchronously for up to a few ms (the prelude, the HTTP chunk), so each waits
   * for a moment when no call of this thread is in flight.
   */
  async #prepareBlank(limits: SandboxLimits): Promise<boolean> {
    const quiet = async (): Promise<void> => {
      while (this.#busy()) await new Promise((r) => setTimeout(r, 5).unref())
    }
    let instance: Instance | undefined
    try {
      await quiet()
      const cell = await ModuleCell.create(wasmModule(), limits)
      instance = new Instance(cell)
      cell.adopt(instance)
      await quiet()
      instance.prepare()
      await quiet()
      instance.preloadHttp()
      this.#blanks.push({ cell, instance })
      this.#events.blank(this.#blanks.length)
      return true
    } catch {
      instance?.dispose()
      return false
    }
  }

  /** What a cell of `fn` reports: its instances condemned, and its emptiness (it leaves `fn`). */
  #ownedBy(fn: LoadedFunction): [CondemnHandler, EmptyHandler] {
    return [(_cell, victims, reason) => this.#condemned(victims, reason), (cell) => fn.cells.delete(cell)]
  }

  /** Takes a blank for `fn` when its memory size matches, binding it to the function for good. */
  #takeBlank(fn: LoadedFunction): Blank | undefined {
    const blank = this.#blanks.at(-1)
    if (!blank || blank.cell.memoryMb !== fn.limits.memoryMb) return undefined
    this.#blanks.pop()
    blank.cell.bind(fn.limits, fn.secrets, ...this.#ownedBy(fn))
    fn.cells.add(blank.cell)
    this.#events.blank(this.#blanks.length)
    // The first calls usually follow a deploy closely: let them run before the refill starts.
    setTimeout(() => this.refillBlank(), 50).unref()
    return blank
  }

  load(key: string, code: string, filename: string, limits: SandboxLimits, secrets: Record<string, string>): void {
    const existing = this.#functions.get(key)
    if (existing) return
    this.#functions.set(key, {
      code,
      filename,
      limits,
      secrets: new Map(Object.entries(secrets)),
      cells: new Set(),
      pendingCell: undefined,
    })
  }

  /** Replaces a function version's secrets in place: its cells hold the same map. */
  setSecrets(key: string, secrets: Record<string, string>): void {
    const map = this.#functions.get(key)?.secrets
    if (!map) return
    map.clear()
    for (const [name, value] of Object.entries(secrets)) map.set(name, value)
  }

  unload(key: string): void {
    const fn = this.#functions.get(key)
    if (!fn) return
    this.#functions.delete(key)
    for (const cell of fn.cells) for (const inst of [...cell.instances]) this.destroy(inst.id)
  }

  instance(id: number): Instance | undefined {
    return this.#instances.get(id)
  }

  /** Creates an instance of `key`; resolves with the time it took in ms. */
  async create(id: number, key: string): Promise<number> {
    const start = performance.now()
    const fn = this.#functions.get(key)
    if (!fn) throw new FnboxError('ERR_NOT_FOUND', `function version ${key} is not loaded on this thread`)
    const blank = [...fn.cells].some((c) => c.hasRoom) ? undefined : this.#takeBlank(fn)
    const instance = blank ? blank.instance : await this.#newInstance(fn)
    instance.id = id
    try {
      if (!blank) instance.prepare()
      instance.load(fn.code, fn.filename)
    } catch (err) {
      instance.dispose()
      throw asFailure(err)
    }
    this.#instances.set(id, instance)
    return performance.now() - start
  }

  /**
   * A new instance in a cell of `fn` with room, adopted at once: many creates run concurrently,
   * and a slot found in one microtask but taken in a later one would overfill the cell (its
   * instances share its fixed memory).
   */
  async #newInstance(fn: LoadedFunction): Promise<Instance> {
    for (;;) {
      for (const cell of fn.cells) {
        if (!cell.hasRoom) continue
        const instance = new Instance(cell)
        cell.adopt(instance)
        return instance
      }
      fn.pendingCell ??= ModuleCell.create(wasmModule(), fn.limits, ...this.#ownedBy(fn))
        .then((cell) => {
          cell.secrets = fn.secrets
          fn.cells.add(cell)
          return cell
        })
        .finally(() => {
          fn.pendingCell = undefined
        })
      await fn.pendingCell
    }
  }

  #condemned(victims: Instance[], reason: string): void {
    const ids: number[] = []
    for (const v of victims) {
      v.abandon()
      if (this.#instances.delete(v.id)) ids.push(v.id)
    }
    if (ids.length) this.#events.lost(ids, reason)
  }

  destroy(id: number): void {
    const inst = this.#instances.get(id)
    if (!inst) return
    this.#instances.delete(id)
    inst.dispose()
  }

  /** Forget an instance that disposed itself (after a failure that discarded it). */
  forget(id: number): void {
    this.#instances.delete(id)
  }
}
