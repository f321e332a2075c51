/**
 * Drops entries from an uncompressed tar (ustar), the format of PGlite's `dumpDataDir`: a dump of
 * a PGlite folder holds what fnbox keeps beside the cluster (its `fnbox.lock`), which a template
 * made from it must not carry into another folder (loading it there would replace that folder's
 * owner with the dead one the dump was taken from, and a second process would then take over).
 *
 * @internal
 * @module
 */

const BLOCK = 512

function field(header: Uint8Array, start: number, length: number): string {
  const bytes = header.subarray(start, start + length)
  const end = bytes.indexOf(0)
  return Buffer.from(end < 0 ? bytes : bytes.subarray(0, end)).toString('utf8')
}

/** The tar without the entries whose path (leading `/` and `./` dropped) `drop` accepts. */
export function dropTarEntries(tar: Uint8Array, drop: (path: string) => boolean): Uint8Array {
  const kept: Uint8Array[] = []
  let at = 0
  while (at + BLOCK <= tar.byteLength) {
    const header = tar.subarray(at, at + BLOCK)
    if (header.every((byte) => byte === 0)) break // the end-of-archive blocks
    const name = field(header, 0, 100)
    const prefix = field(header, 345, 155)
    const size = parseInt(field(header, 124, 12).trim() || '0', 8)
    const length = BLOCK + Math.ceil(size / BLOCK) * BLOCK
    const path = (prefix ? `${prefix}/${name}` : name).replace(/^(\.?\/)+/, '')
    if (!drop(path)) kept.push(tar.subarray(at, at + length))
    at += length
  }
  kept.push(new Uint8Array(BLOCK * 2))
  return Buffer.concat(kept)
}
