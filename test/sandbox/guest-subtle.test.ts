// crypto.subtle in the guest against Node's WebCrypto (its oracle: the guest's subtle runs on it,
// see src/sandbox/web-crypto.ts): every algorithm, every key format, the deterministic results
// byte for byte, the randomized ones verified across the two, and the errors the standard names
// (cases after the web-platform-tests' WebCryptoAPI import_export and bad-parameter tests). Where
// Node 20 is wrong (exportKey of a non-extractable key rejects with "InvalidAccessException"),
// the standard's answer is asserted. Then what keeps keys safe: no key material in the guest's
// objects, a sealed copy useless to another instance or once tampered with, and no host memory
// kept per key.
import { webcrypto } from 'node:crypto'
import { beforeAll, describe, expect, it } from 'vitest'
import { KeyTable } from '../../src/sandbox/web-crypto.js'
import { inGuest, sameAsNode } from '../helpers/same-as-node.js'

const subtle = webcrypto.subtle

/** Fixed key material made once by Node, in every format, inlined into the code both runs get. */
interface Fixtures {
  [name: string]: { jwk: webcrypto.JsonWebKey; pkcs8?: string; spki?: string; raw?: string }
}
let F: Fixtures

const hex = (b: ArrayBuffer): string => Buffer.from(b).toString('hex')

async function exportAll(pair: webcrypto.CryptoKeyPair | webcrypto.CryptoKey): Promise<Fixtures[string]> {
  if ('privateKey' in pair) {
    return {
      jwk: await subtle.exportKey('jwk', pair.privateKey),
      pkcs8: hex(await subtle.exportKey('pkcs8', pair.privateKey)),
      spki: hex(await subtle.exportKey('spki', pair.publicKey)),
    }
  }
  return { jwk: await subtle.exportKey('jwk', pair), raw: hex(await subtle.exportKey('raw', pair)) }
}

beforeAll(async () => {
  const gen = (alg: Record<string, unknown>, usages: webcrypto.KeyUsage[]) =>
    subtle.generateKey(alg as unknown as webcrypto.AlgorithmIdentifier, true, usages) as Promise<
      webcrypto.CryptoKeyPair | webcrypto.CryptoKey
    >
  F = {
    p256: await exportAll(await gen({ name: 'ECDSA', namedCurve: 'P-256' }, ['sign', 'verify'])),
    p384: await exportAll(await gen({ name: 'ECDSA', namedCurve: 'P-384' }, ['sign', 'verify'])),
    p521: await exportAll(await gen({ name: 'ECDSA', namedCurve: 'P-521' }, ['sign', 'verify'])),
    ecdh: await exportAll(await gen({ name: 'ECDH', namedCurve: 'P-256' }, ['deriveBits'])),
    ed25519: await exportAll(await gen({ name: 'Ed25519' }, ['sign', 'verify'])),
    x25519: await exportAll(await gen({ name: 'X25519' }, ['deriveBits'])),
    rsa: await exportAll(
      await gen(
        { name: 'RSASSA-PKCS1-v1_5', modulusLength: 2048, publicExponent: new Uint8Array([1, 0, 1]), hash: 'SHA-256' },
        ['sign', 'verify'],
      ),
    ),
    aes: await exportAll(await gen({ name: 'AES-GCM', length: 256 }, ['encrypt'])),
    hmac: await exportAll(await gen({ name: 'HMAC', hash: 'SHA-384' }, ['sign'])),
  }
  // The same RSA key serves RSASSA, PSS and OAEP below, and the secret keys more usages.
  delete F.rsa!.jwk.alg
  for (const name of ['aes', 'hmac']) delete F[name]!.jwk.key_ops
  delete F.aes!.jwk.alg
})

/** Helpers both runs get, after the fixtures. */
const helpers = (): string => `
const F = ${JSON.stringify(F)}
const s = crypto.subtle
const hex = (b) => Array.from(new Uint8Array(b), (x) => x.toString(16).padStart(2, '0')).join('')
const bytes = (h) => new Uint8Array(h.match(/../g).map((x) => parseInt(x, 16)))
const text = (t) => new TextEncoder().encode(t)
const describe = (k) => ({ type: k.type, extractable: k.extractable, algorithm: k.algorithm, usages: k.usages })
const outcome = (p) => p.then((v) => (v instanceof ArrayBuffer ? hex(v) : v), (e) => e.name + (e instanceof DOMException ? ' (DOMException)' : ''))
`

