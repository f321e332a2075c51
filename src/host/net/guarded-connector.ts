/**
 * The socket layer of guest `fetch`: undici connectors whose DNS answer is judged at the moment
 * of connecting, so no DNS rebinding can slip between a check and the connect.
 *
 * @internal
 * @module
 */

import { lookup as systemLookup } from 'node:dns/promises'
import { isIP } from 'node:net'
import type { LookupFunction } from 'node:net'
import type * as Undici from 'undici'
import { hostForbidden, isBlockedAddress } from './address-policy.js'

/** One address of a DNS answer, as `dns.lookup(name, { all: true })` returns them. @public */
export interface LookupAddress {
  address: string
  /** 4 or 6. */
  family: number
}

/**
 * Resolves a host name to all its addresses. Injectable so tests (and hosts with their own
 * resolver) decide what a name resolves to.
 *
 * @public
 */
export type DnsLookup = (hostname: string) => Promise<readonly LookupAddress[]>

/** `dns.lookup` with every address, the resolver the OS would use for a plain connect. */
export const defaultDnsLookup: DnsLookup = (hostname) => systemLookup(hostname, { all: true })

/**
 * A connector for an undici `Agent`.
 *
 * `guarded: true` is the SSRF guard. A host name is resolved by `net.connect` through our
 * `lookup`, which fails unless EVERY address is public: the socket then only ever connects to an
 * address this very lookup judged. An IP literal never reaches `lookup` (`net.connect` skips it),
 * so it is judged here. And the address actually connected to is checked once more before the
 * socket is handed to undici, so a path we did not foresee cannot bypass the guard.
 *
 * `guarded: false` serves destinations the allow-list trusts: same resolver, no guard.
 */
export function createConnector(options: {
  /** undici's, passed in: undici is loaded at the first guest fetch, not with this module. */
  buildConnector: typeof Undici.buildConnector
  dnsLookup: DnsLookup
  connectTimeoutMs: number
  guarded: boolean
}): Undici.buildConnector.connector {
  const { buildConnector, dnsLookup, connectTimeoutMs, guarded } = options
  const resolve: DnsLookup = guarded
    ? async (hostname) => {
        const addresses = await dnsLookup(hostname)
        for (const { address } of addresses) {
          const reason = isBlockedAddress(address)
          if (reason !== null) throw hostForbidden(hostname, reason, address)
        }
        return addresses
      }
    : dnsLookup
  const connect = buildConnector({ timeout: connectTimeoutMs, lookup: nodeLookup(resolve) })
  if (!guarded) return connect

  return (target, callback) => {
    const literal = isIP(target.hostname) !== 0 ? isBlockedAddress(target.hostname) : null
    if (literal !== null) {
      callback(hostForbidden(target.hostname, literal, target.hostname), null)
      return
    }
    connect(target, (err, socket) => {
      if (err !== null) return callback(err, null)
      const address = socket.remoteAddress
      const reason = address === undefined ? 'unknown' : isBlockedAddress(address)
      if (reason === null) return callback(null, socket)
      socket.destroy()
      callback(hostForbidden(target.hostname, reason, address), null)
    })
  }
}

/** Adapts a promise resolver to the callback `lookup` that `net.connect` calls. */
function nodeLookup(resolve: DnsLookup): LookupFunction {
  return (hostname, options, callback) => {
    resolve(hostname).then(
      (addresses) => {
        // Judged above on every address; only now narrowed to the family net asks for.
        const family = options.family === 'IPv4' ? 4 : options.family === 'IPv6' ? 6 : options.family
        const wanted = family === 4 || family === 6 ? addresses.filter((a) => a.family === family) : addresses
        const first = wanted[0]
        if (first === undefined) {
          const err: NodeJS.ErrnoException = new Error(`getaddrinfo ENOTFOUND ${hostname}`)
          err.code = 'ENOTFOUND'
          callback(err, '', 0)
        } else if (options.all) {
          callback(
            null,
            wanted.map(({ address, family }) => ({ address, family })),
          )
        } else {
          callback(null, first.address, first.family)
        }
      },
      (err: NodeJS.ErrnoException) => callback(err, '', 0),
    )
  }
}
