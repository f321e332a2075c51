// The host's own access to the data stores: `runtime.kv`, `runtime.vector`, `runtime.files` and
// `runtime.secrets`, so the host app can seed what functions read and read what they write.
// Arguments are validated exactly as a guest's are. The public types are interfaces; the classes
// implementing them stay internal.
import type { Backend } from '../../storage/backend.js'
import { OPERATIONS, storageCall } from './operations.js'
import type {
  FileInfo,
  FileListOptions,
  FileListResult,
  JsonValue,
  KvListOptions,
  KvListResult,
  KvSetOptions,
  VectorIndexInfo,
  VectorItem,
  VectorMatch,
  VectorMetric,
  VectorQuery,
} from './types.js'
import { text } from './validate.js'

type BackendRef = () => Promise<Backend>

/** The data scope functions use unless deployed with `scope`. @public */
export const DEFAULT_SCOPE = 'default'

export function checkScope(scope: unknown, argument = 'scope'): string {
  return text(scope, argument, 128)
}

abstract class ScopedClient {
  protected readonly backend: BackendRef
  readonly scopeName: string

  constructor(backend: BackendRef, scope: string) {
    this.backend = backend
    this.scopeName = scope
  }

  protected async run<T>(method: string, args: Record<string, unknown>, bytes?: Uint8Array): Promise<T> {
    const backend = await this.backend()
    return (await storageCall(() => OPERATIONS[method]!(backend, this.scopeName, args, bytes))) as T
  }
}

/**
 * The key-value store, as functions see it through `kv` of `fnbox:host`.
 *
 * @example
 * ```ts
 * await runtime.kv.set('greeting', { text: 'hello' }, { ttl: 3600 })
 * const tenant = runtime.kv.scope('tenant-42') // the data of functions deployed with scope 'tenant-42'
 * await tenant.incr('visits')
 * ```
 * @public
 */
export interface KvClient {
  /** The data scope this client reads and writes. */
  readonly scopeName: string
  /** The same store in another data scope. */
  scope(name: string): KvClient
  /** The value, or `undefined` when the key is absent or expired. */
  get<T extends JsonValue = JsonValue>(key: string): Promise<T | undefined>
  set(key: string, value: JsonValue, options?: KvSetOptions): Promise<void>
  /** True when a live entry was removed. */
  delete(key: string): Promise<boolean>
  list(options?: KvListOptions): Promise<KvListResult>
  /** Adds `by` (default 1) atomically; an absent key counts as 0. */
  incr(key: string, by?: number): Promise<number>
  /** Sets `value` only if the current value equals `expected` (`undefined`: absent). */
  compareAndSet(
    key: string,
    expected: JsonValue | undefined,
    value: JsonValue,
    options?: KvSetOptions,
  ): Promise<boolean>
}

export class KvClientImpl extends ScopedClient implements KvClient {
  /** The same store in another data scope. */
  scope(name: string): KvClient {
    return new KvClientImpl(this.backend, checkScope(name))
  }
  /** The value, or `undefined` when the key is absent or expired. */
  get<T extends JsonValue = JsonValue>(key: string): Promise<T | undefined> {
    return this.run('kv.get', { key })
  }
  set(key: string, value: JsonValue, options?: KvSetOptions): Promise<void> {
    return this.run('kv.set', { key, value, options })
  }
  /** True when a live entry was removed. */
  delete(key: string): Promise<boolean> {
    return this.run('kv.delete', { key })
  }
  list(options?: KvListOptions): Promise<KvListResult> {
    return this.run('kv.list', { options })
  }
  /** Adds `by` (default 1) atomically; an absent key counts as 0. */
  incr(key: string, by?: number): Promise<number> {
    return this.run('kv.incr', { key, by })
  }
  /** Sets `value` only if the current value equals `expected` (`undefined`: absent). */
  compareAndSet(
    key: string,
    expected: JsonValue | undefined,
    value: JsonValue,
    options?: KvSetOptions,
  ): Promise<boolean> {
    return this.run('kv.compareAndSet', { key, expected, value, options })
  }
}

/** Options of {@link VectorClient.createIndex}. @public */
export interface CreateIndexOptions {
  dimensions: number
  /** Default `'cosine'`. */
  metric?: VectorMetric
}

/**
 * Vector indexes, as functions see them through `vector` of `fnbox:host`, plus index management.
 *
 * @example
 * ```ts
 * await runtime.vector.createIndex('docs', { dimensions: 384, metric: 'cosine' })
 * await runtime.vector.upsert('docs', [{ id: 'a', values: embedding, metadata: { lang: 'en' } }])
 * const hits = await runtime.vector.query('docs', { vector: q, topK: 5, filter: { lang: 'en' } })
 * ```
 * @public
 */
export interface VectorClient {
  /** The data scope this client reads and writes. */
  readonly scopeName: string
  scope(name: string): VectorClient
  /** Creates the index, or checks that an existing one has this shape. */
  createIndex(name: string, options: CreateIndexOptions): Promise<void>
  describeIndex(name: string): Promise<VectorIndexInfo | undefined>
  deleteIndex(name: string): Promise<boolean>
  listIndexes(): Promise<VectorIndexInfo[]>
  /** Inserts or replaces items by id; creates the index (cosine) on first use. */
  upsert(index: string, items: VectorItem[]): Promise<number>
  query(index: string, query: VectorQuery): Promise<VectorMatch[]>
  get(index: string, ids: string[]): Promise<VectorItem[]>
  delete(index: string, ids: string[]): Promise<number>
}