describe('keys in every format', () => {
  it('import and export EC, Ed25519, X25519, RSA, AES and HMAC keys in jwk, pkcs8, spki and raw as Node does', async () => {
    await sameAsNode(`${helpers()}
      const out = {}
      const ec = (curve) => ({ name: 'ECDSA', namedCurve: curve })
      for (const [name, alg, priv, pub] of [
        ['p256', ec('P-256'), ['sign'], ['verify']],
        ['p384', ec('P-384'), ['sign'], ['verify']],
        ['p521', ec('P-521'), ['sign'], ['verify']],
        ['ecdh', { name: 'ECDH', namedCurve: 'P-256' }, ['deriveBits'], []],
        ['ed25519', 'Ed25519', ['sign'], ['verify']],
        ['x25519', 'X25519', ['deriveBits'], []],
        ['rsa', { name: 'RSA-PSS', hash: 'SHA-256' }, ['sign'], ['verify']],
      ]) {
        const fromJwk = await s.importKey('jwk', F[name].jwk, alg, true, priv)
        const fromPkcs8 = await s.importKey('pkcs8', bytes(F[name].pkcs8), alg, true, priv)
        const publicKey = await s.importKey('spki', bytes(F[name].spki), alg, true, pub)
        out[name] = {
          key: describe(fromJwk), publicKey: describe(publicKey),
          pkcs8: hex(await s.exportKey('pkcs8', fromJwk)) === F[name].pkcs8,
          jwk: await s.exportKey('jwk', fromPkcs8),
          spki: hex(await s.exportKey('spki', publicKey)) === F[name].spki,
          publicJwk: await s.exportKey('jwk', publicKey),
          raw: await outcome(s.exportKey('raw', publicKey)),
        }
      }
      for (const [name, alg, usages] of [['aes', 'AES-GCM', ['encrypt', 'decrypt']], ['hmac', { name: 'HMAC', hash: 'SHA-384' }, ['sign', 'verify']]]) {
        const key = await s.importKey('raw', bytes(F[name].raw), alg, true, usages)
        const fromJwk = await s.importKey('jwk', F[name].jwk, alg, true, usages)
        out[name] = { key: describe(key), jwk: await s.exportKey('jwk', key), raw: hex(await s.exportKey('raw', fromJwk)) }
      }
      return out`)
  })

  it('import and export AES and HMAC keys of every size as raw and JWK (WPT import_export/symmetric_importKey)', async () => {
    await sameAsNode(`${helpers()}
      const out = []
      for (const bits of [128, 192, 256]) {
        const raw = new Uint8Array(bits / 8).map((_, i) => i * 7 + bits)
        for (const [name, usages] of [['AES-CTR', ['encrypt', 'decrypt']], ['AES-CBC', ['decrypt']], ['AES-GCM', ['encrypt', 'wrapKey']], ['AES-KW', ['wrapKey', 'unwrapKey']], ['HMAC', ['sign', 'verify']]]) {
          for (const extractable of [true, false]) {
            const alg = name === 'HMAC' ? { name, hash: 'SHA-' + (bits === 128 ? 1 : bits === 192 ? 384 : 512) } : name
            const key = await s.importKey('raw', raw, alg, extractable, usages)
            const jwk = extractable ? await s.exportKey('jwk', key) : await outcome(s.exportKey('jwk', key)).then((e) => e.replace('InvalidAccessException', 'InvalidAccessError'))
            const back = extractable ? describe(await s.importKey('jwk', jwk, alg, true, usages)) : null
            out.push([describe(key), jwk, back, extractable ? await outcome(s.exportKey('raw', key)) : null])
          }
        }
      }
      return out`)
  })

  it('generate keys of every algorithm with the attributes Node gives them', async () => {
    await sameAsNode(`${helpers()}
      const out = []
      for (const [alg, usages] of [
        [{ name: 'ECDSA', namedCurve: 'P-384' }, ['verify', 'sign']],
        [{ name: 'ECDH', namedCurve: 'P-521' }, ['deriveKey', 'deriveBits']],
        [{ name: 'Ed25519' }, ['sign', 'verify']],
        [{ name: 'X25519' }, ['deriveBits']],
        [{ name: 'RSA-OAEP', modulusLength: 1024, publicExponent: new Uint8Array([1, 0, 1]), hash: 'SHA-1' }, ['encrypt', 'decrypt', 'wrapKey']],
        [{ name: 'AES-CTR', length: 128 }, ['encrypt']],
        [{ name: 'AES-CBC', length: 192 }, ['decrypt', 'encrypt']],
        [{ name: 'AES-KW', length: 256 }, ['wrapKey', 'unwrapKey']],
        [{ name: 'HMAC', hash: { name: 'SHA-1' }, length: 40 }, ['verify']],
      ]) {
        const k = await s.generateKey(alg, false, usages)
        out.push(k.type ? describe(k) : { publicKey: describe(k.publicKey), privateKey: describe(k.privateKey) })
      }
      return out`)
  })
})

