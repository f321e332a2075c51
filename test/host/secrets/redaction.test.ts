/**
 * A granted secret never reaches the host through a function's errors or logs: every way a
 * guest can throw or print one (message, name, stack, details of any kind, async rejections,
 * timers, waitUntil, streamed bodies, top-level code at deploy, HTTP answers, source-mapped
 * stacks) is checked against everything the host sees, in the verbatim form and in the encoded
 * forms redaction covers.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { inspect } from 'node:util'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createRuntime, type Runtime } from 'fnbox'
import { SecretRedactor } from '../../../src/host/secrets/redact.js'

/** Holds characters JSON and URLs escape, and base64's `+` and `/` in its encodings. */
const SECRET = 'sk-Live/9f8+Qa"b\\c~7>>?'
const ROTATED = 'sk-rotated-0123456789'

/** The forms of a value no host-visible text may contain. */
function forms(value: string): string[] {
  const bytes = Buffer.from(value)
  const b64 = bytes.toString('base64')
  return [
    value,
    JSON.stringify(value).slice(1, -1),
    encodeURIComponent(value),
    bytes.toString('hex'),
    value.replaceAll('\\', '\\\\').replaceAll("'", "\\'"), // in a single-quoted literal (console.log of an object)
    b64.slice(0, -4), // the padded tail depends on what follows
    bytes.toString('base64url').slice(0, -4),
    // Inside base64 of `user:<value>` (HTTP Basic auth): the value starts at byte 5.
    Buffer.from('user:' + value)
      .toString('base64')
      .slice(8, -4),
  ]
}

let runtime: Runtime
let dir: string
/** Everything the host was shown: events as they were emitted. */
const seen: unknown[] = []

beforeAll(async () => {
  runtime = await createRuntime({ threads: 1, storage: 'memory', secrets: { key: 'a'.repeat(64) } })
  runtime.on('invoke', (e) => seen.push(e))
  runtime.on('log', (e) => seen.push(e))
  await runtime.secrets.set('K', ROTATED)
  dir = await mkdtemp(join(tmpdir(), 'fnbox-redaction-'))
})
afterAll(async () => {
  await runtime.close()
  await rm(dir, { recursive: true, force: true })
})

/** Everything about `value` a host could print or serialise. */
function exposed(value: unknown): string {
  if (value instanceof Error) {
    return [
      inspect(value, { depth: Infinity, showHidden: true }),
      JSON.stringify(value),
      String(value),
      value.stack,
    ].join('\n')
  }
  return typeof value === 'string' ? value : inspect(value, { depth: Infinity })
}

function expectNoSecret(...values: unknown[]): void {
  const text = [...values, ...seen].map(exposed).join('\n')
  for (const secret of [SECRET, ROTATED]) {
    for (const form of forms(secret)) expect(text, `shows ${JSON.stringify(form)}`).not.toContain(form)
  }
}

const sleep = `(ms) => new Promise((r) => setTimeout(r, ms))`

/** Exports of the function under test: `run` fails or logs with the secret in some form. */
const CALLS: Record<string, string> = {
  'an Error message': `throw new Error('key=' + s)`,
  'a thrown string': `throw s`,
  'a thrown object with a message': `throw { message: 'failed: ' + s }`,
  'a thrown object without one': `throw { code: 42, token: s }`,
  'an error name': `const e = new Error('x'); e.name = s; throw e`,
  'an error stack': `const e = new Error('x'); e.stack = 'at ' + s; throw e`,
  'an error cause': `throw new Error('outer', { cause: new Error(s) })`,
  'JSON in a message (escaped quotes and backslashes)': `throw new TypeError(JSON.stringify({ headers: { authorization: 'Bearer ' + s } }))`,
  'a URL in a message (percent-encoded)': `throw new Error('GET https://api.test/?key=' + encodeURIComponent(s))`,
  'base64 in a message (Basic auth)': `throw new Error('Authorization: Basic ' + btoa('user:' + s))`,
  'a rejected promise': `return Promise.reject(new Error(s))`,
  'a throw after an await': `await Promise.resolve(); throw new Error(s)`,
  'a rejection from a timer': `await new Promise((_, reject) => setTimeout(() => reject(new Error(s)), 1))`,
  'an uncaught throw in a timer callback (reported as a log)': `setTimeout(() => { throw new Error(s) }, 1); await (${sleep})(30)`,
  'console.log': `console.log(s)`,
  'console.error with several arguments': `console.error('auth failed for', s, 'at', Date.now())`,
  'console.log of an object and an array': `console.log({ key: s, nested: { list: [s] } })`,
  'console.warn of an error': `console.warn(new Error(s))`,
  'console.log of its base64': `console.log(btoa(s))`,
  'console.log of its base64url': `console.log(btoa(s).replaceAll('+', '-').replaceAll('/', '_'))`,
  'console.log of its hex': `console.log([...new TextEncoder().encode(s)].map((b) => b.toString(16).padStart(2, '0')).join(''))`,
  'console.log of a JSON body': `console.log(JSON.stringify({ apiKey: s }))`,
  'console.log of the value read at deploy (since rotated)': `console.log(atDeploy); throw new Error(atDeploy)`,
}

