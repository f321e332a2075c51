import { describe, expect, it } from 'vitest'
import { isFnboxError } from '../../../src/errors.js'
import { isBlockedAddress, parseAllowedHosts } from '../../../src/host/net/index.js'

describe('isBlockedAddress', () => {
  it.each([
    ['127.0.0.1', 'loopback'],
    ['127.255.255.254', 'loopback'],
    ['10.1.2.3', 'private'],
    ['172.16.0.1', 'private'],
    ['172.31.255.255', 'private'],
    ['192.168.1.1', 'private'],
    ['169.254.169.254', 'linkLocal'],
    ['169.254.0.1', 'linkLocal'],
    ['100.64.0.1', 'carrierGradeNat'],
    ['100.127.255.255', 'carrierGradeNat'],
    ['0.0.0.0', 'unspecified'],
    ['0.1.2.3', 'unspecified'],
    ['224.0.0.1', 'multicast'],
    ['239.255.255.250', 'multicast'],
    ['255.255.255.255', 'broadcast'],
    ['240.0.0.1', 'reserved'],
    ['192.0.0.8', 'reserved'],
    ['192.0.2.1', 'documentation'],
    ['198.51.100.7', 'documentation'],
    ['203.0.113.9', 'documentation'],
    ['198.18.0.1', 'benchmarking'],
    ['198.19.255.255', 'benchmarking'],
    ['::1', 'loopback'],
    ['::', 'unspecified'],
    ['fe80::1', 'linkLocal'],
    ['fe80::1%eth0', 'linkLocal'],
    ['fc00::1', 'uniqueLocal'],
    ['fd12:3456::1', 'uniqueLocal'],
    ['ff02::1', 'multicast'],
    ['fec0::1', 'deprecatedSiteLocal'],
    ['::ffff:127.0.0.1', 'loopback'],
    ['::ffff:7f00:1', 'loopback'],
    ['::ffff:10.0.0.1', 'private'],
    ['::ffff:169.254.169.254', 'linkLocal'],
    ['::127.0.0.1', 'ipv4Compatible'],
    ['::8.8.8.8', 'ipv4Compatible'],
    ['64:ff9b::7f00:1', 'loopback'],
    ['64:ff9b::a9fe:a9fe', 'linkLocal'],
    ['64:ff9b:1::1', 'rfc6052'],
    ['2002:7f00:1::1', 'loopback'],
    ['2002:c0a8:101::1', 'private'],
    ['2001::1', 'teredo'],
    ['2001:0:4136:e378:8000:63bf:3fff:fdd2', 'teredo'],
    ['2001:db8::1', 'documentation'],
    ['3fff::1', 'documentation'],
    ['2001:2::1', 'benchmarking'],
    ['100::1', 'discard'],
    ['4000::1', 'reserved'],
    ['127.1', 'invalid'],
    ['0x7f.0.0.1', 'invalid'],
    ['localhost', 'invalid'],
    ['', 'invalid'],
  ])('blocks %s (%s)', (ip, reason) => {
    expect(isBlockedAddress(ip)).toBe(reason)
  })

  it.each([
    '8.8.8.8',
    '1.1.1.1',
    '93.184.216.34',
    '172.15.255.255',
    '172.32.0.1',
    '100.128.0.1',
    '169.255.0.1',
    '2606:4700::1111',
    '2001:4860:4860::8888',
    '2a00:1450:4001:80b::200e',
    '::ffff:8.8.8.8',
    '64:ff9b::808:808',
    '2002:808:808::1',
  ])('lets public %s through', (ip) => {
    expect(isBlockedAddress(ip)).toBeNull()
  })
})

