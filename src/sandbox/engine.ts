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
import { cachedLayout, layoutCacheFile } from './layout-cache.js'
import { instantiate, MIN_MODULE_MB, ModuleCell, type CondemnHandler, type EmptyHandler } from './module-cell.js'
import type { SandboxLimits } from './protocol.js'
import {
  copyMemory,
  discoverLayout,
  packMemory,
  scrubFreeMemory,
  secretsFingerprint,
  type EngineLayout,
  type InstanceImage,
  type Snapshot,
} from './snapshot.js'

interface LoadedFunction {
  key: string
  code: string
  filename: string
  limits: SandboxLimits
  /** Granted secrets by name; shared by reference with the function's cells. */
  secrets: Map<string, string>
  cells: Set<ModuleCell>
  /** A cell being created, so concurrent creates share it instead of each making a module. */
  pendingCell: Promise<ModuleCell> | undefined
  /** What new instances restore from instead of evaluating the code (see snapshot.ts). */
  snapshot: Snapshot | undefined
  /** Its top-level code cannot be snapshotted (randomness, timers, host I/O): not tried again. */
  unsnapshottable: boolean
  /** Packs its snapshot, copied and waiting to be packed (see `Engine.#snapshot`). */
  pack: (() => void) | undefined
}

export interface EngineEvents {
  /** Instances dropped because their module was condemned. */
  lost(ids: number[], reason: string): void
  /** The number of blank engines ready changed (one became ready, was taken or dropped). */
  blank(ready: number): void
  /** A snapshot of a function version was taken on this thread. */
  snapshot?(key: string, snapshot: Snapshot): void
}

export interface EngineOptions {
  /**
   * Which functions are snapshotted (their later instances are then restored, each in a module of
   * its own, instead of evaluated): `'auto'` (default) those that are slow to evaluate (see
   * {@link worthSnapshot}), `'always'` every one that can be, `'never'` none.
   */
  snapshots?: 'auto' | 'always' | 'never'
}

/**
 * Below this, evaluating into a module that is already there is about as fast as restoring a new
 * module (~4 ms for the module plus ~1 ms per MB of snapshot), and needs no memory for a snapshot.
 */
export const SNAPSHOT_MIN_EVALUATE_MS = 10
/** How long a snapshot's packing waits for the first calls to be answered (see `Engine.#snapshot`). */
const SNAPSHOT_DELAY_MS = 20

/**
 * Whether a function is slow enough to evaluate for a snapshot to pay: it took
 * {@link SNAPSHOT_MIN_EVALUATE_MS} or more, and it did the work that takes (16 KB of code to
 * parse, or 100,000 calls and loop iterations at top level). The work check keeps a tiny function
 * that was merely descheduled on a busy machine from getting a module per instance.
 */
export function worthSnapshot(evaluateMs: number, codeBytes: number, polls: number): boolean {
  return evaluateMs >= SNAPSHOT_MIN_EVALUATE_MS && (codeBytes >= 16 * 1024 || polls >= 10)
}

/** What {@link Engine.create} reports. */
export interface Created {
  ms: number
  /** Restored from the function's snapshot rather than evaluated. */
  restored: boolean
  /** Its snapshot was copied from this instance, packed in a moment (see `Engine.#snapshot`). */
  packing: boolean
}

let compiled: WebAssembly.Module | undefined
/** Where this binary's layout is kept ({@link cachedLayout}); undefined outside a node_modules. */
let layoutFile: string | undefined

