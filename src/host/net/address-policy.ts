/**
 * Which IP addresses a guest `fetch` may reach on its own: public unicast only. Everything else
 * (loopback, private, link-local, cloud metadata, CGNAT, multicast, reserved, and IPv6 forms that
 * smuggle such an IPv4 address) is refused unless the allow-list names the destination.
 *
 * @module
 */

import { isIP } from 'node:net'
import ipaddr from 'ipaddr.js'
import { FnboxError } from '../../errors.js'

type IPv4 = ipaddr.IPv4
type IPv6 = ipaddr.IPv6

const cidr = (text: string): [IPv4 | IPv6, number] => ipaddr.parseCIDR(text)

// Checked before ipaddr.js's own `range()`, which folds these into 'reserved': a named reason
// makes a refusal easier to understand.
const V4_NAMED = {
  documentation: [cidr('192.0.2.0/24'), cidr('198.51.100.0/24'), cidr('203.0.113.0/24')],
  benchmarking: [cidr('198.18.0.0/15')],
}
const V6_NAMED = {
  documentation: [cidr('2001:db8::/32'), cidr('3fff::/20')],
}

const NAT64 = cidr('64:ff9b::/96')
const SIX_TO_FOUR = cidr('2002::/16')
// ::a.b.c.d, deprecated (RFC 4291) but still routed to the IPv4 host by some stacks.
const IPV4_COMPATIBLE = cidr('::/96')
// IANA allocates global unicast only from 2000::/3; anything else is unassigned or special.
const GLOBAL_UNICAST = cidr('2000::/3')

/**
 * Why `ip` is not a public unicast address, or `null` when it is one.
 *
 * The reason is a range name: `'loopback'`, `'private'`, `'linkLocal'` (which holds the cloud
 * metadata address 169.254.169.254), `'carrierGradeNat'`, `'unspecified'`, `'multicast'`,
 * `'broadcast'`, `'reserved'`, `'documentation'`, `'benchmarking'`, `'uniqueLocal'`,
 * `'deprecatedSiteLocal'`, `'teredo'`, `'ipv4Compatible'`, `'invalid'`, ... An IPv6 address
 * that embeds an IPv4 one (IPv4-mapped `::ffff:a.b.c.d`, NAT64 `64:ff9b::/96`, 6to4
 * `2002::/16`) is judged by the embedded address, since that is where packets end up.
 *
 * Only canonical literals (what `net.isIP` accepts, as DNS answers are) are judged; anything
 * else is `'invalid'`, so a spelling the socket layer might read differently is never let through.
 *
 * @example
 * ```ts
 * isBlockedAddress('169.254.169.254') // 'linkLocal'
 * isBlockedAddress('::ffff:10.0.0.1') // 'private'
 * isBlockedAddress('2606:4700::1111') // null
 * ```
 * @public
 */
export function isBlockedAddress(ip: string): string | null {
  const address = parseIp(ip)
  if (address === null) return 'invalid'
  return address.kind() === 'ipv4' ? blockedV4(address as IPv4) : blockedV6(address as IPv6)
}

/**
 * Parses an IP literal in a form `net.isIP` accepts; `null` for anything else. IPv6 is first
 * serialised by WHATWG URL because ipaddr.js reads `::127.0.0.1` as `::ffff:127.0.0.1`, where the
 * socket layer sees `::7f00:1`. A zone id (`%eth0`) is dropped: it changes no range.
 *
 * @internal
 */
export function parseIp(text: string): IPv4 | IPv6 | null {
  const kind = isIP(text)
  if (kind === 4) return ipaddr.IPv4.parse(text)
  if (kind !== 6) return null
  const bare = text.replace(/%.*$/, '')
  return ipaddr.IPv6.parse(new URL(`http://[${bare}]/`).hostname.slice(1, -1))
}

function blockedV4(address: IPv4): string | null {
  const named = ipaddr.subnetMatch(address, V4_NAMED, 'unicast')
  if (named !== 'unicast') return named
  const range = address.range()
  return range === 'unicast' ? null : range
}

function blockedV6(address: IPv6): string | null {
  const embedded = embeddedV4(address)
  if (embedded) return blockedV4(embedded)
  const named = ipaddr.subnetMatch(address, V6_NAMED, 'unicast')
  if (named !== 'unicast') return named
  // Typed narrower than what ipaddr.js returns ('deprecatedSiteLocal', 'discard', ...).
  const range: string = address.range()
  if (range !== 'unicast') return range
  if (address.match(IPV4_COMPATIBLE)) return 'ipv4Compatible'
  if (!address.match(GLOBAL_UNICAST)) return 'reserved'
  return null
}

/** The IPv4 address packets to `address` are delivered to, for the forms that embed one. */
function embeddedV4(address: IPv6): IPv4 | undefined {
  const p = address.parts
  const v4 = (hi: number | undefined, lo: number | undefined): IPv4 =>
    new ipaddr.IPv4([(hi ?? 0) >> 8, (hi ?? 0) & 0xff, (lo ?? 0) >> 8, (lo ?? 0) & 0xff])
  if (address.isIPv4MappedAddress() || address.match(NAT64)) return v4(p[6], p[7])
  if (address.match(SIX_TO_FOUR)) return v4(p[1], p[2])
  return undefined
}

/**
 * One spelling per IP address, for comparing them: IPv6 compressed, IPv4-mapped IPv6 as IPv4.
 * `null` when `text` is not an IP literal.
 *
 * @internal
 */
export function canonicalIp(text: string): string | null {
  const address = parseIp(text)
  if (address?.kind() !== 'ipv6') return address?.toString() ?? null
  const v6 = address as IPv6
  return (v6.isIPv4MappedAddress() ? v6.toIPv4Address() : v6).toString()
}

/**
 * The refusal of a destination: `ERR_HOST_FORBIDDEN` with `details: { host, address?, reason,
 * policy }`, where `policy` names what refused it: `'allowedHosts'` (the host is not listed),
 * `'ssrfGuard'` (it resolves to a non-public address no exact entry admits) or `'protocol'`.
 * The message leaves the resolved address out because the guest sees it: it should not learn
 * the internal network's layout; the details (for the host's logs) keep it.
 *
 * @internal
 */
export function hostForbidden(host: string, reason: string, address?: string): FnboxError {
  const [policy, why] =
    reason === 'notAllowed'
      ? ['allowedHosts', 'the host is not in allowedHosts']
      : reason === 'unsupportedProtocol'
        ? ['protocol', 'it uses an unsupported protocol (only http: and https:)']
        : [
            'ssrfGuard',
            `the host points to a non-public address (${reason}); only an allowedHosts entry naming it ` +
              'as an IP address or a local name admits one',
          ]
  return new FnboxError('ERR_HOST_FORBIDDEN', `Fetch to "${host}" is forbidden: ${why}`, {
    details: address === undefined ? { host, reason, policy } : { host, address, reason, policy },
  })
}
