import { describe, expect, it, vi } from 'vitest'
import { ThreadWatch, STUCK_GRACE_MS } from '../../src/pool/executor-watch.js'
import type { Inflight, InstanceRef } from '../../src/pool/executor-types.js'
import { InvocationBudget } from '../../src/reliability/deadline.js'
import { GUEST_SLOT_BYTES } from '../../src/sandbox/guest-slot.js'
import type { FnboxError } from '../../src/errors.js'

/** A thread as the watch sees it: its guest slot written by hand, its flights a map. */
function thread() {
  const slot = new SharedArrayBuffer(GUEST_SLOT_BYTES)
  const flights = new Map<number, Inflight>()
  const restarts: string[] = []
  const answered: FnboxError[] = []
  const watch = new ThreadWatch({
    guestSlot: () => slot,
    flight: (inv) => flights.get(inv),
    flights: () => flights.values(),
    creation: () => undefined,
    abandon: (flight, limit) => {
      flight.abandoned = true
      flight.handlers.settle(undefined, { code: limit } as unknown as FnboxError)
    },
    failCreation: () => undefined,
    restart: (reason) => restarts.push(reason),
  })
  const enter = (inv: number, since: number): void => {
    new Float64Array(slot, 8, 2)[0] = since
    Atomics.store(new Int32Array(slot, 0, 1), 0, inv)
  }
  const add = (inv: number, startedAt: number, timeoutMs: number): Inflight => {
    const flight: Inflight = {
      inv,
      ref: { id: inv } as unknown as InstanceRef,
      budget: new InvocationBudget({ startedAt, timeoutMs, cpuMs: timeoutMs, streamIdleMs: 1000, streamTotalMs: 1000 }),
      deadline: undefined,
      handlers: {
        onLog: () => undefined,
        onHost: () => Promise.resolve(undefined),
        settle: (_result, error) => void (error && answered.push(error)),
      },
      checkAt: Infinity,
      abandoned: false,
    }
    flights.set(inv, flight)
    return flight
  }
  return { watch, enter, add, flights, restarts, answered }
}

describe('the executor thread watch', () => {
  it('answers a call past its deadline, and gives its guest code the grace from when the thread entered it', async () => {
    const t = thread()
    const now = Date.now()
    // Queued behind a long call: its deadline passed a second ago, the thread enters it only now.
    const flight = t.add(1, now - 1300, 300)
    // Entered a moment from now, so a descheduled test cannot see the grace run out first.
    t.enter(1, Date.now() + 500)
    t.watch.arm(flight, Date.now())
    await vi.waitFor(() => expect(t.answered).toHaveLength(1))
    // Not wedged yet: the thread's interrupt ends it within the grace.
    expect(t.restarts).toEqual([])
    // Still in it past the grace: wedged in a builtin that ignores the interrupt.
    await vi.waitFor(() => expect(t.restarts).toHaveLength(1), { timeout: 500 + 100 * STUCK_GRACE_MS })
    expect(t.restarts[0]).toContain('limits.timeoutMs')
    t.watch.stop()
  })

  it('serves every call from one timer, and a call that ended is not looked at', async () => {
    const t = thread()
    const now = Date.now()
    const ended = t.add(1, now - 1000, 10)
    const late = t.add(2, now, 20)
    t.watch.arm(ended, now)
    t.watch.arm(late, now)
    // The first ended in time (the thread answered it).
    t.watch.disarm(ended)
    t.flights.delete(1)
    await vi.waitFor(() => expect(t.answered).toHaveLength(1))
    expect(late.abandoned).toBe(true)
    expect(ended.abandoned).toBe(false)
    expect(t.restarts).toEqual([])
    t.watch.stop()
  })
})