describe('operations', () => {
  it('give the bytes Node gives where the algorithm is deterministic', async () => {
    await sameAsNode(`${helpers()}
      const data = text('fnbox ✓ '.repeat(20))
      const iv = new Uint8Array(16).fill(7)
      const aes = (name, usages = ['encrypt', 'decrypt']) => s.importKey('raw', bytes(F.aes.raw), name, true, usages)
      const gcm = await aes('AES-GCM'), cbc = await aes('AES-CBC'), ctr = await aes('AES-CTR'), kw = await aes('AES-KW', ['wrapKey'])
      const hmac = await s.importKey('jwk', F.hmac.jwk, { name: 'HMAC', hash: 'SHA-384' }, false, ['sign'])
      const rsa = await s.importKey('pkcs8', bytes(F.rsa.pkcs8), { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-512' }, false, ['sign'])
      const ed = await s.importKey('pkcs8', bytes(F.ed25519.pkcs8), 'Ed25519', false, ['sign'])
      const ecdh = await s.importKey('pkcs8', bytes(F.ecdh.pkcs8), { name: 'ECDH', namedCurve: 'P-256' }, false, ['deriveBits', 'deriveKey'])
      const ecdhPublic = await s.importKey('spki', bytes(F.ecdh.spki), { name: 'ECDH', namedCurve: 'P-256' }, false, [])
      const x = await s.importKey('pkcs8', bytes(F.x25519.pkcs8), 'X25519', false, ['deriveBits'])
      const xPublic = await s.importKey('spki', bytes(F.x25519.spki), 'X25519', false, [])
      const pbkdf2 = await s.importKey('raw', text('password'), 'PBKDF2', false, ['deriveBits', 'deriveKey'])
      const hkdf = await s.importKey('raw', text('input key'), 'HKDF', false, ['deriveBits'])
      const gcmCt = await s.encrypt({ name: 'AES-GCM', iv: iv.subarray(0, 12), additionalData: text('aad'), tagLength: 96 }, gcm, data)
      const derived = await s.deriveKey({ name: 'PBKDF2', hash: 'SHA-256', salt: text('salt'), iterations: 1000 }, pbkdf2, { name: 'AES-GCM', length: 128 }, true, ['encrypt'])
      return {
        gcm: hex(gcmCt),
        gcmBack: hex(await s.decrypt({ name: 'AES-GCM', iv: iv.subarray(0, 12), additionalData: text('aad'), tagLength: 96 }, gcm, gcmCt)) === hex(data),
        cbc: hex(await s.encrypt({ name: 'AES-CBC', iv }, cbc, data)),
        ctr: hex(await s.encrypt({ name: 'AES-CTR', counter: iv, length: 64 }, ctr, data)),
        wrapped: hex(await s.wrapKey('raw', gcm, kw, 'AES-KW')),
        hmac: hex(await s.sign('HMAC', hmac, data)),
        rsa: hex(await s.sign('RSASSA-PKCS1-v1_5', rsa, data)),
        ed: hex(await s.sign('Ed25519', ed, data)),
        ecdh: hex(await s.deriveBits({ name: 'ECDH', public: ecdhPublic }, ecdh, 256)),
        x25519: hex(await s.deriveBits({ name: 'X25519', public: xPublic }, x, 256)),
        pbkdf2: hex(await s.deriveBits({ name: 'PBKDF2', hash: 'SHA-512', salt: text('salt'), iterations: 2000 }, pbkdf2, 384)),
        hkdf: hex(await s.deriveBits({ name: 'HKDF', hash: 'SHA-256', salt: text('salt'), info: text('info') }, hkdf, 512)),
        derived: [describe(derived), hex(await s.exportKey('raw', derived))],
        digest: hex(await s.digest({ name: 'SHA-384' }, data)),
      }`)
  })

  it('sign with ECDSA and RSA-PSS, and encrypt with RSA-OAEP, so that Node verifies and decrypts, and back', async () => {
    const got = (await inGuest(`${helpers()}
      const data = text('message')
      const out = {}
      for (const [name, curve, hash] of [['p256', 'P-256', 'SHA-256'], ['p384', 'P-384', 'SHA-384'], ['p521', 'P-521', 'SHA-512']]) {
        const key = await s.importKey('jwk', F[name].jwk, { name: 'ECDSA', namedCurve: curve }, false, ['sign'])
        out[name] = hex(await s.sign({ name: 'ECDSA', hash }, key, data))
      }
      const pss = await s.importKey('pkcs8', bytes(F.rsa.pkcs8), { name: 'RSA-PSS', hash: 'SHA-256' }, false, ['sign'])
      out.pss = hex(await s.sign({ name: 'RSA-PSS', saltLength: 32 }, pss, data))
      const oaep = await s.importKey('spki', bytes(F.rsa.spki), { name: 'RSA-OAEP', hash: 'SHA-256' }, false, ['encrypt'])
      out.oaep = hex(await s.encrypt({ name: 'RSA-OAEP', label: text('label') }, oaep, data))
      return out`)) as Record<string, string>
    const data = new TextEncoder().encode('message')
    const un = (h: string): Uint8Array => Uint8Array.from(Buffer.from(h, 'hex'))
    for (const [name, curve, hash] of [
      ['p256', 'P-256', 'SHA-256'],
      ['p384', 'P-384', 'SHA-384'],
      ['p521', 'P-521', 'SHA-512'],
    ] as const) {
      const key = await subtle.importKey('spki', un(F[name]!.spki!), { name: 'ECDSA', namedCurve: curve }, false, [
        'verify',
      ])
      expect(await subtle.verify({ name: 'ECDSA', hash }, key, un(got[name]!), data), name).toBe(true)
    }
    const pss = await subtle.importKey('spki', un(F.rsa!.spki!), { name: 'RSA-PSS', hash: 'SHA-256' }, false, [
      'verify',
    ])
    expect(await subtle.verify({ name: 'RSA-PSS', saltLength: 32 }, pss, un(got.pss!), data)).toBe(true)
    const oaep = await subtle.importKey('pkcs8', un(F.rsa!.pkcs8!), { name: 'RSA-OAEP', hash: 'SHA-256' }, false, [
      'decrypt',
    ])
    const label = new TextEncoder().encode('label')
    expect(Buffer.from(await subtle.decrypt({ name: 'RSA-OAEP', label }, oaep, un(got.oaep!))).toString()).toBe(
      'message',
    )

    // And back: what Node signs and encrypts, the guest verifies and decrypts.
    const ecKey = await subtle.importKey('jwk', F.p256!.jwk, { name: 'ECDSA', namedCurve: 'P-256' }, false, ['sign'])
    const sig = hex(await subtle.sign({ name: 'ECDSA', hash: 'SHA-256' }, ecKey, data))
    const pub = await subtle.importKey('spki', un(F.rsa!.spki!), { name: 'RSA-OAEP', hash: 'SHA-256' }, false, [
      'encrypt',
    ])
    const ct = hex(await subtle.encrypt({ name: 'RSA-OAEP' }, pub, data))
    expect(
      await inGuest(`${helpers()}
        const ec = await s.importKey('spki', bytes(F.p256.spki), { name: 'ECDSA', namedCurve: 'P-256' }, false, ['verify'])
        const rsa = await s.importKey('pkcs8', bytes(F.rsa.pkcs8), { name: 'RSA-OAEP', hash: 'SHA-256' }, false, ['decrypt'])
        return [
          await s.verify({ name: 'ECDSA', hash: 'SHA-256' }, ec, bytes('${sig}'), text('message')),
          await s.verify({ name: 'ECDSA', hash: 'SHA-256' }, ec, bytes('${sig}'), text('messagE')),
          new TextDecoder().decode(await s.decrypt({ name: 'RSA-OAEP' }, rsa, bytes('${ct}'))),
        ]`),
    ).toEqual([true, false, 'message'])
  })

  it('wraps and unwraps keys (AES-KW, AES-GCM, RSA-OAEP) as Node does', async () => {
    await sameAsNode(`${helpers()}
      const kw = await s.importKey('raw', bytes(F.aes.raw), 'AES-KW', false, ['wrapKey', 'unwrapKey'])
      const gcm = await s.importKey('raw', bytes(F.aes.raw), 'AES-GCM', false, ['wrapKey', 'unwrapKey'])
      const hmac = await s.importKey('jwk', F.hmac.jwk, { name: 'HMAC', hash: 'SHA-384' }, true, ['sign'])
      const rsaPublic = await s.importKey('spki', bytes(F.rsa.spki), { name: 'RSA-OAEP', hash: 'SHA-256' }, false, ['wrapKey'])
      const rsaPrivate = await s.importKey('pkcs8', bytes(F.rsa.pkcs8), { name: 'RSA-OAEP', hash: 'SHA-256' }, false, ['unwrapKey'])
      const iv = new Uint8Array(12).fill(1)
      const byKw = await s.wrapKey('raw', hmac, kw, 'AES-KW')
      const byGcm = await s.wrapKey('jwk', hmac, gcm, { name: 'AES-GCM', iv })
      const byRsa = await s.wrapKey('raw', hmac, rsaPublic, 'RSA-OAEP')
      const back = await Promise.all([
        s.unwrapKey('raw', byKw, kw, 'AES-KW', { name: 'HMAC', hash: 'SHA-384' }, true, ['sign']),
        s.unwrapKey('jwk', byGcm, gcm, { name: 'AES-GCM', iv }, { name: 'HMAC', hash: 'SHA-384' }, true, ['sign']),
        s.unwrapKey('raw', byRsa, rsaPrivate, 'RSA-OAEP', { name: 'HMAC', hash: 'SHA-384' }, false, ['sign']),
      ])
      return {
        byKw: hex(byKw), byGcm: hex(byGcm),
        back: await Promise.all(back.map(async (k) => [describe(k), hex(await s.sign('HMAC', k, text('x')))])),
      }`)
  })
})

