/**
 * Engine snapshots: the state of a module cell right after a function's top-level code ran,
 * restored into a fresh module instead of evaluating the source again (a 500 KB bundle takes
 * ~150 ms to evaluate; restoring it takes a few ms).
 *
 * What the state of a module is, and how each part is carried:
 * - **Linear memory** below emscripten's break (`sbrk`): the QuickJS runtime, context, heap,
 *   atoms, bytecode, the libc and allocator state, and the shadow stack (placed below the heap in
 *   this build). Memory at and above the break is not program state (never allocated, or trimmed
 *   and never read before it is written again), so it is not copied. Zero 4 KiB pages are
 *   skipped, so a snapshot costs its non-zero pages and a restored module touches only those.
 * - **Mutable wasm globals:** this build has one, the stack pointer, which is back at its initial
 *   value whenever no wasm call is on the stack (the only time a snapshot is taken). Constructors
 *   of a fresh instance write the data segments and a few pages: those are zeroed first, then
 *   the snapshot's pages are written over them.
 * - **Emscripten's JS-side state** (heap views, timers, stdio buffers, env cache, abort flag):
 *   nothing the QuickJS build keeps there between calls; memory is fixed-size, so the views never
 *   change.
 * - **quickjs-emscripten's host objects** (runtime/context wrappers, the host function table,
 *   value handles, interrupt handler, module loader) are rebuilt around the same pointers by the
 *   instance (see `Instance.restore`, `quickjs-internals.ts`).
 * - **Math.random's state** lives in the context: every restored instance is reseeded, or all
 *   clones of one snapshot would draw the same numbers.
 *
 * The layout facts this needs (where the break pointer is, what a fresh module writes, where the
 * random state is) are found once per thread by probing a fresh module ({@link discoverLayout}),
 * and checked again on every restore; when probing fails, the engine keeps evaluating from source.
 *
 * @internal
 * @module
 */
import { createHash, randomFillSync } from 'node:crypto'
import type { QuickJSWASMModule } from 'quickjs-emscripten-core'
import type { NativesImage } from './natives.js'
import { contextPointers, emscriptenModule } from './quickjs-internals.js'

const PAGE = 4096
const ZERO_PAGE = new Uint8Array(PAGE)

/** Facts of this WebAssembly build, found by {@link discoverLayout}. */
export interface EngineLayout {
  /** Address of emscripten's break pointer (`sbrk`'s value). */
  brkAddress: number
  /** The break of a freshly instantiated module. */
  freshBrk: number
  /** What a fresh module has written (data segments, constructors): `[address, bytes]` pairs. */
  freshDirty: number[]
  /** Offset of `random_state` (Math.random's xorshift64* state) in a `JSContext`. */
  randomStateOffset: number
}

/** The host-side objects of an instance, by the pointers they wrap. */
export interface InstanceImage {
  rt: number
  ctx: number
  /** The context's handle on the global object (freed on restore: the new context makes its own). */
  global: number
  /** The context's scratch allocation (freed on restore, likewise). */
  scratch: number
  /** The prelude's entry object, and the entry methods looked up so far. */
  entry: number
  methods: [name: string, ptr: number][]
  natives: NativesImage
}

/**
 * A module cell's state after one function's top-level code ran. Immutable once taken; `data` is
 * shared memory, so every thread restores from the same bytes without a copy.
 */
export interface Snapshot {
  /** The function version (thread-side key) it belongs to: it is restored into no other. */
  key: string
  memoryMb: number
  layout: EngineLayout
  /** `[address, bytes]` pairs: where each run of `data` goes. */
  runs: number[]
  data: SharedArrayBuffer
  instance: InstanceImage
  /** {@link secretsFingerprint} of the secrets the function could read while it was evaluated. */
  secrets: string
  /** Time evaluating the source took, and taking the snapshot, in ms. */
  evaluateMs: number
  takeMs: number
}

/** A module and its memory, to probe. */
export interface Probe {
  module: QuickJSWASMModule
  memory: WebAssembly.Memory
}

/** Non-zero pages of `bytes`' `[0, end)` as `[address, bytes]` runs. */
function dirtyRuns(bytes: Uint8Array, end: number): number[] {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  const runs: number[] = []
  let start = -1
  const last = Math.ceil(end / PAGE) * PAGE
  for (let at = 0; at < last; at += PAGE) {
    const dirty = buf.compare(ZERO_PAGE, 0, PAGE, at, at + PAGE) !== 0
    if (dirty && start < 0) start = at
    if (!dirty && start >= 0) {
      runs.push(start, at - start)
      start = -1
    }
  }
  if (start >= 0) runs.push(start, last - start)
  return runs
}