describe('a granted secret never reaches the host', () => {
  it.each(Object.entries(CALLS))('through %s', async (_name, body) => {
    seen.length = 0
    await runtime.deploy('leaky', {
      secrets: ['K'],
      code: `import { secrets } from 'fnbox:host'
        const atDeploy = secrets.get('K')
        export async function run() { const s = secrets.get('K'); ${body} }`,
    })
    await runtime.secrets.set('K', SECRET) // the function's secret changes: the old value stays secret
    const err = await runtime.call('leaky', 'run').catch((e: unknown) => e)
    await new Promise((r) => setTimeout(r, 20)) // events of the call
    // It did fail or log (with the secret replaced).
    expect(exposed(err) + seen.map(exposed).join('')).toMatch(/redacted|ERR_GUEST_EXCEPTION/)
    expectNoSecret(err)
    await runtime.secrets.set('K', ROTATED)
  })

  it.each([
    ['a thrown error', `export default { fetch: () => { throw new Error(secrets.get('K')) } }`],
    [
      'an error in a streamed body',
      `export default { fetch: () => new Response(new ReadableStream({
        start(c) { c.enqueue('a') },
        async pull() { await null; throw new Error('stream: ' + secrets.get('K')) },
      })) }`,
    ],
    [
      'failing waitUntil work',
      `export default { fetch(req, ctx) {
        ctx.waitUntil(Promise.reject(new Error('later: ' + secrets.get('K'))))
        return new Response('ok')
      } }`,
    ],
  ])('through HTTP: %s', async (_name, code) => {
    seen.length = 0
    await runtime.deploy('leakyHttp', { secrets: ['K'], code: `import { secrets } from 'fnbox:host'\n${code}` })
    const res = await runtime.fetch(new Request('http://x/leakyHttp'))
    const body = await res.text().catch((e: unknown) => e)
    await new Promise((r) => setTimeout(r, 20))
    expect(seen.map(exposed).join('')).toMatch(/redacted/)
    expectNoSecret(body, [...res.headers].join('\n'))
  })

  it('through a deploy whose top-level code throws it', async () => {
    seen.length = 0
    const err = await runtime
      .deploy('leakyTop', {
        secrets: ['K'],
        code: `import { secrets } from 'fnbox:host'\nthrow new Error('cannot start with ' + secrets.get('K'))`,
      })
      .catch((e: unknown) => e)
    expect(err).toMatchObject({ code: 'ERR_DEPLOY_FAILED' })
    expect((err as Error).message).toContain('[redacted]')
    expectNoSecret(err)
  })

  it('through a stack mapped with the source map of a bundled entry', async () => {
    seen.length = 0
    const entry = join(dir, 'mapped.ts')
    await writeFile(
      entry,
      `import { secrets } from 'fnbox:host'
       function fail(key: string): never { throw new Error('bad key ' + key) }
       export function run(): void { fail(secrets.get('K') ?? '') }`,
    )
    await runtime.deploy('leakyMapped', { secrets: ['K'], entry })
    const err = await runtime.call('leakyMapped', 'run').catch((e: unknown) => e)
    expect(err).toMatchObject({ details: { stack: expect.stringContaining('mapped.ts') } })
    expectNoSecret(err)
  })
})

describe('SecretRedactor', () => {
  it('leaves text without a secret, and short values verbatim only', () => {
    const r = new SecretRedactor(['abc', 'long-secret-value'])
    expect(r.redact('nothing here')).toBe('nothing here')
    expect(r.redact('abc and YWJj')).toBe('[redacted] and YWJj')
    // The last character of its base64 depends on what follows: the rest is redacted.
    expect(r.redact('bG9uZy1zZWNyZXQtdmFsdWU=')).toBe('[redacted]U=')
  })

  it('redacts every string in a value, at any depth, and returns it untouched when clean', () => {
    const r = new SecretRedactor(['long-secret-value'])
    const clean = { a: ['x'], b: { c: 1 } }
    expect(r.redactDeep(clean)).toBe(clean)
    expect(r.redactDeep({ a: ['x long-secret-value'], b: { c: 'long-secret-value', d: 2 } })).toEqual({
      a: ['x [redacted]'],
      b: { c: '[redacted]', d: 2 },
    })
  })

  it('keeps a value redacted after another replaces it', () => {
    const r = new SecretRedactor(['first-secret-value'])
    r.add(['second-secret-value'])
    expect(r.redact('first-secret-value second-secret-value')).toBe('[redacted] [redacted]')
  })
})