describe('errors', () => {
  it('reject with the errors Node gives: names and classes, never a synchronous throw', async () => {
    await sameAsNode(`${helpers()}
      const aes = await s.importKey('raw', bytes(F.aes.raw), 'AES-GCM', true, ['encrypt'])
      const ec = await s.importKey('jwk', F.p256.jwk, { name: 'ECDSA', namedCurve: 'P-256' }, false, ['sign'])
      const ct = await s.encrypt({ name: 'AES-GCM', iv: new Uint8Array(12) }, await s.importKey('raw', bytes(F.aes.raw), 'AES-GCM', false, ['encrypt', 'decrypt']), text('x'))
      const decryptor = await s.importKey('raw', bytes(F.aes.raw), 'AES-GCM', false, ['decrypt'])
      const tampered = new Uint8Array(ct); tampered[0] ^= 1
      const none = s.encrypt()
      return {
        sync: [none instanceof Promise, await outcome(none)],
        unknown: await outcome(s.generateKey({ name: 'AES-XTS', length: 256 }, true, ['encrypt'])),
        noName: await outcome(s.generateKey({ length: 256 }, true, ['encrypt'])),
        badUsage: await outcome(s.generateKey({ name: 'AES-GCM', length: 256 }, true, ['sign'])),
        noUsages: await outcome(s.generateKey({ name: 'AES-GCM', length: 256 }, true, [])),
        badLength: await outcome(s.generateKey({ name: 'AES-GCM', length: 100 }, true, ['encrypt'])),
        keyUsage: await outcome(s.decrypt({ name: 'AES-GCM', iv: new Uint8Array(12) }, aes, ct)),
        wrongKey: await outcome(s.sign('HMAC', ec, text('x'))),
        tampered: await outcome(s.decrypt({ name: 'AES-GCM', iv: new Uint8Array(12) }, decryptor, tampered)),
        shortIvType: await outcome(s.encrypt({ name: 'AES-GCM', iv: 'iv' }, aes, text('x'))),
        noHash: await outcome(s.importKey('raw', text('k'), { name: 'HMAC' }, false, ['sign'])),
        badRawLength: await outcome(s.importKey('raw', new Uint8Array(5), 'AES-GCM', false, ['encrypt'])),
        badJwkKty: await outcome(s.importKey('jwk', { ...F.p256.jwk, kty: 'RSA' }, { name: 'ECDSA', namedCurve: 'P-256' }, false, ['sign'])),
        badJwkCurve: await outcome(s.importKey('jwk', F.p256.jwk, { name: 'ECDSA', namedCurve: 'P-384' }, false, ['sign'])),
        badJwkUse: await outcome(s.importKey('jwk', { ...F.aes.jwk, use: 'sig' }, 'AES-GCM', false, ['encrypt'])),
        badJwkOps: await outcome(s.importKey('jwk', { ...F.aes.jwk, key_ops: ['decrypt'] }, 'AES-GCM', false, ['encrypt'])),
        rawPrivate: await outcome(s.importKey('raw', new Uint8Array(32), { name: 'ECDSA', namedCurve: 'P-256' }, false, ['sign'])),
        spkiGarbage: await outcome(s.importKey('spki', new Uint8Array(40), { name: 'ECDSA', namedCurve: 'P-256' }, false, ['verify'])),
        badFormat: await outcome(s.exportKey('pem', aes)),
        notAKey: await outcome(s.encrypt({ name: 'AES-GCM', iv: new Uint8Array(12) }, {}, text('x'))),
        notData: await outcome(s.encrypt({ name: 'AES-GCM', iv: new Uint8Array(12) }, aes, 'x')),
        missing: await outcome(s.sign('HMAC', aes)),
        digestName: await outcome(s.digest('MD5', text('x'))),
        wrongThis: await outcome(s.digest.call({}, 'SHA-256', text('x'))),
        pbkdf2Extractable: await outcome(s.importKey('raw', text('p'), 'PBKDF2', true, ['deriveBits'])),
        deriveLength: await outcome(s.deriveBits({ name: 'HKDF', hash: 'SHA-256', salt: new Uint8Array(0), info: new Uint8Array(0) }, await s.importKey('raw', text('k'), 'HKDF', false, ['deriveBits']), 7)),
      }`)
  })

  it('rejects at once when normalizing the algorithm fails, and later for what the operation checks (WPT generateKey failures)', async () => {
    await sameAsNode(`${helpers()}
      // As WebCryptoAPI/generateKey/failures.js tells them apart: did the rejection come before
      // a microtask queued after the call?
      const when = (make) => {
        let tick = false
        const settled = make().then(() => 'ok', (e) => e.name + (tick ? ' late' : ' early'))
        Promise.resolve().then(() => { tick = true })
        return settled
      }
      const hmac = await s.importKey('raw', text('k'), { name: 'HMAC', hash: 'SHA-256' }, false, ['sign'])
      const out = []
      for (const [alg, usages] of [
        ['AES', ['encrypt']], [{ name: 'AES' }, ['decrypt']], [{ name: 'AES-CMAC', length: 128 }, ['sign']], [{ name: 'HMAC', hash: 'MD5' }, ['sign']],
        [{ name: 'RSA-PSS', hash: 'SHA', modulusLength: 2048, publicExponent: new Uint8Array([1, 0, 1]) }, ['sign']], [{ name: 'EC', namedCurve: 'P521' }, ['sign']],
        [{}, ['sign']], [7, ['sign']], [{ name: 'HMAC' }, ['sign']], [{ name: 'aes-gcm', length: 128 }, ['sign']], [{ name: 'AES-GCM', length: 128 }, []],
        [{ name: 'AES-GCM', length: 64 }, ['encrypt']], [{ name: 'ECDSA', namedCurve: 'P-512' }, ['sign']], [{ name: 'ECDSA', namedCurve: 'P-256' }, []],
      ]) out.push(await when(() => s.generateKey(alg, true, usages)))
      out.push(await when(() => s.sign({ name: 'ECDSA' }, hmac, text('x'))), await when(() => s.sign('AES-GCM', hmac, text('x'))),
        await when(() => s.sign('hmac', hmac, text('x'))), await when(() => s.digest('SHA-3', text('x'))), await when(() => s.digest({}, text('x'))),
        await when(() => s.importKey('raw', text('k'), { name: 'PBKDF2', hash: 'MD5' }, false, ['deriveBits'])),
        await when(() => s.importKey('raw', text('k'), { name: 'HMAC', hash: { name: 'SHA-7' } }, false, ['sign'])),
        await when(() => s.deriveBits({ name: 'HKDF', salt: text('s'), info: text('i') }, hmac, 8)),
        await when(() => s.encrypt({ name: 'AES-GCM', iv: new Uint8Array(12) }, null, text('x'))))
      return out`)
  })

  it('exporting or wrapping a non-extractable key rejects with InvalidAccessError (Node 20 says InvalidAccessException)', async () => {
    expect(
      await inGuest(`${helpers()}
        const k = await s.importKey('raw', bytes(F.aes.raw), 'AES-GCM', false, ['encrypt'])
        const kw = await s.importKey('raw', bytes(F.aes.raw), 'AES-KW', false, ['wrapKey'])
        return [await outcome(s.exportKey('raw', k)), await outcome(s.wrapKey('raw', k, kw, 'AES-KW'))]`),
    ).toEqual(['InvalidAccessError (DOMException)', 'InvalidAccessError (DOMException)'])
  })
})