function u32(memory: WebAssembly.Memory, address: number): number {
  return new DataView(memory.buffer).getUint32(address, true)
}

/** What Math.random returns after its state became `state` (QuickJS's js_math_random). */
function randomFromState(state: bigint): number {
  const v = BigInt.asUintN(64, state * 0x2545f4914f6cdd1dn)
  const view = new DataView(new ArrayBuffer(8))
  view.setBigUint64(0, (0x3ffn << 52n) | (v >> 12n), true)
  return view.getFloat64(0, true) - 1
}

/**
 * Finds the layout facts of this build by probing a fresh module from `newProbe` (16 MiB).
 * Throws when a fact cannot be established beyond doubt.
 */
export async function discoverLayout(newProbe: () => Promise<Probe>): Promise<EngineLayout> {
  const { module, memory } = await newProbe()
  const size = memory.buffer.byteLength
  // What a fresh module has written: the whole memory, once.
  const written = dirtyRuns(new Uint8Array(memory.buffer), size)

  // The break pointer: the one word of static data that follows two large allocations exactly.
  const em = emscriptenModule(module)
  const words = (): Uint32Array => new Uint32Array(memory.buffer, 0, (1 << 20) / 4).slice()
  const w0 = words()
  const p1 = em._malloc(2 << 20)
  const w1 = words()
  const p2 = em._malloc(4 << 20)
  const w2 = words()
  const candidates: number[] = []
  for (let i = 0; i < w0.length; i++) {
    const [a, b, c] = [w0[i]!, w1[i]!, w2[i]!]
    if (!(p1 && p2 && a < b && b >= p1 + (2 << 20) && c >= p2 + (4 << 20) && c - b >= 4 << 20 && c + PAGE <= size)) {
      continue
    }
    if (Buffer.from(memory.buffer, c, PAGE).compare(ZERO_PAGE) === 0) candidates.push(i * 4)
  }
  em._free(p2)
  em._free(p1)
  if (candidates.length !== 1) throw new Error(`break pointer not found (${candidates.length} candidates)`)
  const brkAddress = candidates[0]!
  const freshBrk = w0[brkAddress / 4]!
  // Nothing a fresh module wrote lies past its break: what a restore must zero is below it.
  const last = written.length ? written[written.length - 2]! + written[written.length - 1]! : 0
  if (last > Math.ceil(freshBrk / PAGE) * PAGE) throw new Error('a fresh module wrote past its break')

  // Math.random's state: the one field of a JSContext that gives what Math.random just returned.
  const ctx = module.newContext()
  try {
    let offsets: number[] | undefined
    for (let round = 0; round < 3; round++) {
      const r = ctx.dump(ctx.unwrapResult(ctx.evalCode('Math.random()'))) as number
      const base = contextPointers(ctx).ctx
      const view = new DataView(memory.buffer)
      const found: number[] = []
      for (let off = 0; off < 4096; off += 4) {
        const s = view.getBigUint64(base + off, true)
        if (s !== 0n && randomFromState(s) === r) found.push(off)
      }
      offsets = offsets ? offsets.filter((o) => found.includes(o)) : found
    }
    if (offsets?.length !== 1) throw new Error(`Math.random state not found (${offsets?.length} candidates)`)
    return { brkAddress, freshBrk, freshDirty: written, randomStateOffset: offsets[0]! }
  } finally {
    ctx.dispose() // its runtime too
  }
}

/**
 * Zeroes the heap's free blocks of a page or more, so a snapshot skips their pages: evaluating a
 * module frees its parser's memory (a 500 KB bundle: ~0.9 MB of whole free pages, of ~5 MB).
 * Smaller free blocks sit between live objects on pages that stay non-zero anyway.
 *
 * Allocator-agnostic: it allocates free blocks (largest first, none past the break as it was),
 * writes zeros into each (memory it owns), then frees them all; only block headers stay.
 */
export function scrubFreeMemory(qjs: QuickJSWASMModule, memory: WebAssembly.Memory, layout: EngineLayout): void {
  const em = emscriptenModule(qjs)
  const brk = u32(memory, layout.brkAddress)
  const held: number[] = []
  try {
    for (let size = 256 * 1024; size >= PAGE; size >>= 1) {
      for (;;) {
        const ptr = em._malloc(size)
        if (ptr === 0) break
        if (ptr + size > brk) {
          em._free(ptr) // taken from past the old break (zero already): try a smaller size
          break
        }
        held.push(ptr)
        new Uint8Array(memory.buffer, ptr, size).fill(0)
      }
    }
  } finally {
    for (let i = held.length - 1; i >= 0; i--) em._free(held[i]!)
  }
}

