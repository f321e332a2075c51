import { createServer, type RequestListener, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import express from 'express'
import Koa from 'koa'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createRuntime, type HealthReport, type InvokeEvent, type Runtime } from 'fnbox'

let runtime: Runtime
const servers: Server[] = []

async function listen(listener: RequestListener): Promise<string> {
  const server = createServer(listener)
  servers.push(server)
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`
}

beforeAll(async () => {
  runtime = await createRuntime({ threads: 1, storage: 'memory', logger: false, breaker: { volumeThreshold: 1 } })
  await runtime.deploy('echo', {
    code: `export default { fetch: (req, ctx) => new Response(ctx.requestId, { headers: { 'x-request-id': 'guest-set' } }) }`,
  })
})

afterAll(async () => {
  for (const server of servers) {
    server.closeAllConnections()
    await new Promise((resolve) => server.close(resolve))
  }
  await runtime?.close()
})

describe('request ids', () => {
  it('adopt a valid incoming X-Request-Id: ctx.requestId, the response header and the invoke event', async () => {
    const events: InvokeEvent[] = []
    const listener = (e: InvokeEvent): void => void events.push(e)
    runtime.on('invoke', listener)
    try {
      const res = await runtime.fetch(
        new Request('http://localhost/echo', { headers: { 'X-Request-Id': 'abc-123_x.y' } }),
      )
      expect(await res.text()).toBe('abc-123_x.y')
      expect(res.headers.get('x-request-id')).toBe('abc-123_x.y')
      await expect.poll(() => events.length).toBe(1)
      expect(events[0]!.requestId).toBe('abc-123_x.y')
    } finally {
      runtime.off('invoke', listener)
    }
  })

  it('make a new one when the incoming id is missing or invalid', async () => {
    const cases: Record<string, string>[] = [
      {},
      { 'x-request-id': 'has spaces in it' },
      { 'x-request-id': 'x'.repeat(129) },
    ]
    for (const headers of cases) {
      const res = await runtime.fetch(new Request('http://localhost/echo', { headers }))
      const id = await res.text()
      expect(id).toMatch(/^[0-9a-f-]{36}$/)
      expect(res.headers.get('x-request-id')).toBe(id)
    }
  })

  it('are echoed on error answers too (unknown function)', async () => {
    const res = await runtime.fetch(new Request('http://localhost/nope', { headers: { 'x-request-id': 'req-404' } }))
    expect(res.status).toBe(404)
    expect(res.headers.get('x-request-id')).toBe('req-404')
  })

  it('are adopted through the Express mount', async () => {
    const app = express()
    app.use('/fn', runtime.express())
    const origin = await listen(app)
    const res = await fetch(`${origin}/fn/echo`, { headers: { 'x-request-id': 'from-express' } })
    expect(await res.text()).toBe('from-express')
    expect(res.headers.get('x-request-id')).toBe('from-express')
  })
})

describe('health', () => {
  it('is ok on a fresh runtime, with every check', async () => {
    const report = await runtime.health()
    expect(report.status).toBe('ok')
    expect(report.checks.executors).toMatchObject({ status: 'ok', threads: 1 })
    expect(report.checks.storage.status).toBe('ok')
    expect(report.checks.breakers).toMatchObject({ status: 'ok', open: [] })
    expect(report.checks.shedding.status).toBe('ok')
    expect(report.checks.queues).toMatchObject({ status: 'ok', queued: 0 })
  })

  it('is degraded while a function’s breaker is open', async () => {
    const rt = await createRuntime({
      threads: 1,
      storage: 'memory',
      logger: false,
      breaker: { volumeThreshold: 2, errorThresholdPercentage: 50, resetTimeoutMs: 60_000 },
    })
    try {
      await rt.deploy('broken', { code: `export function f() { throw new Error('x') }` })
      for (let i = 0; i < 3; i++) await rt.call('broken', 'f').catch(() => undefined)
      const report = await rt.health()
      expect(report.checks.breakers).toMatchObject({ status: 'degraded', open: ['broken'] })
      expect(report.status).toBe('degraded')
    } finally {
      await rt.close()
    }
  })

  it('is down once the runtime is closed', async () => {
    const rt = await createRuntime({ threads: 1, storage: 'memory', logger: false })
    await rt.close()
    const report = await rt.health()
    expect(report.status).toBe('down')
    expect(report.checks.executors.status).toBe('down')
  })

  it('is served by the Express and Koa mounts at healthPath, and only when asked', async () => {
    const app = express()
    app.use('/fn', runtime.express({ healthPath: '/_health' }))
    app.use('/plain', runtime.express())
    const koa = new Koa()
    koa.use(runtime.koa({ prefix: '/fn', healthPath: '/_health' }))
    for (const origin of [await listen(app), await listen(koa.callback())]) {
      const res = await fetch(`${origin}/fn/_health`)
      expect(res.status).toBe(200)
      expect(res.headers.get('content-type')).toBe('application/json')
      const report = (await res.json()) as HealthReport
      expect(report.status).toBe('ok')
      expect(report.checks.executors.threads).toBe(1)
    }
    const unmounted = await fetch(`${await listen(app)}/plain/_health`)
    expect(unmounted.status).toBe(404)
  })

  it('rejects a healthPath that is not a path', () => {
    expect(() => runtime.express({ healthPath: 'health' })).toThrow(/options\.healthPath/)
  })
})
