// Bench section (mailbox): how fast a thread hop can be on this machine, by how each side waits.
// Each variant is one round trip of a tiny message between the main thread and a worker; rounds
// interleave the variants; every figure is a ratio to a plain postMessage round trip measured in
// the same rounds. The executor keeps postMessage both ways: see docs/performance.md (mailbox)
// for why the faster variants here did not carry over into the executor.
import { MessageChannel, Worker } from 'node:worker_threads'
import { median, report, sequentialP50 } from '../shared.mjs'

/** postMessage both ways: what the executor did before. */
function messages() {
  const w = new Worker(
    `require('node:worker_threads').parentPort.on('message', (m) => require('node:worker_threads').parentPort.postMessage(m))`,
    { eval: true },
  )
  let answer
  w.on('message', (m) => answer(m))
  return { call: () => new Promise((r) => ((answer = r), w.postMessage(1))), close: () => w.terminate() }
}

/** Shared memory both ways: the worker blocks in Atomics.wait, the main thread awaits Atomics.waitAsync. */
function atomics() {
  const a = new Int32Array(new SharedArrayBuffer(8))
  const w = new Worker(
    `const a = new Int32Array(require('node:worker_threads').workerData)
     for (;;) { Atomics.wait(a, 0, 0); if (a[0] === 2) break; Atomics.store(a, 0, 0); Atomics.store(a, 1, 1); Atomics.notify(a, 1) }`,
    { eval: true, workerData: a.buffer },
  )
  return {
    call: async () => {
      Atomics.store(a, 1, 0)
      Atomics.store(a, 0, 1)
      Atomics.notify(a, 0)
      const r = Atomics.waitAsync(a, 1, 0)
      if (r.async) await r.value
    },
    close: () => (Atomics.store(a, 0, 2), Atomics.notify(a, 0), w.terminate()),
  }
}

/**
 * The doorbell: the message goes on the port, a bell wakes the worker parked in Atomics.wait,
 * which takes it with receiveMessageOnPort; the answer is a message (`replyAtomics`: or shared
 * memory and Atomics.waitAsync).
 */
function doorbell(replyAtomics) {
  const a = new Int32Array(new SharedArrayBuffer(8))
  const { port1, port2 } = new MessageChannel()
  const w = new Worker(
    `const { workerData, receiveMessageOnPort } = require('node:worker_threads')
     const { sab, port, atom } = workerData
     const a = new Int32Array(sab)
     for (;;) {
       const seen = Atomics.load(a, 0)
       let m
       while ((m = receiveMessageOnPort(port))) {
         if (atom) { Atomics.store(a, 1, 1); Atomics.notify(a, 1) } else port.postMessage(m.message)
       }
       Atomics.wait(a, 0, seen)
     }`,
    { eval: true, workerData: { sab: a.buffer, port: port2, atom: replyAtomics }, transferList: [port2] },
  )
  let answer
  port1.on('message', (m) => answer(m))
  if (replyAtomics) port1.unref()
  const ring = () => (Atomics.add(a, 0, 1), Atomics.notify(a, 0))
  return {
    call: replyAtomics
      ? async () => {
          Atomics.store(a, 1, 0)
          port1.postMessage(1)
          ring()
          const r = Atomics.waitAsync(a, 1, 0)
          if (r.async) await r.value
        }
      : () => new Promise((r) => ((answer = r), port1.postMessage(1), ring())),
    close: () => (port1.close(), w.terminate()),
  }
}

/** A message to the worker, the answer through shared memory and Atomics.waitAsync. */
function answerInMemory() {
  const a = new Int32Array(new SharedArrayBuffer(8))
  const w = new Worker(
    `const { parentPort, workerData } = require('node:worker_threads')
     const a = new Int32Array(workerData)
     parentPort.on('message', () => { Atomics.store(a, 1, 1); Atomics.notify(a, 1) })`,
    { eval: true, workerData: a.buffer },
  )
  return {
    call: async () => {
      Atomics.store(a, 1, 0)
      w.postMessage(1)
      const r = Atomics.waitAsync(a, 1, 0)
      if (r.async) await r.value
    },
    close: () => w.terminate(),
  }
}

export default async function benchMailbox() {
  console.log('\n(mailbox) one thread hop and back, by how each side waits (ratios to postMessage both ways)')
  const variants = {
    'postMessage both ways': messages(),
    'Atomics.wait / Atomics.waitAsync, no message': atomics(),
    'message + bell, worker parked; answer a message': doorbell(false),
    'message + bell, worker parked; answer via waitAsync': doorbell(true),
    'message; answer via Atomics.waitAsync': answerInMemory(),
  }
  await new Promise((r) => setTimeout(r, 200))
  const n = Number(process.env.FNBOX_BENCH_MAILBOX_CALLS ?? 10_000)
  const rounds = Object.fromEntries(Object.keys(variants).map((k) => [k, []]))
  for (let r = 0; r < 5; r++)
    for (const [k, v] of Object.entries(variants)) rounds[k].push(await sequentialP50(v.call, n, n / 10))
  const base = median(rounds['postMessage both ways'])
  for (const [k, xs] of Object.entries(rounds)) report('mailbox', `${k}: round trip p50 (us)`, median(xs), base)
  for (const v of Object.values(variants)) await v.close()
}
