/**
 * A fetched body is read one chunk ahead of the guest, in its executor thread: driven on the
 * engine of one thread with a scripted host, so the order of host reads and guest reads is seen.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { Engine } from '../../src/sandbox/engine.js'
import type { InvocationSink } from '../../src/sandbox/instance.js'
import type { HostCall, HostReplyValue } from '../../src/sandbox/protocol.js'
import { invocationLimits, TEST_LIMITS as LIMITS } from '../helpers/sandbox-limits.js'

const engines: Engine[] = []
afterEach(() => {
  for (const engine of engines.splice(0)) for (let id = 1; id < 10; id++) engine.destroy(id)
})

/** The guest's view and the host's, in one timeline. */
interface Trace {
  events: string[]
  /** Chunks the host will serve for body 1, in order; `Error` fails that read. */
  chunks: (string | Error)[]
}

function sink(trace: Trace): InvocationSink {
  return {
    respond: () => undefined,
    chunk: () => Promise.resolve(),
    end: () => undefined,
    log: (_level, message) => trace.events.push(message),
    host: (req: HostCall): Promise<HostReplyValue> => {
      if (req.op === 'fetchStart') {
        trace.events.push('host: head')
        return Promise.resolve({
          op: 'fetchStart',
          meta: { status: 200, statusText: 'OK', headers: [], url: req.meta.url, redirected: false, bodyId: 1 },
        })
      }
      if (req.op === 'bodyRead') {
        const next = trace.chunks.shift()
        trace.events.push(`host: read ${next instanceof Error ? 'error' : (next ?? 'end')}`)
        // Each read takes a while, like a round trip to the main thread.
        return new Promise((resolve, reject) =>
          setTimeout(() => {
            if (next instanceof Error) reject(next)
            else
              resolve({ op: 'bodyRead', chunk: next === undefined ? undefined : new TextEncoder().encode(next).buffer })
          }, 5),
        )
      }
      return Promise.reject(new Error(`unexpected host call ${req.op}`))
    },
    hostFire: (req) => void trace.events.push(`host: ${req.op}`),
  }
}

async function run(code: string, trace: Trace): Promise<unknown> {
  const engine = new Engine(
    { lost: () => undefined, blank: () => undefined, snapshot: () => undefined },
    0,
    0,
    () => false,
    {
      snapshots: 'never',
    },
  )
  engines.push(engine)
  engine.load('f', code, 'f.js', LIMITS, {})
  await engine.create(1, 'f')
  const out = await engine
    .instance(1)!
    .invoke(1, { kind: 'call', exportName: 'run', argsJson: '[]' }, invocationLimits(5000), sink(trace))
  return out.result === undefined ? undefined : JSON.parse(out.result)
}

describe('fetched bodies are read one chunk ahead', () => {
  it('asks for the first chunk with the head, and for the next one as each is handed over', async () => {
    const trace: Trace = { events: [], chunks: ['a', 'b', 'c'] }
    const result = await run(
      `export async function run() {
        const res = await fetch('http://upstream/')
        console.log('guest: head')
        await new Promise((r) => setTimeout(r, 30)) // busy with the head; the first chunk arrives meanwhile
        const reader = res.body.getReader()
        const got = []
        for (;;) {
          const { done, value } = await reader.read()
          if (done) break
          console.log('guest: got ' + new TextDecoder().decode(value))
          got.push(new TextDecoder().decode(value))
          await new Promise((r) => setTimeout(r, 30))
        }
        return got
      }`,
      trace,
    )
    expect(result).toEqual(['a', 'b', 'c'])
    // One read is asked before the guest reads; never more than one ahead of what it has.
    expect(trace.events).toEqual([
      'host: head',
      'host: read a',
      'guest: head',
      'host: read b',
      'guest: got a',
      'host: read c',
      'guest: got b',
      'host: read end',
      'guest: got c',
    ])
  })

  it('a body the guest cancels is cancelled at the host, and the chunk read ahead is dropped', async () => {
    const trace: Trace = { events: [], chunks: ['a', 'b', 'c'] }
    const result = await run(
      `export async function run() {
        const res = await fetch('http://upstream/')
        const reader = res.body.getReader()
        const first = new TextDecoder().decode((await reader.read()).value)
        await reader.cancel()
        return first
      }`,
      trace,
    )
    expect(result).toBe('a')
    expect(trace.events).toEqual(['host: head', 'host: read a', 'host: read b', 'host: bodyCancel'])
  })

  it('an upstream failure read ahead reaches the guest at its next read, not before', async () => {
    const trace: Trace = { events: [], chunks: ['a', new Error('upstream reset')] }
    const result = await run(
      `export async function run() {
        const res = await fetch('http://upstream/')
        const reader = res.body.getReader()
        const first = new TextDecoder().decode((await reader.read()).value)
        console.log('guest: got ' + first)
        try {
          await reader.read()
          return 'no error'
        } catch (err) {
          return err.name + ': ' + err.message
        }
      }`,
      trace,
    )
    expect(result).toBe('TypeError: terminated')
    expect(trace.events).toEqual(['host: head', 'host: read a', 'host: read error', 'guest: got a'])
  })

  it('text() of a fetched body reads every chunk once, in order', async () => {
    const trace: Trace = { events: [], chunks: ['x', 'y', 'z'] }
    expect(await run(`export async function run() { return (await fetch('http://upstream/')).text() }`, trace)).toBe(
      'xyz',
    )
    expect(trace.events.filter((e) => e.startsWith('host: read'))).toEqual([
      'host: read x',
      'host: read y',
      'host: read z',
      'host: read end',
    ])
  })
})