describe('parseAllowedHosts', () => {
  it('matches a host name exactly, case-insensitively, ignoring a trailing dot', () => {
    const allowed = parseAllowedHosts(['API.OpenAI.com.'], 'allowedHosts')
    expect(allowed.match('api.openai.com', 443)).toBe('guarded')
    expect(allowed.match('api.openai.com.', 80)).toBe('guarded')
    expect(allowed.match('API.OPENAI.COM', 8080)).toBe('guarded')
    expect(allowed.match('openai.com', 443)).toBeNull()
    expect(allowed.match('x.api.openai.com', 443)).toBeNull()
    expect(allowed.match('api.openai.com.evil.net', 443)).toBeNull()
  })

  it('matches a wildcard on sub-domains only, as a wildcard', () => {
    const allowed = parseAllowedHosts(['*.example.com'], 'allowedHosts')
    expect(allowed.match('a.example.com', 443)).toBe('guarded')
    expect(allowed.match('a.b.example.com', 80)).toBe('guarded')
    expect(allowed.match('example.com', 443)).toBeNull()
    expect(allowed.match('badexample.com', 443)).toBeNull()
  })

  it('restricts host:port entries to that port', () => {
    const allowed = parseAllowedHosts(['localhost:3000', '*.svc.test:8443', 'localhost:3001'], 'x')
    expect(allowed.match('localhost', 3000)).toBe('trusted')
    expect(allowed.match('localhost', 3001)).toBe('trusted')
    expect(allowed.match('localhost', 3002)).toBeNull()
    expect(allowed.match('a.svc.test', 8443)).toBe('guarded')
    expect(allowed.match('a.svc.test', 443)).toBeNull()
  })

  it('compares IP literals by value, IPv4-mapped IPv6 included', () => {
    const allowed = parseAllowedHosts(['127.0.0.1', '[::1]:8080', '::2', '10.0.0.1:9000'], 'x')
    expect(allowed.match('127.0.0.1', 1)).toBe('trusted')
    expect(allowed.match('[::ffff:7f00:1]', 1)).toBe('trusted')
    expect(allowed.match('::ffff:127.0.0.1', 1)).toBe('trusted')
    expect(allowed.match('[::1]', 8080)).toBe('trusted')
    expect(allowed.match('0:0:0:0:0:0:0:1', 8080)).toBe('trusted')
    expect(allowed.match('[::1]', 8081)).toBeNull()
    expect(allowed.match('[::2]', 80)).toBe('trusted')
    expect(allowed.match('10.0.0.1', 9000)).toBe('trusted')
    expect(allowed.match('10.0.0.1', 80)).toBeNull()
    expect(allowed.match('127.0.0.2', 1)).toBeNull()
  })

  it('normalises IPv4 entries as URL does', () => {
    const allowed = parseAllowedHosts(['127.1:8080', '2130706433'], 'x')
    expect(allowed.match('127.0.0.1', 8080)).toBe('trusted')
    expect(allowed.match('127.0.0.1', 1)).toBe('trusted')
  })

  it("treats '*' as any host, under the SSRF guard, while named hosts stay explicit", () => {
    const allowed = parseAllowedHosts(['*', 'localhost:3000'], 'x')
    expect(allowed.match('anything.example', 443)).toBe('guarded')
    expect(allowed.match('127.0.0.1', 80)).toBe('guarded')
    expect(allowed.match('localhost', 3000)).toBe('trusted')
  })

  it('trusts IP literals and local names listed exactly; public names stay under the guard', () => {
    const allowed = parseAllowedHosts(
      ['10.0.0.5', 'localhost:3000', 'db', 'db.internal', 'printer.local', 'app.localhost', 'nas.home.arpa', 'x.test'],
      'x',
    )
    for (const host of ['10.0.0.5', 'db', 'db.internal', 'printer.local', 'app.localhost', 'nas.home.arpa', 'x.test']) {
      expect(allowed.match(host, 80), host).toBe('trusted')
    }
    expect(allowed.match('localhost', 3000)).toBe('trusted')
    const publicNames = parseAllowedHosts(['api.example.com', 'internal.example.com', 'local.example.org'], 'x')
    for (const host of ['api.example.com', 'internal.example.com', 'local.example.org']) {
      expect(publicNames.match(host, 443), host).toBe('guarded')
    }
  })

  it('trusts the vouched entries (declared upstreams) whatever their name, on their port only', () => {
    const allowed = parseAllowedHosts(['api.example.com'], 'x', ['api.example.com:443', 'llm.corp.example:8000'])
    expect(allowed.match('api.example.com', 443)).toBe('trusted')
    expect(allowed.match('api.example.com', 8443)).toBe('guarded')
    expect(allowed.match('llm.corp.example', 8000)).toBe('trusted')
    expect(allowed.match('llm.corp.example', 80)).toBeNull()
    expect(parseAllowedHosts([], 'x', ['10.1.1.1:80']).match('10.1.1.1', 80)).toBe('trusted')
  })

  it('allows nothing when empty', () => {
    expect(parseAllowedHosts([], 'x').match('example.com', 443)).toBeNull()
  })

  it.each([
    [['ok.com', 'http://x.com'], 'allowedHosts[1]'],
    [['a.com', 'b.com', 'host:99999'], 'allowedHosts[2]'],
    [['host:0'], 'allowedHosts[0]'],
    [[''], 'allowedHosts[0]'],
    [[' a.com'], 'allowedHosts[0]'],
    [['a.com/path'], 'allowedHosts[0]'],
    [['user@a.com'], 'allowedHosts[0]'],
    [['*.127.0.0.1'], 'allowedHosts[0]'],
    [['*.[::1]'], 'allowedHosts[0]'],
    [['a*.com'], 'allowedHosts[0]'],
    [['[::1'], 'allowedHosts[0]'],
    [['[nothex]:80'], 'allowedHosts[0]'],
    [['999.1.1.1'], 'allowedHosts[0]'],
    [[42], 'allowedHosts[0]'],
  ])('rejects %j naming %s', (entries, option) => {
    let thrown: unknown
    try {
      parseAllowedHosts(entries as string[], 'allowedHosts')
    } catch (err) {
      thrown = err
    }
    expect(isFnboxError(thrown, 'ERR_INVALID_OPTION')).toBe(true)
    expect((thrown as Error).message).toContain(option)
    expect((thrown as { details: unknown }).details).toEqual({ option })
  })

  it('rejects a non-array', () => {
    expect(() => parseAllowedHosts('a.com' as unknown as string[], 'allowedHosts')).toThrow(/allowedHosts/)
  })
})
