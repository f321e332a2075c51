import type { Clock } from '../../src/pool/clock.js'

/** A clock tests move by hand: timers fire in time order during {@link advance}. */
export class ManualClock implements Clock {
  #now: number
  #next = 1
  readonly #timers = new Map<number, { at: number; fn: () => void }>()

  /** `start`: the first reading (0 by default; Unix ms for a wall clock). */
  constructor(start = 0) {
    this.#now = start
  }

  now(): number {
    return this.#now
  }

  setTimeout(fn: () => void, ms: number): number {
    const id = this.#next++
    this.#timers.set(id, { at: this.#now + Math.max(0, ms), fn })
    return id
  }

  clearTimeout(handle: unknown): void {
    this.#timers.delete(handle as number)
  }

  /** Timers waiting to fire. */
  get pending(): number {
    return this.#timers.size
  }

  /** Moves time forward by `ms` without firing timers (a blocked event loop): `advance(0)` fires them late. */
  jump(ms: number): void {
    this.#now += ms
  }

  /** Moves time forward by `ms`, firing each timer due on the way (timers set meanwhile too). */
  advance(ms: number): void {
    const end = this.#now + ms
    for (;;) {
      let due: [number, { at: number; fn: () => void }] | undefined
      for (const entry of this.#timers) if (entry[1].at <= end && (!due || entry[1].at < due[1].at)) due = entry
      if (!due) break
      this.#timers.delete(due[0])
      this.#now = Math.max(this.#now, due[1].at)
      due[1].fn()
    }
    this.#now = end
  }
}
