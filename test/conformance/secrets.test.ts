/**
 * The SealedSecretStore contract (src/testing/conformance/secrets.ts) over the backend matrix,
 * and what the built-in SQL store adds to it: nothing but sealed bytes in its table. The vault,
 * the secret store over it and the runtime's secrets are tested in test/host/secrets/.
 */
import { randomBytes } from 'node:crypto'
import { sql } from 'kysely'
import { expect, it } from 'vitest'
import { secretsDomain } from '../../src/host/secrets/descriptor.js'
import { SecretStore, SecretVault } from '../../src/host/secrets/index.js'
import { runSealedSecretStoreConformance } from '../../src/testing/conformance/secrets.js'
import { describeOn, testBackends } from '../helpers/backends.js'

for (const backend of await testBackends('secrets conformance')) {
  describeOn(backend, backend.name, () => {
    runSealedSecretStoreConformance(async () => {
      const opened = await backend.open()
      return { store: await opened.store(secretsDomain), close: () => opened.close() }
    })

    it.runIf(backend.name !== 'memory')('keeps only sealed bytes in fnbox_secrets', async () => {
      const opened = await backend.open()
      try {
        const secrets = new SecretStore(SecretVault.fromKey(randomBytes(32)), await opened.store(secretsDomain))
        const name = `T${randomBytes(6).toString('hex')}_PASSWORD`
        const value = 'hunter2-is-my-password-' + 'ü'.repeat(20)
        await secrets.set(name, value)
        const { rows } = await sql<{
          sealed: Uint8Array
        }>`select sealed from fnbox_secrets where name = ${name}`.execute(opened.sql!.db)
        const raw = Buffer.from(rows[0]!.sealed)
        expect(raw.byteLength).toBe(29 + Buffer.byteLength(value))
        expect(raw.includes(Buffer.from('hunter2'))).toBe(false)
        await secrets.delete(name)
      } finally {
        await opened.close()
      }
    })
  })
}
