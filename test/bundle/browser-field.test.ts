// The `browser` field of package.json in every form (see src/bundle/bundle.ts): a string that
// replaces `main`, and a map whose entries replace a file, a module (a Node built-in's name too)
// by another, or stub either out with `false` (an empty module). Checked on packages written here
// and on a real one, tweetnacl, whose map stubs `crypto` and `buffer` out.
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import nacl from 'tweetnacl'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { bundle, createRuntime, isFnboxError, type Runtime } from 'fnbox'

const root = new URL('../..', import.meta.url).pathname

const FILES: Record<string, string> = {
  // A string: the browser build replaces main.
  'node_modules/str-main/package.json': JSON.stringify({ name: 'str-main', main: 'node.js', browser: 'web.js' }),
  'node_modules/str-main/node.js': `module.exports = 'node build'`,
  'node_modules/str-main/web.js': `module.exports = 'web build'`,
  // A map: a file by another, a built-in by a file and by a package, built-ins and a file stubbed out.
  'node_modules/mapped/package.json': JSON.stringify({
    name: 'mapped',
    main: 'index.js',
    browser: {
      './impl-node.js': './impl-web.js',
      fs: './fs-shim.js',
      path: 'tiny-path',
      crypto: false,
      'node:os': false,
      './server-only.js': false,
    },
  }),
  'node_modules/mapped/index.js': `
    const impl = require('./impl-node.js')
    const fs = require('fs')
    const path = require('path')
    const crypto = require('crypto')
    const os = require('node:os')
    const serverOnly = require('./server-only.js')
    module.exports = {
      impl,
      fs: fs.readFileSync('x'),
      path: path.join('a', 'b'),
      crypto: typeof crypto + ':' + Object.keys(crypto).length,
      os: typeof os + ':' + Object.keys(os).length,
      serverOnly: Object.keys(serverOnly).length,
    }`,
  'node_modules/mapped/impl-node.js': `module.exports = 'impl for node'`,
  'node_modules/mapped/impl-web.js': `module.exports = 'impl for the web'`,
  'node_modules/mapped/fs-shim.js': `exports.readFileSync = (p) => 'shimmed ' + p`,
  'node_modules/mapped/server-only.js': `throw new Error('must not be bundled')`,
  'node_modules/tiny-path/package.json': JSON.stringify({ name: 'tiny-path', main: 'index.js' }),
  'node_modules/tiny-path/index.js': `exports.join = (...parts) => parts.join('/')`,
  // A package without a browser field still may not import a built-in.
  'node_modules/plain/package.json': JSON.stringify({ name: 'plain', main: 'index.js' }),
  'node_modules/plain/index.js': `module.exports = require('crypto').randomBytes`,
  'forms.js': `
    import strMain from 'str-main'
    import mapped from 'mapped'
    export const forms = () => ({ strMain, ...mapped })`,
  'plain.js': `import plain from 'plain'; export const x = () => typeof plain`,
}

let dir: string
let runtime: Runtime

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'fnbox-browser-field-'))
  for (const [path, text] of Object.entries(FILES)) {
    await mkdir(dirname(join(dir, path)), { recursive: true })
    await writeFile(join(dir, path), text)
  }
  runtime = await createRuntime({ threads: 1, storage: 'memory' })
})

afterAll(async () => {
  await runtime?.close()
  await rm(dir, { recursive: true, force: true })
})

describe('the browser field', () => {
  it('replaces main, files and modules, and stubs out what it maps to false', async () => {
    const out = await bundle('forms.js', { cwd: dir })
    expect(out.code).not.toContain('must not be bundled')
    await runtime.deploy('forms', { code: out.code })
    expect(await runtime.call('forms', 'forms')).toEqual({
      strMain: 'web build',
      impl: 'impl for the web',
      fs: 'shimmed x',
      path: 'a/b',
      crypto: 'object:0',
      os: 'object:0',
      serverOnly: 0,
    })
  })

  it('leaves a built-in no browser field maps refused, naming it', async () => {
    const err = await bundle('plain.js', { cwd: dir }).catch((e: unknown) => e)
    expect(isFnboxError(err, 'ERR_DEPLOY_FAILED')).toBe(true)
    expect((err as Error).message).toMatch(/"crypto" is a Node built-in/)
  })

  it('bundles tweetnacl (crypto and buffer mapped to false), which then signs and hashes as in Node', async () => {
    const entry = join(dir, 'nacl.js')
    await writeFile(
      entry,
      `import nacl from ${JSON.stringify(join(root, 'node_modules/tweetnacl/nacl-fast.js'))}
      const hex = (b) => Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('')
      export function run(seedHex, message) {
        const seed = new Uint8Array(seedHex.match(/../g).map((h) => parseInt(h, 16)))
        const keys = nacl.sign.keyPair.fromSeed(seed)
        const signed = nacl.sign.detached(new TextEncoder().encode(message), keys.secretKey)
        const random = nacl.randomBytes(32)
        return { publicKey: hex(keys.publicKey), signature: hex(signed), hash: hex(nacl.hash(seed)), random: random.length }
      }`,
    )
    const out = await bundle('nacl.js', { cwd: dir })
    await runtime.deploy('nacl', { code: out.code })
    const seed = '0f'.repeat(32)
    const got = await runtime.call('nacl', 'run', seed, 'hello')
    const seedBytes = new Uint8Array(32).fill(0x0f)
    const keys = nacl.sign.keyPair.fromSeed(seedBytes)
    const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex')
    expect(got).toEqual({
      publicKey: hex(keys.publicKey),
      signature: hex(nacl.sign.detached(new TextEncoder().encode('hello'), keys.secretKey)),
      hash: hex(nacl.hash(seedBytes)),
      random: 32,
    })
  })
})
