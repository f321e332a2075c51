/**
 * A router written for its own origin works unchanged wherever its function is mounted: the
 * guest's `request.url` is relative to the function's mount, and `ctx` keeps the original URL
 * and the mount path. The function is a real Hono app, bundled from test/fixtures/compat/hono.ts.
 */
import type { AddressInfo } from 'node:net'
import type { Server } from 'node:http'
import { join } from 'node:path'
import express from 'express'
import Koa from 'koa'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createRuntime, type Runtime } from 'fnbox'
import { ROOT } from '../../helpers/cli.js'

let runtime: Runtime
const servers: Server[] = []

function listen(server: Server): Promise<string> {
  servers.push(server)
  return new Promise((resolve) => {
    if (server.listening) resolve(`http://127.0.0.1:${(server.address() as AddressInfo).port}`)
    else server.once('listening', () => resolve(`http://127.0.0.1:${(server.address() as AddressInfo).port}`))
  })
}

beforeAll(async () => {
  runtime = await createRuntime({ threads: 1, storage: 'memory' })
  await runtime.deploy('api', { entry: join(ROOT, 'test/fixtures/compat/hono.ts') })
  await runtime.deploy('where', {
    code: `export default { fetch: (request, ctx) => Response.json({ url: request.url, originalUrl: ctx.originalUrl, mountPath: ctx.mountPath }) }`,
  })
})

afterAll(async () => {
  for (const s of servers) s.close()
  await runtime.close()
})

async function hono(base: string): Promise<unknown[]> {
  const user = await fetch(`${base}/users/7?q=z`)
  const echo = await fetch(`${base}/echo`, {
    method: 'POST',
    body: JSON.stringify({ a: 1 }),
    headers: { 'content-type': 'application/json' },
  })
  const missing = await fetch(`${base}/nope`)
  return [
    [user.status, user.headers.get('x-powered-by'), await user.json()],
    [echo.status, await echo.json()],
    [missing.status, await missing.text()],
  ]
}

const HONO_ANSWERS = [
  [200, 'compat', { id: '7', q: 'z' }],
  [201, { got: { a: 1 }, type: 'application/json' }],
  [404, '404 Not Found'],
]

describe('a Hono app bundled into a function routes as on its own origin', () => {
  it("under Express's app.use('/fn', runtime.express())", async () => {
    const app = express()
    app.use('/fn', runtime.express())
    const base = await listen(app.listen(0, '127.0.0.1'))
    expect(await hono(`${base}/fn/api`)).toEqual(HONO_ANSWERS)
  })

  it("under Koa's runtime.koa({ prefix: '/fn' })", async () => {
    const app = new Koa()
    app.use(runtime.koa({ prefix: '/fn' }))
    const base = await listen(app.listen(0, '127.0.0.1'))
    expect(await hono(`${base}/fn/api`)).toEqual(HONO_ANSWERS)
  })

  it('through runtime.fetch', async () => {
    const res = await runtime.fetch(new Request('http://localhost/api/users/7?q=z'))
    expect([res.status, await res.json()]).toEqual([200, { id: '7', q: 'z' }])
  })
})

describe('ctx.originalUrl and ctx.mountPath', () => {
  it('keep the URL the client sent and where the function is mounted (Express, nested mount)', async () => {
    const app = express()
    const router = express.Router()
    router.use('/fn', runtime.express())
    app.use('/v1', router)
    const base = await listen(app.listen(0, '127.0.0.1'))
    const res = await fetch(`${base}/v1/fn/where/a/b%20c?x=1`)
    expect(await res.json()).toEqual({
      url: `${base}/a/b%20c?x=1`,
      originalUrl: `${base}/v1/fn/where/a/b%20c?x=1`,
      mountPath: '/v1/fn/where',
    })
  })

  it('give the function root "/" for a request to its mount itself, with or without a slash', async () => {
    for (const path of ['/where', '/where/']) {
      const res = await runtime.fetch(new Request(`http://localhost${path}?q=1`))
      expect(await res.json()).toEqual({
        url: 'http://localhost/?q=1',
        originalUrl: `http://localhost${path}?q=1`,
        mountPath: '/where',
      })
    }
  })
})
