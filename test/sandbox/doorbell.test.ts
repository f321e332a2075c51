import { MessageChannel, Worker } from 'node:worker_threads'
import { describe, expect, it } from 'vitest'
import { createParking, DOORBELL_BYTES, parkedMs, ring } from '../../src/sandbox/doorbell.js'
import { netUtilization } from '../../src/pool/executor-load.js'

/** Parks again after each return until `done()`; the test waits on what was delivered, never on time. */
async function parkUntil(parking: { soon(): void }, done: () => boolean): Promise<void> {
  while (!done()) {
    parking.soon()
    await new Promise((resolve) => setImmediate(resolve))
  }
}

describe('doorbell', () => {
  it('takes the messages waiting on the port when it parks, in order, without the port listening', async () => {
    const { port1, port2 } = new MessageChannel()
    const buffer = new SharedArrayBuffer(DOORBELL_BYTES)
    const got: unknown[] = []
    const parking = createParking(
      buffer,
      port2,
      () => true,
      (m) => got.push(m),
    )
    port1.postMessage('a')
    port1.postMessage('b')
    await parkUntil(parking, () => got.length === 2)
    expect(got).toEqual(['a', 'b'])
    port1.close()
  })

  it('neither parks nor takes messages while the thread has work pending', async () => {
    const { port1, port2 } = new MessageChannel()
    const buffer = new SharedArrayBuffer(DOORBELL_BYTES)
    const got: unknown[] = []
    let idle = false
    const parking = createParking(
      buffer,
      port2,
      () => idle,
      (m) => got.push(m),
    )
    port1.postMessage('later')
    parking.soon()
    await new Promise((resolve) => setImmediate(resolve))
    await new Promise((resolve) => setImmediate(resolve))
    expect(got).toEqual([])
    expect(parkedMs(buffer)).toBe(0)
    idle = true
    await parkUntil(parking, () => got.length === 1)
    expect(got).toEqual(['later'])
    port1.close()
  })

  it('wakes for a message another thread posts and rings, and counts the time it was parked', async () => {
    const { port1, port2 } = new MessageChannel()
    const buffer = new SharedArrayBuffer(DOORBELL_BYTES)
    const got: unknown[] = []
    const parking = createParking(
      buffer,
      port2,
      () => true,
      (m) => got.push(m),
    )
    const poster = new Worker(
      `const { workerData } = require('node:worker_threads')
       const bell = new Int32Array(workerData.buffer, 0, 1)
       workerData.port.postMessage('from another thread')
       Atomics.add(bell, 0, 1)
       Atomics.notify(bell, 0)`,
      { eval: true, workerData: { buffer, port: port1 }, transferList: [port1] },
    )
    await parkUntil(parking, () => got.length === 1)
    expect(got).toEqual(['from another thread'])
    await poster.terminate()
  })

  it('ring bumps the bell, so a thread about to wait on the value it saw returns at once', () => {
    const buffer = new SharedArrayBuffer(DOORBELL_BYTES)
    const bell = new Int32Array(buffer, 0, 1)
    const seen = Atomics.load(bell, 0)
    ring(bell)
    expect(Atomics.wait(bell, 0, seen, 10_000)).toBe('not-equal')
  })

  it('takes the time a thread was parked out of its utilisation', () => {
    const window = { active: 80, idle: 20, utilization: 0.8 }
    expect(netUtilization(window, 0)).toBeCloseTo(0.8)
    expect(netUtilization(window, 60)).toBeCloseTo(0.2)
    // Readings taken apart may disagree by a hair: never below 0.
    expect(netUtilization(window, 81)).toBe(0)
    expect(netUtilization({ active: 0, idle: 0, utilization: 0 }, 0)).toBe(0)
  })
})