export class VectorClientImpl extends ScopedClient implements VectorClient {
  scope(name: string): VectorClient {
    return new VectorClientImpl(this.backend, checkScope(name))
  }
  /** Creates the index, or checks that an existing one has this shape. */
  createIndex(name: string, options: CreateIndexOptions): Promise<void> {
    return this.run('vector.createIndex', { index: name, options })
  }
  describeIndex(name: string): Promise<VectorIndexInfo | undefined> {
    return this.run('vector.describeIndex', { index: name })
  }
  deleteIndex(name: string): Promise<boolean> {
    return this.run('vector.deleteIndex', { index: name })
  }
  listIndexes(): Promise<VectorIndexInfo[]> {
    return this.run('vector.listIndexes', {})
  }
  /** Inserts or replaces items by id; creates the index (cosine) on first use. */
  upsert(index: string, items: VectorItem[]): Promise<number> {
    return this.run('vector.upsert', { index, items })
  }
  query(index: string, query: VectorQuery): Promise<VectorMatch[]> {
    return this.run('vector.query', { index, query })
  }
  get(index: string, ids: string[]): Promise<VectorItem[]> {
    return this.run('vector.get', { index, ids })
  }
  delete(index: string, ids: string[]): Promise<number> {
    return this.run('vector.delete', { index, ids })
  }
}

/**
 * Files, as functions see them through `files` of `fnbox:host`. Paths are relative and
 * `/`-separated; anything that could leave the scope's folder is refused.
 *
 * @example
 * ```ts
 * await runtime.files.write('inbox/a.txt', 'hello')
 * const bytes = await runtime.files.read('inbox/a.txt') // Uint8Array
 * ```
 * @public
 */
export interface FilesClient {
  /** The data scope this client reads and writes. */
  readonly scopeName: string
  scope(name: string): FilesClient
  /** The bytes, or `undefined` when there is no such file. */
  read(path: string): Promise<Uint8Array | undefined>
  /** Creates or replaces a file; a string is written as UTF-8. */
  write(path: string, data: Uint8Array | string): Promise<FileInfo>
  stat(path: string): Promise<FileInfo | undefined>
  delete(path: string): Promise<boolean>
  list(options?: FileListOptions): Promise<FileListResult>
}

export class FilesClientImpl extends ScopedClient implements FilesClient {
  scope(name: string): FilesClient {
    return new FilesClientImpl(this.backend, checkScope(name))
  }
  /** The bytes, or `undefined` when there is no such file. */
  read(path: string): Promise<Uint8Array | undefined> {
    return this.run('files.read', { path })
  }
  /** Creates or replaces a file; a string is written as UTF-8. */
  write(path: string, data: Uint8Array | string): Promise<FileInfo> {
    return this.run('files.write', { path }, typeof data === 'string' ? new TextEncoder().encode(data) : data)
  }
  stat(path: string): Promise<FileInfo | undefined> {
    return this.run('files.stat', { path })
  }
  delete(path: string): Promise<boolean> {
    return this.run('files.delete', { path })
  }
  list(options?: FileListOptions): Promise<FileListResult> {
    return this.run('files.list', { options })
  }
}

/**
 * Secrets, encrypted at rest (AES-256-GCM). A function reads only those granted to it at deploy
 * (`deploy(name, { secrets: ['OPENAI_API_KEY'] })`); a change reaches running functions at once.
 * Values never come back from the host API: use them through functions.
 *
 * @example
 * ```ts
 * const runtime = await createRuntime({ secrets: { key: process.env.FNBOX_SECRET_KEY } })
 * await runtime.secrets.set('OPENAI_API_KEY', 'sk-...')
 * ```
 * @public
 */
export interface SecretsClient {
  /** Stores (or replaces) a secret, encrypted; functions granted it see the new value at once. */
  set(name: string, value: string): Promise<void>
  /** True when the secret existed. */
  delete(name: string): Promise<boolean>
  /** Names only, in code-point order. */
  list(): Promise<string[]>
}

export class SecretsClientImpl implements SecretsClient {
  readonly #backend: BackendRef
  readonly #changed: (name: string) => Promise<void>

  constructor(backend: BackendRef, changed: (name: string) => Promise<void>) {
    this.#backend = backend
    this.#changed = changed
  }

  async set(name: string, value: string): Promise<void> {
    const store = (await this.#backend()).secrets()
    await storageCall(() => store.set(name, value))
    await this.#changed(name)
  }

  /** True when the secret existed. */
  async delete(name: string): Promise<boolean> {
    const store = (await this.#backend()).secrets()
    const existed = await storageCall(() => store.delete(name))
    await this.#changed(name)
    return existed
  }

  /** Names only, in code-point order. */
  async list(): Promise<string[]> {
    const store = (await this.#backend()).secrets()
    return storageCall(() => store.list())
  }
}