/** Copies the program state of a module's memory (see the module doc). */
export function takeMemory(
  memory: WebAssembly.Memory,
  layout: EngineLayout,
): { runs: number[]; data: SharedArrayBuffer } {
  const brk = programBreak(memory, layout)
  return packMemory(new Uint8Array(memory.buffer), brk)
}

/** The module's program break: its memory holds nothing of the program's above it. */
function programBreak(memory: WebAssembly.Memory, layout: EngineLayout): number {
  const brk = u32(memory, layout.brkAddress)
  if (brk < layout.freshBrk || brk > memory.buffer.byteLength) throw new Error(`implausible break ${brk}`)
  return brk
}

/**
 * The first half of {@link takeMemory}, the one that must run while the memory is as the snapshot
 * wants it: a plain copy of its program state into `scratch` (reused when big enough, else a new
 * buffer). {@link packMemory} does the rest from the copy later, when the thread is idle.
 */
export function copyMemory(
  memory: WebAssembly.Memory,
  layout: EngineLayout,
  scratch: Uint8Array | undefined,
): { bytes: Uint8Array; end: number } {
  const end = programBreak(memory, layout)
  const last = Math.min(Math.ceil(end / PAGE) * PAGE, memory.buffer.byteLength)
  const bytes = scratch && scratch.byteLength >= last ? scratch : new Uint8Array(last)
  bytes.set(new Uint8Array(memory.buffer, 0, last))
  return { bytes, end }
}

/** The non-zero pages of `bytes`' `[0, end)`, packed into shared memory with their addresses. */
export function packMemory(bytes: Uint8Array, end: number): { runs: number[]; data: SharedArrayBuffer } {
  const runs = dirtyRuns(bytes, end)
  let total = 0
  for (let i = 1; i < runs.length; i += 2) total += runs[i]!
  const data = new SharedArrayBuffer(total)
  const out = new Uint8Array(data)
  let at = 0
  for (let i = 0; i < runs.length; i += 2) {
    out.set(bytes.subarray(runs[i], runs[i]! + runs[i + 1]!), at)
    at += runs[i + 1]!
  }
  return { runs, data }
}

/**
 * Writes a snapshot's memory into a freshly instantiated module of the same size, before any
 * runtime exists in it. Throws when the module is not as fresh as the layout says.
 */
export function restoreMemory(memory: WebAssembly.Memory, snapshot: Snapshot): void {
  const { layout } = snapshot
  if (memory.buffer.byteLength !== snapshot.memoryMb * 1024 * 1024) throw new Error('memory size differs')
  if (u32(memory, layout.brkAddress) !== layout.freshBrk) throw new Error('the module is not fresh')
  const dst = new Uint8Array(memory.buffer)
  for (let i = 0; i < layout.freshDirty.length; i += 2) {
    dst.fill(0, layout.freshDirty[i], layout.freshDirty[i]! + layout.freshDirty[i + 1]!)
  }
  const src = new Uint8Array(snapshot.data)
  let at = 0
  for (let i = 0; i < snapshot.runs.length; i += 2) {
    const bytes = snapshot.runs[i + 1]!
    dst.set(src.subarray(at, at + bytes), snapshot.runs[i])
    at += bytes
  }
}

/** Math.random's state of the context at `ctxPtr`. */
export function randomState(memory: WebAssembly.Memory, layout: EngineLayout, ctxPtr: number): bigint {
  return new DataView(memory.buffer).getBigUint64(ctxPtr + layout.randomStateOffset, true)
}

/** Gives the context at `ctxPtr` a fresh Math.random seed from the host's CSPRNG. */
export function reseedRandom(memory: WebAssembly.Memory, layout: EngineLayout, ctxPtr: number): void {
  const seed = new BigUint64Array(1)
  do randomFillSync(seed)
  while (seed[0] === 0n) // xorshift's state must not be zero
  new DataView(memory.buffer).setBigUint64(ctxPtr + layout.randomStateOffset, seed[0]!, true)
}

/** Identifies a set of secret values without holding them (order-independent). */
export function secretsFingerprint(secrets: Iterable<[string, string]>): string {
  const sorted = [...secrets].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
  return createHash('sha256').update(JSON.stringify(sorted)).digest('hex')
}
