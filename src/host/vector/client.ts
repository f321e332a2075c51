// The host's own access to the vector domain (`runtime.vector`): the same operations, validation and
// typed errors as the guest's `vector` of `fnbox:host`.
import { checkScope, ScopedClient } from '../domains/clients.js'
import type { VectorIndexInfo, VectorItem, VectorMatch, VectorMetric, VectorQuery } from './types.js'

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
