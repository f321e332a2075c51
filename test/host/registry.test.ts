// The domain registry: what is derived from it, and the generated files that must not drift.
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'
import { generate } from '../../build/generate-domains.js'
import type { DomainDescriptor } from '../../src/host/domain.js'
import { generateDomainFiles, guestExports } from '../../src/host/generate.js'
import { GUEST_EXPORTS, HOST_MODULE_SOURCE } from '../../src/host/guest-module.js'
import { ADAPTER_KEYS, DOMAINS, loadMigrations, OPERATIONS } from '../../src/host/registry.js'

const root = fileURLToPath(new URL('../..', import.meta.url))

describe('the domain registry', () => {
  it('the committed host.d.ts, guest module source and guest clients are what the registry generates', async () => {
    // `npm run types` rewrites them; this fails when a domain changed and they were not.
    expect(await generate(root, true)).toEqual([])
  })

  it('fnbox:host exports each guest domain of the registry, then tx, utils and trace', () => {
    const guests = DOMAINS.filter((d) => d.guest && d.opened !== false).map((d) => d.guest!.name)
    expect(GUEST_EXPORTS).toEqual([...guests, 'tx', 'utils', 'trace'])
    expect(HOST_MODULE_SOURCE).toContain(`export const { ${GUEST_EXPORTS.join(', ')} } = host`)
  })

  it('a domain added to the registry reaches host.d.ts, the guest module and the guest clients', () => {
    const echo: DomainDescriptor = {
      name: 'echo',
      guest: {
        name: 'echo',
        client: './echo/guest.js',
        typeName: 'FnboxEcho',
        types: 'export interface FnboxEcho {\n  say(text: string): Promise<string>\n}\n',
      },
    }
    const files = Object.fromEntries(generateDomainFiles([...DOMAINS, echo]).map((f) => [f.path, f.text]))
    expect(files['host.d.ts']).toContain('  export interface FnboxEcho {')
    expect(files['host.d.ts']).toContain('  export const echo: FnboxEcho')
    expect(files['host.d.ts']).toContain('    readonly echo: FnboxEcho')
    expect(files['src/host/guest-clients.js']).toContain("import echoClient from './echo/guest.js'")
    expect(files['src/host/guest-module.ts']).toContain('secrets, jobs, echo, tx, utils, trace } = host')
    expect(guestExports([...DOMAINS, echo])).toEqual([
      ...['kv', 'vector', 'files', 'secrets', 'jobs', 'echo'],
      ...['tx', 'utils', 'trace'],
    ])
  })

  it('derives the method list with the flags each domain gives its operations', () => {
    const flags = (m: string) => {
      const op = OPERATIONS.get(m)!.operation
      return { guest: op.guest === true, transaction: op.transaction === true, write: op.write === true }
    }
    expect(flags('kv.set')).toEqual({ guest: true, transaction: true, write: true })
    expect(flags('vector.query')).toEqual({ guest: true, transaction: true, write: false })
    expect(flags('vector.createIndex')).toEqual({ guest: false, transaction: false, write: false })
    expect(flags('files.write')).toEqual({ guest: true, transaction: false, write: true })
    expect(flags('jobs.enqueue')).toEqual({ guest: true, transaction: true, write: true })
    const guestMethods = [...OPERATIONS].filter(([, o]) => o.operation.guest).map(([m]) => m)
    expect(guestMethods).toEqual([
      ...['kv.get', 'kv.set', 'kv.delete', 'kv.list', 'kv.incr', 'kv.compareAndSet'],
      ...['vector.upsert', 'vector.query', 'vector.get', 'vector.delete'],
      ...['files.read', 'files.write', 'files.stat', 'files.delete', 'files.list'],
      'jobs.enqueue',
    ])
    expect(ADAPTER_KEYS).toEqual(['kv', 'vector', 'files', 'secrets', 'jobs'])
  })

  it('collects every domain migration under the names released databases recorded', async () => {
    expect(Object.keys(await loadMigrations()).sort()).toEqual([
      '0001_kv',
      '0002_vector',
      '0003_secrets',
      '0010_jobs',
      '0011_kv_logged',
      '0012_files',
    ])
  })

  it('opens the jobs store, joins it to tx and exports it to guests', () => {
    const jobs = DOMAINS.find((d) => d.name === 'jobs')!
    expect(jobs.opened).not.toBe(false)
    expect(jobs.transactional).toBe(true)
    expect(GUEST_EXPORTS).toContain('jobs')
  })
})
