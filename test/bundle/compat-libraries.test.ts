// Real npm libraries of the kinds functions use (routers, validators, JWT and JWE, an LLM SDK,
// a tokenizer, parsers, a DOM, time zones, NaCl, UUIDs), each bundled by fnbox's bundler into a
// function and run in the sandbox, and the same module run in Node: both must give the same
// answer. Every fixture in test/fixtures/compat exports run(...); all are bundled once, up front.
import { createPublicKey, generateKeyPairSync, webcrypto } from 'node:crypto'
import { join } from 'node:path'
import * as jose from 'jose'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { bundle, createRuntime, type Runtime } from 'fnbox'

const root = new URL('../..', import.meta.url).pathname
const FIXTURES = [
  'hono',
  'itty-router',
  'validators',
  'jose',
  'openai-stream',
  'tiktoken',
  'parsers',
  'linkedom',
  'date-fns-tz',
  'tweetnacl-uuid',
] as const
type Fixture = (typeof FIXTURES)[number]

let runtime: Runtime
const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 })
const rsaPkcs8 = rsa.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string
const rsaSpki = createPublicKey(rsa.privateKey).export({ type: 'spki', format: 'pem' }) as string
const ARGS: Partial<Record<Fixture, unknown[]>> = { jose: [rsaPkcs8, rsaSpki, 'a shared secret of 32 bytes......'] }

/** Why a fixture could not be bundled or deployed: its tests fail with that, the others run. */
const failedSetup = new Map<Fixture, unknown>()

beforeAll(async () => {
  runtime = await createRuntime({ threads: 1, storage: 'memory' })
  const bundles = await Promise.allSettled(
    FIXTURES.map((f) => bundle(join(root, 'test/fixtures/compat', `${f}.ts`), { cwd: root, minify: true })),
  )
  for (const [i, f] of FIXTURES.entries()) {
    const b = bundles[i]!
    if (b.status === 'rejected') failedSetup.set(f, b.reason)
    else {
      await runtime
        .deploy(`compat-${f}`, { code: b.value.code, limits: { timeoutMs: 20_000, memoryMb: 256 } })
        .catch((err: unknown) => failedSetup.set(f, err))
    }
  }
}, 120_000)

afterAll(() => runtime?.close())

/** The fixture's answer in the sandbox and in Node (through JSON, as the sandbox returns it). */
async function both(f: Fixture): Promise<{ guest: unknown; node: unknown }> {
  if (failedSetup.has(f)) throw failedSetup.get(f)
  const args = ARGS[f] ?? []
  const mod = (await import(`../fixtures/compat/${f}.ts`)) as { run(...args: unknown[]): unknown }
  const [guest, node] = await Promise.all([runtime.call(`compat-${f}`, 'run', ...args), mod.run(...args)])
  return { guest, node: JSON.parse(JSON.stringify(node)) as unknown }
}

async function same(f: Fixture): Promise<unknown> {
  const { guest, node } = await both(f)
  expect(guest).toEqual(node)
  return guest
}

describe('libraries bundled into functions give the answers they give in Node', () => {
  it('hono routes, runs middleware and its error handler', async () => {
    const out = (await same('hono')) as unknown[][]
    expect(out[0]).toEqual([200, 'compat', 'application/json', '{"id":"42","q":"a b"}'])
  })

  it('hono serves the function over HTTP too', async () => {
    // The guest sees its path relative to its mount (/api): /users/7, the app's route.
    await runtime.deploy('api', { entry: join(root, 'test/fixtures/compat/hono.ts') })
    const res = await runtime.fetch(new Request('http://localhost/api/users/7?q=z'))
    expect([res.status, res.headers.get('x-powered-by'), await res.json()]).toEqual([
      200,
      'compat',
      { id: '7', q: 'z' },
    ])
  })

  it('itty-router', async () => {
    await same('itty-router')
  })

  it('zod and valibot', async () => {
    const out = (await same('validators')) as { zod: unknown[] }
    expect(out.zod[0]).toBe('2020-01-02T00:00:00.000Z')
  })

  it('jose: ES256, EdDSA, ES384, PS256, RS256 and HS256 JWTs, and JWEs (RSA-OAEP and RSA-OAEP-256, A256GCM) Node decrypts', async () => {
    const { guest, node } = await both('jose')
    const g = guest as Record<string, unknown>
    const n = node as Record<string, unknown>
    // The JWEs are random (their keys and IVs): Node must open the guest's.
    const tokens = g.jweTokens as string[]
    delete g.jweTokens
    delete n.jweTokens
    expect(g).toEqual(n)
    expect((g.ES256 as { failed: string }).failed).toBe('ERR_JWS_SIGNATURE_VERIFICATION_FAILED')
    for (const [i, alg] of (['RSA-OAEP', 'RSA-OAEP-256'] as const).entries()) {
      const opened = await jose.compactDecrypt(tokens[i]!, await jose.importPKCS8(rsaPkcs8, alg))
      expect(new TextDecoder().decode(opened.plaintext)).toBe('top secret ✓')
    }
    // And Node verifies the guest's RS256 token with its own WebCrypto.
    const spki = await webcrypto.subtle.importKey(
      'spki',
      createPublicKey(rsaSpki).export({ type: 'spki', format: 'der' }),
      { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' },
      false,
      ['verify'],
    )
    const [header, payload, signature] = (g.RS256 as string).split('.')
    expect(
      await webcrypto.subtle.verify(
        'RSASSA-PKCS1-v1_5',
        spki,
        Buffer.from(signature!, 'base64url'),
        new TextEncoder().encode(`${header}.${payload}`),
      ),
    ).toBe(true)
  })

  it('the OpenAI SDK streams a chat completion from server-sent events', async () => {
    const out = (await same('openai-stream')) as { text: string }
    expect(out.text).toBe('Héllo, ✓')
  })

  it('js-tiktoken counts tokens', async () => {
    await same('tiktoken')
  })

  it('papaparse, marked and yaml', async () => {
    await same('parsers')
  })

  it('linkedom loads (its dependencies make an Intl.NumberFormat) and edits a document', async () => {
    const out = (await same('linkedom')) as { count: number }
    expect(out.count).toBe(3)
  })

  it('@date-fns/tz and date-fns in named time zones', async () => {
    const out = (await same('date-fns-tz')) as { offset: number }[]
    expect(out[0]!.offset).toBe(300)
  })

  it('tweetnacl and uuid', async () => {
    await same('tweetnacl-uuid')
  })
})