/** The QuickJS WebAssembly module, compiled once per thread. */
export function compiledModule(): WebAssembly.Module {
  if (!compiled) {
    const require = createRequire(import.meta.url)
    const path = require.resolve('@jitl/quickjs-wasmfile-release-sync/wasm')
    const bytes = readFileSync(path)
    compiled = new WebAssembly.Module(bytes)
    layoutFile = layoutCacheFile(path, bytes)
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
  #blankMemoryMb: number
  /** Blank engines to keep ready (set by the main thread: they count in the pool budget). */
  #blankTarget: number
  /** Bumped by {@link reset}: a blank still being prepared for an earlier runtime is dropped. */
  #generation = 0
  readonly #blanks: Blank[] = []
  #preparingBlank = false

  /** True while guests of this thread have work in flight: refills wait for a quiet moment. */
  readonly #busy: () => boolean
  /** The buffer the last snapshot's memory was copied into, reused by the next one. */
  #scratch: Uint8Array | undefined
  /** Functions whose snapshot was copied and waits to be packed. */
  readonly #packing = new Set<LoadedFunction>()
  readonly #snapshots: NonNullable<EngineOptions['snapshots']>
  /** This build's layout facts, probed once; undefined when snapshots cannot be taken here. */
  readonly #layout: Promise<EngineLayout | undefined>

  constructor(
    events: EngineEvents,
    blankMemoryMb: number,
    blankTarget = 1,
    busy: () => boolean = () => false,
    options: EngineOptions = {},
  ) {
    this.#events = events
    this.#blankMemoryMb = blankMemoryMb
    this.#blankTarget = blankTarget
    this.#busy = busy
    this.#snapshots = options.snapshots ?? 'auto'
    const compiled = compiledModule()
    this.#layout =
      this.#snapshots === 'never'
        ? Promise.resolve(undefined)
        : cachedLayout(layoutFile, () => discoverLayout(() => instantiate(compiled, MIN_MODULE_MB))).catch(
            () => undefined,
          )
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
    const generation = this.#generation
    try {
      await quiet()
      const cell = await ModuleCell.create(compiledModule(), limits)
      instance = new Instance(cell)
      cell.adopt(instance)
      await quiet()
      instance.prepare()
      await quiet()
      instance.preloadHttp()
      if (generation !== this.#generation) throw new Error('the thread was reset')
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
      key,
      code,
      filename,
      limits,
      secrets: new Map(Object.entries(secrets)),
      cells: new Set(),
      pendingCell: undefined,
      snapshot: undefined,
      unsnapshottable: false,
      pack: undefined,
    })
  }

  /**
   * Replaces a function version's secrets in place: its cells hold the same map. Its snapshot is
   * dropped: top-level code may have read the old values into module state.
   */
  setSecrets(key: string, secrets: Record<string, string>): void {
    const fn = this.#functions.get(key)
    if (!fn) return
    fn.secrets.clear()
    for (const [name, value] of Object.entries(secrets)) fn.secrets.set(name, value)
    fn.snapshot = undefined
    fn.pack = undefined
    this.#packing.delete(fn)
  }

  /** A snapshot of `key` taken on another thread; ignored unless it was taken with the same secrets. */
  adoptSnapshot(key: string, snapshot: Snapshot): void {
    const fn = this.#functions.get(key)
    if (!fn || fn.snapshot || snapshot.key !== key || snapshot.memoryMb !== fn.limits.memoryMb) return
    if (snapshot.secrets !== secretsFingerprint(fn.secrets)) return
    fn.snapshot = snapshot
  }

  /** Packs the snapshots copied and not packed yet: the thread has answered what it was running. */
  packSnapshots(): void {
    for (const fn of [...this.#packing]) fn.pack?.()
  }

  /** True while a snapshot waits to be packed. */
  get packing(): boolean {
    return this.#packing.size > 0
  }

  /** The snapshot new instances of `key` restore from, if any. */
  snapshotOf(key: string): Snapshot | undefined {
    const fn = this.#functions.get(key)
    fn?.pack?.()
    return fn?.snapshot
  }

  unload(key: string): void {
    const fn = this.#functions.get(key)
    if (!fn) return
    this.#functions.delete(key)
    fn.pack = undefined
    this.#packing.delete(fn)
    for (const cell of fn.cells) for (const inst of [...cell.instances]) this.destroy(inst.id)
  }

  instance(id: number): Instance | undefined {
    return this.#instances.get(id)
  }

  /**
   * Creates an instance of `key`: restored from the function's snapshot when it has one, else by
   * evaluating its code (in a cell with room, the blank engine or a new cell), then snapshotted
   * when that was slow and the cell holds nothing else.
   */
  async create(id: number, key: string): Promise<Created> {
    const start = performance.now()
    const fn = this.#functions.get(key)
    if (!fn) throw new FnboxError('ERR_NOT_FOUND', `function version ${key} is not loaded on this thread`)
    const layout = await this.#layout
    fn.pack?.() // a snapshot copied and not packed yet serves this instance
    const restored = fn.snapshot ? await this.#restore(fn, fn.snapshot) : undefined
    if (restored) {
      restored.id = id
      this.#instances.set(id, restored)
      return { ms: performance.now() - start, restored: true, packing: false }
    }
    const blank = [...fn.cells].some((c) => c.hasRoom) ? undefined : this.#takeBlank(fn)
    const instance = blank ? blank.instance : await this.#newInstance(fn)
    instance.id = id
    let evaluateMs: number
    let polls: number
    try {
      if (!blank) instance.prepare()
      const evaluating = performance.now()
      polls = instance.load(fn.code, fn.filename, layout)
      evaluateMs = performance.now() - evaluating
    } catch (err) {
      const failure = asFailure(err)
      if (failure.condemn) instance.cell.condemn(failure.error.message)
      else instance.dispose()
      throw failure
    }
    const worth = this.#snapshots === 'always' || worthSnapshot(evaluateMs, fn.code.length, polls)
    if (layout && worth) this.#snapshot(key, fn, instance, layout, evaluateMs)
    this.#instances.set(id, instance)
    return { ms: performance.now() - start, restored: false, packing: fn.pack !== undefined }
  }

  /**
   * Takes the snapshot of a function version from its instance just evaluated, if its cell holds
   * nothing else (so no other instance's data, freed or not, goes into it) and its top-level code
   * left nothing behind that a copy of the memory cannot carry. Off the response path: here only a
   * plain copy of the memory into a reused buffer (the instance may run as soon as it is
   * answered); finding its pages and packing them into shared memory waits for a quiet moment.
   */
  #snapshot(key: string, fn: LoadedFunction, instance: Instance, layout: EngineLayout, evaluateMs: number): void {
    if (fn.snapshot || fn.unsnapshottable || fn.pack || !instance.cell.pristine) return
    const started = performance.now()
    let copy: { bytes: Uint8Array; end: number }
    let image: InstanceImage
    const secrets = secretsFingerprint(fn.secrets)
    try {
      const captured = instance.capture(layout)
      if (typeof captured === 'string') {
        fn.unsnapshottable = true
        return
      }
      image = captured
      scrubFreeMemory(instance.cell.module, instance.cell.memory, layout)
      const scratch = this.#scratch
      this.#scratch = undefined // a second snapshot meanwhile copies into a buffer of its own
      copy = copyMemory(instance.cell.memory, layout, scratch)
    } catch {
      fn.unsnapshottable = true
      return
    }
    const copyMs = performance.now() - started
    const pack = (): void => {
      if (fn.pack !== pack) return // packed on demand already, or dropped (secrets changed, unloaded)
      fn.pack = undefined
      this.#packing.delete(fn)
      if (fn.snapshot) return // one from another thread came first
      const packing = performance.now()
      try {
        const { runs, data } = packMemory(copy.bytes, copy.end)
        fn.snapshot = {
          key,
          memoryMb: instance.cell.memoryMb,
          layout,
          runs,
          data,
          instance: image,
          secrets,
          evaluateMs,
          takeMs: copyMs + (performance.now() - packing),
        }
        this.#events.snapshot?.(key, fn.snapshot)
      } catch {
        fn.unsnapshottable = true
      } finally {
        if (!this.#scratch || this.#scratch.byteLength < copy.bytes.byteLength) this.#scratch = copy.bytes
      }
    }
    fn.pack = pack
    this.#packing.add(fn)
    // The first calls usually follow a deploy closely: they run first, and the thread packs it
    // once it has answered them (see packSnapshots), or after a moment without calls. A new
    // instance of the function on this thread meanwhile packs it at once (see create).
    setTimeout(pack, SNAPSHOT_DELAY_MS).unref()
  }

  /**
   * A new instance in a module of its own, restored from `snapshot`; undefined if that failed, or
   * if the snapshot was dropped meanwhile (a secret changed): the caller evaluates the code then.
   */
  async #restore(fn: LoadedFunction, snapshot: Snapshot): Promise<Instance | undefined> {
    try {
      if (snapshot.key !== fn.key) throw new Error('the snapshot is of another function')
      const cell = await ModuleCell.restore(compiledModule(), fn.limits, snapshot, ...this.#ownedBy(fn))
      if (fn.snapshot !== snapshot) return undefined
      cell.secrets = fn.secrets
      const instance = Instance.restore(cell, snapshot)
      cell.adopt(instance)
      fn.cells.add(cell)
      return instance
    } catch {
      // The half-restored module is dropped as it is; this and later instances evaluate the code.
      if (fn.snapshot === snapshot) fn.snapshot = undefined
      fn.unsnapshottable = true
      return undefined
    }
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
      fn.pendingCell ??= ModuleCell.create(compiledModule(), fn.limits, ...this.#ownedBy(fn))
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

  /**
   * Drops everything of the runtime the thread served, for the next one (a thread kept warm, see
   * pool/warm-threads.ts): every function version, instance, snapshot and blank engine (a blank's
   * prelude has read the clock of the runtime that made it), then keeps `blanks` blank engines of
   * `blankMemoryMb` from now on.
   */
  reset(blankMemoryMb: number, blanks: number): void {
    this.#generation++
    for (const key of [...this.#functions.keys()]) this.unload(key)
    for (const id of [...this.#instances.keys()]) this.destroy(id)
    for (const blank of this.#blanks.splice(0)) blank.instance.dispose()
    this.#packing.clear()
    this.#scratch = undefined
    this.#blankMemoryMb = blankMemoryMb
    this.#blankTarget = blanks
    this.#preparingBlank = false
  }

  /** Forget an instance that disposed itself (after a failure that discarded it). */
  forget(id: number): void {
    this.#instances.delete(id)
  }
}
