/**
 * Job ids: UUID v7 (RFC 9562), 48 bits of Unix ms then a 12-bit sequence, so ids made by one
 * process sort in the order they were made (the Postgres store's `fnbox_uuid_v7()` does the same
 * with a database sequence). Unique across stores and hosts.
 *
 * @internal
 * @module
 */
import { randomFillSync } from 'node:crypto'

const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'))

let lastMs = -1
let sequence = 0

/** A UUID v7 for Unix ms `now`; ids of one process increase strictly. */
export function uuidV7(now: number): string {
  let ms = Math.max(0, Math.floor(now))
  if (ms <= lastMs) {
    ms = lastMs
    sequence++
    if (sequence > 0xfff) {
      // 4096 ids in one millisecond: borrow the next one (stays ordered, stays close).
      ms = ++lastMs
      sequence = 0
    }
  } else {
    sequence = 0
  }
  lastMs = ms
  const b = randomFillSync(new Uint8Array(16))
  for (let i = 5; i >= 0; i--) {
    b[i] = ms % 256
    ms = Math.floor(ms / 256)
  }
  b[6] = 0x70 | (sequence >> 8)
  b[7] = sequence & 0xff
  b[8] = 0x80 | (b[8]! & 0x3f)
  let out = ''
  for (let i = 0; i < 16; i++) {
    if (i === 4 || i === 6 || i === 8 || i === 10) out += '-'
    out += HEX[b[i]!]
  }
  return out
}
