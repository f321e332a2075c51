/**
 * The mounts' disconnect without an `AbortController` per request (`ClientDisconnect`), and the
 * runtime's own entry (`MountServe`), which gets the disconnect as it is and a `Request` that
 * follows no signal: a client leaving must still reach it, before and after its listener is added.
 */
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import express from 'express'
import Koa from 'koa'
import { afterEach, describe, expect, it } from 'vitest'
import { ClientDisconnect, type CancelSignal } from '../../../src/triggers/http/connection.js'
import { createExpressMiddleware, createKoaMiddleware } from '../../../src/triggers/http/index.js'
import { takeRequestBytes } from '../../../src/triggers/http/node-http.js'
import type { MountServe } from '../../../src/triggers/http/mount-options.js'
import { sleep, waitFor } from '../../helpers/wait.js'

const servers = new Set<Server>()

async function listen(server: Server): Promise<string> {
  servers.add(server)
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`
}

afterEach(async () => {
  for (const server of servers) {
    server.closeAllConnections()
    await new Promise<void>((resolve) => server.close(() => resolve()))
  }
  servers.clear()
})

describe('ClientDisconnect', () => {
  it('aborts when the client leaves before the answer, with listeners and a signal made after', async () => {
    const seen: { disconnect?: ClientDisconnect; heard: number } = { heard: 0 }
    const origin = await listen(
      createServer((_req, res) => {
        const disconnect = new ClientDisconnect(res)
        seen.disconnect = disconnect
        disconnect.addEventListener('abort', () => seen.heard++)
        const removed = (): void => void seen.heard++
        disconnect.addEventListener('abort', removed)
        disconnect.removeEventListener('abort', removed)
        res.flushHeaders()
      }),
    )
    const controller = new AbortController()
    const res = await fetch(origin, { signal: controller.signal })
    expect(res.status).toBe(200)
    expect(seen.disconnect?.aborted).toBe(false)
    controller.abort()
    await waitFor(() => seen.disconnect?.aborted === true, 2000)
    expect(seen.heard).toBe(1)
    expect((seen.disconnect!.reason as DOMException).name).toBe('AbortError')
    // A signal asked for after the disconnect is aborted already, with the same reason.
    expect(seen.disconnect!.signal.aborted).toBe(true)
    expect(seen.disconnect!.signal.reason).toBe(seen.disconnect!.reason)
  })

  it('does not abort when the answer was complete, and its signal follows a later disconnect', async () => {
    const disconnects: ClientDisconnect[] = []
    const origin = await listen(
      createServer((_req, res) => {
        const disconnect = new ClientDisconnect(res)
        disconnects.push(disconnect)
        res.end('done')
      }),
    )
    expect(await (await fetch(origin)).text()).toBe('done')
    for (const server of servers) server.closeAllConnections()
    await sleep(20)
    expect(disconnects[0]?.aborted).toBe(false)
    expect(disconnects[0]?.signal.aborted).toBe(false)
  })
})

describe.each([
  ['Express', (serve: MountServe) => express().use('/fn', createExpressMiddleware(serve))],
  [
    'Koa',
    (serve: MountServe) => {
      const app = new Koa()
      app.silent = true
      return app.use(createKoaMiddleware(serve, { prefix: '/fn' })).callback()
    },
  ],
] as const)('the runtime entry (MountServe) under %s', (_name, mount) => {
  it('gets the path, a Request without a signal, and the disconnect when the client leaves', async () => {
    const seen: { path?: string; request?: Request; disconnect?: CancelSignal; heard: boolean } = { heard: false }
    const serve: MountServe = {
      serve(request, path, disconnect) {
        seen.path = path
        seen.request = request
        seen.disconnect = disconnect
        disconnect.addEventListener('abort', () => (seen.heard = true))
        // A body that never ends: only the client leaving stops it.
        return Promise.resolve(new Response(new ReadableStream({ pull: () => sleep(10) })))
      },
    }
    const origin = await listen(createServer(mount(serve)))
    const controller = new AbortController()
    const res = await fetch(`${origin}/fn/hello/x?y=1`, { signal: controller.signal })
    expect(res.status).toBe(200)
    expect(seen.path).toBe('/hello/x')
    expect(seen.request?.url).toBe(`${origin}/fn/hello/x?y=1`)
    controller.abort()
    await waitFor(() => seen.heard, 2000)
    expect(seen.disconnect?.aborted).toBe(true)
    // The Request follows no signal: the disconnect is the one to watch.
    expect(seen.request?.signal.aborted).toBe(false)
  })

  it("gets a POST body once, as the bytes the runtime takes, not again in the Request's own body", async () => {
    const seen: { bytes?: string; body?: ReadableStream | null; length?: string | null } = {}
    const serve: MountServe = {
      serve(request) {
        const bytes = takeRequestBytes(request)
        seen.bytes = bytes && new TextDecoder().decode(bytes)
        seen.body = request.body
        seen.length = request.headers.get('content-length')
        return Promise.resolve(new Response('ok'))
      },
    }
    const origin = await listen(createServer(mount(serve)))
    const res = await fetch(`${origin}/fn/hello`, { method: 'POST', body: 'x'.repeat(1000) })
    expect(await res.text()).toBe('ok')
    expect(seen.bytes).toBe('x'.repeat(1000))
    expect(seen.body).toBeNull()
    expect(seen.length).toBe('1000')
  })
})
