// Runs a snippet of guest code twice, in a sandbox and in Node (whose WHATWG streams and other web
// APIs follow the standards), and requires the same answer: the guest's web platform is checked
// against a reference implementation rather than against expectations written by hand.
import { afterEach, expect } from 'vitest'
import { GuestHarness } from './guest-harness.js'

const open: GuestHarness[] = []

afterEach(() => {
  for (const h of open.splice(0)) h.dispose()
})

/** Helpers both runs get: `ticks(n)` lets n rounds of microtasks run; `log` collects events. */
const PRELUDE = `
const ticks = async (n = 20) => { for (let i = 0; i < n; i++) await Promise.resolve() }
const from = (items, log) => {
  let i = 0
  return new ReadableStream({
    pull(c) { log?.push('pull'); if (i < items.length) c.enqueue(items[i++]); else c.close() },
    cancel(r) { log?.push('source cancel: ' + String(r)) },
  })
}
const collect = async (rs) => { const out = []; for await (const x of rs) out.push(x); return out }
const caught = (p) => p.then((v) => ({ ok: v ?? null }), (e) => ({ error: e instanceof Error ? e.name + ': ' + e.message : String(e) }))
const failed = (p) => p.then(() => 'ok', (e) => (e instanceof Error ? e.constructor.name : typeof e))
const errorName = (f) => { try { f(); return 'ok' } catch (e) { return e.constructor.name } }
`

/** Runs `body` in a sandbox only (for what Node's own streams cannot do, e.g. very deep chains). */
export async function inGuest(body: string): Promise<unknown> {
  const h = await GuestHarness.create()
  open.push(h)
  return h.evalAsync(PRELUDE + body, 10_000)
}

async function inNode(body: string): Promise<unknown> {
  const AsyncFunction = Object.getPrototypeOf(async () => {}).constructor as new (
    code: string,
  ) => () => Promise<unknown>
  const value = await new AsyncFunction(PRELUDE + body)()
  return JSON.parse(JSON.stringify(value === undefined ? null : value))
}

/** Runs `body` (an async function body returning JSON) in both; checks they agree; returns it. */
export async function sameAsNode(body: string): Promise<unknown> {
  const [guest, node] = await Promise.all([inGuest(body), inNode(body)])
  expect(guest).toEqual(node)
  return guest
}
