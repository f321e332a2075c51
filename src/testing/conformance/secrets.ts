/**
 * The contract of a {@link SealedSecretStore}, as one suite any store runs (fnbox's memory and
 * Postgres stores, and an adapter of yours, a cloud secret manager say):
 * `runSealedSecretStoreConformance(() => myStore)` inside a vitest test file. The store keeps
 * opaque sealed blobs by name; every name this suite writes starts with a random prefix, and
 * it deletes them after each test.
 *
 * @module
 */
import { randomBytes } from 'node:crypto'
import { afterEach, beforeAll, describe, expect, it } from 'vitest'
import type { SealedSecretStore } from '../../host/secrets/types.js'
import { SecretStore } from '../../host/secrets/store.js'
import { SecretVault } from '../../host/secrets/vault.js'
import { suiteName, useStore, type ConformanceOptions, type OpenStore } from './harness.js'

/**
 * Runs the SealedSecretStore contract against the store `open` gives.
 *
 * @example
 * ```ts
 * import { runSealedSecretStoreConformance } from 'fnbox/testing'
 * runSealedSecretStoreConformance(() => new MyVaultSecretStore(client), { name: 'vault' })
 * ```
 * @public
 */
export function runSealedSecretStoreConformance(
  open: OpenStore<SealedSecretStore>,
  options?: ConformanceOptions,
): void {
  describe(suiteName('SealedSecretStore', options), () => {
    const current = useStore(open)
    let store: SealedSecretStore
    // The store may hold other secrets: every name of this suite starts with this.
    const run = `T${randomBytes(6).toString('hex')}_`
    const used = new Set<string>()
    const name = (suffix: string) => {
      used.add(run + suffix)
      return run + suffix
    }
    const ours = async () => (await store.list()).filter((listed) => listed.startsWith(run))

    beforeAll(() => {
      store = current()
    })
    afterEach(async () => {
      for (const each of used) await store.delete(each)
      used.clear()
    })

    it('stores, replaces and deletes a blob', async () => {
      const blob = new Uint8Array([0, 1, 0xff, 0, 0x80, 0x7f])
      await store.set(name('A'), blob)
      blob.fill(9)
      const got = await store.get(name('A'))
      expect(Object.getPrototypeOf(got)).toBe(Uint8Array.prototype)
      expect(got).toEqual(new Uint8Array([0, 1, 0xff, 0, 0x80, 0x7f]))

      await store.set(name('A'), new Uint8Array([42]))
      expect(await store.get(name('A'))).toEqual(new Uint8Array([42]))
      expect(await store.delete(name('A'))).toBe(true)
      expect(await store.delete(name('A'))).toBe(false)
      expect(await store.get(name('A'))).toBeUndefined()
    })

    it('stores a blob given as a view into a larger buffer, and an empty one', async () => {
      const big = new Uint8Array([1, 2, 3, 4, 5, 6])
      await store.set(name('VIEW'), big.subarray(2, 4))
      await store.set(name('EMPTY'), new Uint8Array())
      expect(await store.get(name('VIEW'))).toEqual(new Uint8Array([3, 4]))
      expect(await store.get(name('EMPTY'))).toEqual(new Uint8Array())
    })

    it('lists names in code-point order', async () => {
      const suffixes = ['b', 'B', 'a', '_', 'é', '𝒳', '\uffff', 'a0', 'a_']
      for (const suffix of suffixes) await store.set(name(suffix), new Uint8Array([1]))
      const expected = suffixes
        .map((suffix) => run + suffix)
        .sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)))
      expect(await ours()).toEqual(expected)
    })

    it('keeps secrets encrypted at rest and lists names only', async () => {
      const secrets = new SecretStore(SecretVault.fromKey(randomBytes(32)), store)
      const value = 'hunter2-is-my-password-' + 'ü'.repeat(20)
      await secrets.set(name('PASSWORD'), value)
      expect(await secrets.get(name('PASSWORD'))).toBe(value)
      expect((await secrets.list()).filter((listed) => listed.startsWith(run))).toEqual([name('PASSWORD')])

      // What the store keeps: the sealed blob only.
      const raw = (await store.get(name('PASSWORD'))) as Uint8Array
      const rawBytes = Buffer.from(raw)
      expect(rawBytes.byteLength).toBe(29 + Buffer.byteLength(value))
      for (const piece of [value, 'hunter2', 'ü'.repeat(4)]) expect(rawBytes.includes(Buffer.from(piece))).toBe(false)
    })
  })
}
