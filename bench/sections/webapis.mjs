import { createRuntime } from 'fnbox'
import { median, report } from '../shared.mjs'

// (l) web APIs the host serves or the guest loads on first use: Intl (the host's ICU), legacy
// TextDecoder encodings (@exodus/bytes in lazy chunks), crypto.subtle (the host's WebCrypto, keys
// sealed). Per call: the same loop in a warm instance and in Node. First use: the first call in a
// fresh instance (a new function each time, its chunk not yet loaded) against the first call in a
// fresh Node worker thread (a new isolate; the process's ICU data is loaded either way).
const WEB_OPS = `
const text1k = new Uint8Array(1024).map((_, i) => 0x40 + (i % 60))
const sjis1k = new Uint8Array(1024).map((_, i) => (i % 2 ? 0xa0 : 0x82))
const data = new TextEncoder().encode('x'.repeat(100))
let nf, dtf, hmac, ec, ed
const ops = {
  numberToLocaleString: (i) => (1234567.5 + i).toLocaleString('en-US'),
  numberFormat: (i) => (nf ??= new Intl.NumberFormat('en-US', { style: 'currency', currency: 'EUR' })).format(i),
  dateTimeFormat: (i) => (dtf ??= new Intl.DateTimeFormat('en-US', { timeZone: 'America/New_York', dateStyle: 'medium', timeStyle: 'long' })).format(i * 1e6),
  localeCompare: (i) => ('Zoë, the ' + i).localeCompare('zoe the ' + i),
  windows1252: () => new TextDecoder('windows-1252').decode(text1k),
  shiftJis: () => new TextDecoder('shift_jis').decode(sjis1k),
  hmacSign: async () => crypto.subtle.sign('HMAC', (hmac ??= await crypto.subtle.importKey('raw', data, { name: 'HMAC', hash: 'SHA-256' }, false, ['sign'])), data),
  ecdsaSign: async () => crypto.subtle.sign({ name: 'ECDSA', hash: 'SHA-256' }, (ec ??= (await crypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, false, ['sign'])).privateKey), data),
  ed25519Sign: async () => crypto.subtle.sign('Ed25519', (ed ??= (await crypto.subtle.generateKey({ name: 'Ed25519' }, false, ['sign'])).privateKey), data),
}
`
const WEB_FN = `${WEB_OPS}
export async function first(op) { const t = performance.now(); await ops[op](0); return performance.now() - t }
export async function perCall(op, n) {
  for (let i = 0; i < 20; i++) await ops[op](i)
  const t = performance.now()
  for (let i = 0; i < n; i++) await ops[op](i)
  return ((performance.now() - t) / n) * 1000
}`

async function nodeWebOps(op, n) {
  const { Worker } = await import('node:worker_threads')
  const code = `${WEB_OPS}
    const { parentPort, workerData } = require('node:worker_threads')
    ;(async () => {
      let t = performance.now(); await ops[workerData.op](0); const first = performance.now() - t
      for (let i = 0; i < 20; i++) await ops[workerData.op](i)
      t = performance.now()
      for (let i = 0; i < workerData.n; i++) await ops[workerData.op](i)
      parentPort.postMessage({ first, perCall: ((performance.now() - t) / workerData.n) * 1000 })
    })()`
  const worker = new Worker(code, { eval: true, workerData: { op, n } })
  const out = await new Promise((resolve, reject) => worker.once('message', resolve).once('error', reject))
  await worker.terminate()
  return out
}

export default async function benchWebApis() {
  console.log('\n(l) web APIs: per call in a warm instance, and first use in a fresh one, vs Node')
  const runtime = await createRuntime({ threads: 1 })
  await runtime.deploy('web', { code: WEB_FN })
  const ops = {
    numberToLocaleString: 5000,
    numberFormat: 5000,
    dateTimeFormat: 5000,
    localeCompare: 5000,
    windows1252: 2000,
    shiftJis: 2000,
    hmacSign: 2000,
    ecdsaSign: 1000,
    ed25519Sign: 1000,
  }
  let k = 0
  for (const [op, n] of Object.entries(ops)) {
    // Rounds alternate between the sandbox and Node, so both meet the machine's noise alike.
    const node = []
    const calls = []
    const firsts = []
    for (let i = 0; i < 5; i++) {
      node.push(await nodeWebOps(op, n))
      calls.push(await runtime.call('web', 'perCall', op, n))
      const name = `web-first-${k++}`
      await runtime.deploy(name, { code: `${WEB_FN}\n// ${name}` })
      firsts.push(await runtime.call(name, 'first', op))
      await runtime.undeploy(name)
    }
    report('l', `${op}: per call (us)`, median(calls), median(node.map((r) => r.perCall)))
    report('l', `${op}: first use in an instance (ms)`, median(firsts), median(node.map((r) => r.first)))
  }
  await runtime.close()
}