describe('keys stay on the host', () => {
  it('a CryptoKey holds nothing guest code can read, and cannot be made by guest code', async () => {
    expect(
      await inGuest(`${helpers()}
        const k = await s.importKey('raw', bytes(F.aes.raw), 'AES-GCM', false, ['encrypt'])
        let made = 'none'
        try { new CryptoKey() } catch (e) { made = e.name }
        let forged = 'none'
        try { Object.getOwnPropertyDescriptor(CryptoKey.prototype, 'type').get.call({}) } catch (e) { forged = e.name }
        return {
          json: JSON.stringify(k), names: Object.getOwnPropertyNames(k), symbols: Object.getOwnPropertySymbols(k).length,
          proto: Object.getPrototypeOf(k) === CryptoKey.prototype, made, forged, tag: Object.prototype.toString.call(k),
          cached: k.algorithm === k.algorithm && k.usages === k.usages, frozen: Object.isFrozen(k.algorithm),
        }`),
    ).toEqual({
      json: '{}',
      names: [],
      symbols: 0,
      proto: true,
      made: 'TypeError',
      forged: 'TypeError',
      tag: '[object CryptoKey]',
      cached: true,
      frozen: true,
    })
  })

  it('many keys in use at once all keep working (the host caches few and unseals the rest)', async () => {
    await sameAsNode(`${helpers()}
      const keys = []
      for (let i = 0; i < 150; i++) keys.push(await s.importKey('raw', new Uint8Array([i, 1, 2]), { name: 'HMAC', hash: 'SHA-256' }, false, ['sign']))
      const macs = []
      for (let round = 0; round < 2; round++) for (const k of keys) macs.push(hex(await s.sign('HMAC', k, text('m'))).slice(0, 8))
      return macs`)
  })

  it('a sealed key opens only in the table that sealed it, under its own id, untampered', async () => {
    const a = new KeyTable()
    const b = new KeyTable()
    const key = await subtle.importKey('raw', new Uint8Array(16), 'AES-GCM', false, ['encrypt'])
    const { description, sealed } = a.register(key)
    a.clear()
    expect((await a.resolve(description.id, sealed)).algorithm).toEqual(key.algorithm)
    a.clear()
    const tampered = sealed.slice()
    tampered[20]! ^= 1
    for (const [table, id, copy] of [
      [b, description.id, sealed],
      [a, 'another-id', sealed],
      [a, description.id, tampered],
      [a, description.id, sealed.subarray(0, 10)],
    ] as const) {
      await expect(table.resolve(id, copy)).rejects.toMatchObject({
        name: 'TypeError',
        message: 'key is not of type CryptoKey',
      })
    }
  })
})
