/**
 * The slice of quickjs-emscripten-core's internals that engine snapshots rely on (see
 * `snapshot.ts`), typed as the parts used. A snapshot restores a module's linear memory, where
 * the QuickJS runtime and context live; the host-side objects wrapping them (runtime, context,
 * value handles, host function table) must then be rebuilt around the same pointers, which the
 * public API does not offer: it always allocates a new runtime.
 *
 * Every accessor checks the shape it finds and throws {@link InternalsMismatch} when a version of
 * the library lays its objects out differently; the engine then turns snapshots off and keeps
 * evaluating from source.
 *
 * @internal
 * @module
 */
import {
  Lifetime,
  QuickJSRuntime,
  type QuickJSContext,
  type QuickJSHandle,
  type QuickJSWASMModule,
} from 'quickjs-emscripten-core'

/** quickjs-emscripten-core does not lay its objects out as expected. */
export class InternalsMismatch extends Error {}

/** The emscripten module object of a {@link QuickJSWASMModule} (`module`). */
export interface EmscriptenModule {
  HEAPU8: Uint8Array
  _malloc(bytes: number): number
  _free(ptr: number): void
}

/** `QuickJSModuleCallbacks`: routes C callbacks to the runtime or context owning a pointer. */
interface ModuleCallbacks {
  deleteRuntime(rt: number): void
}

/** The part of the FFI used to adopt and free pointers. */
interface Ffi {
  QTS_FreeRuntime(rt: number): void
  QTS_FreeValuePointer(ctx: number, value: number): void
}

/** `HostRefMap`: host functions by id, as the guest's function objects name them. */
interface HostRefMap {
  nextId: number
  freelist: number[]
  groups: Map<number, Map<number, object>>
}

/** What a {@link HostRefMap} holds, in a form that can be rebuilt elsewhere. */
export interface HostRefState {
  nextId: number
  freelist: number[]
  entries: [id: number, value: object][]
}

function fail(what: string): never {
  throw new InternalsMismatch(`quickjs-emscripten-core internals changed: ${what}`)
}

function field<T>(obj: unknown, name: string, check: (v: unknown) => boolean): T {
  const value = (obj as Record<string, unknown> | null)?.[name]
  if (!check(value)) fail(name)
  return value as T
}

const isObject = (v: unknown): boolean => typeof v === 'object' && v !== null
const isFunction = (v: unknown): boolean => typeof v === 'function'
const isNumber = (v: unknown): boolean => typeof v === 'number'
const isPointerLifetime = (v: unknown): boolean => v instanceof Lifetime && typeof v.value === 'number'

export function emscriptenModule(qjs: QuickJSWASMModule): EmscriptenModule {
  const module = field<EmscriptenModule>(qjs, 'module', isObject)
  if (!(module.HEAPU8 instanceof Uint8Array) || !isFunction(module._malloc) || !isFunction(module._free)) {
    fail('module')
  }
  return module
}

function ffi(qjs: QuickJSWASMModule): Ffi {
  const f = qjs.getFFI() as unknown as Ffi
  if (!isFunction(f.QTS_FreeRuntime) || !isFunction(f.QTS_FreeValuePointer)) fail('ffi')
  return f
}

/** The C pointers of a context and its runtime. */
export function contextPointers(ctx: QuickJSContext): { rt: number; ctx: number } {
  return {
    rt: field<Lifetime<number>>(ctx, 'rt', isPointerLifetime).value,
    ctx: field<Lifetime<number>>(ctx, 'ctx', isPointerLifetime).value,
  }
}

/**
 * The handles a context creates lazily and keeps for its lifetime, other than `global`. Each
 * holds a reference inside the runtime; restored into a new host object it would be orphaned, and
 * `JS_FreeRuntime` aborts on the leak. A snapshot needs them all unused.
 */
export function cachedHandlesInUse(ctx: QuickJSContext): string[] {
  const names = ['_BigInt', '_Symbol', '_SymbolIterator', '_SymbolAsyncIterator']
  return names.filter((n) => (ctx as unknown as Record<string, unknown>)[n] !== undefined)
}

/** The 4-byte scratch buffer a context mallocs for itself (its `uint32Out`). */
export function contextScratch(ctx: QuickJSContext): number {
  const scratch = field<Lifetime<{ ptr: number }>>(ctx, 'uint32Out', (v) => v instanceof Lifetime)
  const ptr = scratch.value.ptr
  if (!isNumber(ptr)) fail('uint32Out')
  return ptr
}

function hostRefMap(runtime: QuickJSRuntime): HostRefMap {
  const map = field<HostRefMap>(runtime, 'hostRefs', isObject)
  if (!isNumber(map.nextId) || !Array.isArray(map.freelist) || !(map.groups instanceof Map)) fail('hostRefs')
  return map
}

export function hostRefState(runtime: QuickJSRuntime): HostRefState {
  const map = hostRefMap(runtime)
  const entries: [number, object][] = []
  for (const group of map.groups.values()) for (const [id, value] of group) entries.push([id, value])
  return { nextId: map.nextId, freelist: [...map.freelist], entries }
}

/** Replaces a runtime's host function table (ids as the restored guest objects hold them). */
export function setHostRefState(runtime: QuickJSRuntime, state: HostRefState): void {
  const map = hostRefMap(runtime)
  map.groups.clear()
  for (const [id, value] of state.entries) {
    const groupId = id >> 8
    let group = map.groups.get(groupId)
    if (!group) map.groups.set(groupId, (group = new Map()))
    group.set(id, value)
  }
  map.nextId = state.nextId
  map.freelist = [...state.freelist]
}

/**
 * A host runtime object for a QuickJS runtime that already exists in the module's memory (what
 * `newRuntime` builds around a new one). Disposing it frees the runtime, as for any other.
 */
export function adoptRuntime(qjs: QuickJSWASMModule, rtPtr: number): QuickJSRuntime {
  const module = emscriptenModule(qjs)
  const callbacks = field<ModuleCallbacks>(qjs, 'callbacks', isObject)
  if (!isFunction(callbacks.deleteRuntime)) fail('callbacks')
  const f = ffi(qjs)
  const rt = new Lifetime(rtPtr, undefined, (ptr: number) => {
    f.QTS_FreeRuntime(ptr)
    callbacks.deleteRuntime(ptr)
  })
  type Args = ConstructorParameters<typeof QuickJSRuntime>[0]
  return new QuickJSRuntime({ module, ffi: f, rt, callbacks } as unknown as Args)
}

/** A handle owning a value pointer that already exists in the context (freed on dispose). */
export function adoptHandle(ctx: QuickJSContext, ptr: number): QuickJSHandle {
  const { rt } = contextPointers(ctx)
  type RtPointer = Parameters<QuickJSContext['getMemory']>[0]
  type ValuePointer = Parameters<ReturnType<QuickJSContext['getMemory']>['heapValueHandle']>[0]
  return ctx.getMemory(rt as RtPointer).heapValueHandle(ptr as ValuePointer)
}

/** Frees a value pointer that no host object owns any more (the restored copy of an old handle). */
export function freeOrphanValue(qjs: QuickJSWASMModule, ctxPtr: number, ptr: number): void {
  ffi(qjs).QTS_FreeValuePointer(ctxPtr, ptr)
}
