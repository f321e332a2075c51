/**
 * The registry of data domains: one entry per domain folder (`src/host/<domain>/descriptor.ts`).
 * Everything that lists domains is derived from it, never repeated: the stores a backend opens
 * (`storage/backend.ts`), the migrations (`storage/sql.ts`), the methods of a data session and
 * which of them guests, transactions and the write accounting see (`domains/session.ts`),
 * `options.adapters`' keys, and, through `npm run types`, the `fnbox:host` module source, the
 * guest clients and `host.d.ts` (`generate.ts`; a test fails when those drift from it).
 *
 * Adding a domain: its folder, one line here, and the docs (docs/domains.md).
 *
 * @internal
 * @module
 */
import type { Migration } from 'kysely'
import type { DomainDescriptor, Operation } from './domain.js'
import { filesDomain } from './files/descriptor.js'
import { jobsDomain } from './jobs/descriptor.js'
import { kvDomain } from './kv/descriptor.js'
import { secretsDomain } from './secrets/descriptor.js'
import { vectorDomain } from './vector/descriptor.js'

/** Every domain, in the order of `fnbox:host`'s exports. */
export const DOMAINS: readonly DomainDescriptor[] = Object.freeze([
  kvDomain,
  vectorDomain,
  filesDomain,
  secretsDomain,
  jobsDomain,
] as DomainDescriptor[])

/** A method (`vector.query`) with its domain and operation. */
export interface RegisteredOperation {
  readonly domain: DomainDescriptor
  readonly operation: Operation<unknown>
}

/** Every operation by method name (`<domain>.<operation>`). */
export const OPERATIONS: ReadonlyMap<string, RegisteredOperation> = new Map(
  DOMAINS.flatMap((domain) =>
    Object.entries(domain.operations ?? {}).map(([name, operation]) => [
      `${domain.name}.${name}`,
      { domain, operation },
    ]),
  ),
)

/** The domains whose stores storage opens. */
export const OPENED_DOMAINS: readonly DomainDescriptor[] = DOMAINS.filter((d) => d.opened !== false)

/** The domains whose stores join `tx`. */
export const TRANSACTIONAL_DOMAINS: readonly DomainDescriptor[] = OPENED_DOMAINS.filter((d) => d.transactional)

/** The keys of `createRuntime({ adapters })`. */
export const ADAPTER_KEYS: readonly string[] = DOMAINS.filter((d) => d.adapter).map((d) => d.name)

/**
 * Every domain's migrations by name, loaded with the SQL parts (kysely). Names sort in the order
 * they apply; a name two domains both use is a bug, refused here.
 */
export async function loadMigrations(): Promise<Record<string, Migration>> {
  const all: Record<string, Migration> = {}
  for (const domain of DOMAINS) {
    const parts = await domain.sql?.()
    for (const [name, migration] of Object.entries(parts?.migrations ?? {})) {
      if (name in all) throw new Error(`migration ${name} of ${domain.name} is already another domain's`)
      all[name] = migration
    }
  }
  return all
}
