/**
 * The allow-list of a function's `fetch`: which destinations it may reach, and which of them the
 * SSRF guard still judges by the addresses they resolve to.
 *
 * @module
 */

import { isIP, isIPv6 } from 'node:net'
import { invalidOption } from '../../errors.js'
import { canonicalIp } from './address-policy.js'

/**
 * How an allow-list admits a destination:
 * - `'trusted'`: exempt from the SSRF guard, so reached even at a private or loopback address.
 *   An entry that names the destination exactly and unambiguously: an IP literal (`10.0.0.5`,
 *   `[::1]:8080`), or a local name no public DNS can answer for (`localhost`, a single label
 *   such as `db`, or a name under `.localhost`, `.local`, `.internal`, `.home.arpa`, `.test`);
 *   and the origins of upstreams the host declared (see `vouched` of {@link parseAllowedHosts}).
 * - `'guarded'`: admitted, but every address it resolves to must be public, judged at connect
 *   time: public names listed exactly (`api.openai.com`: whoever answers for its DNS must not
 *   be able to point it into the internal network), `*.domain` and `*`.
 *
 * @public
 */
export type HostMatch = 'trusted' | 'guarded'

/**
 * A parsed allow-list; build it with {@link parseAllowedHosts}.
 *
 * @public
 */
export interface AllowedHosts {
  /** The entries as given. */
  readonly entries: readonly string[]
  /**
   * How `hostname` (as `URL.hostname` spells it, IPv6 with or without brackets) on `port` is
   * admitted, or `null` when it is not.
   */
  match(hostname: string, port: number): HostMatch | null
}

/** Ports an exact entry admits; `'any'` when it has no port. */
type Ports = Set<number> | 'any'

/** Suffixes of names reserved for private use (RFC 6761, 6762, 8375; ICANN's `.internal`). */
const LOCAL_SUFFIXES = ['.localhost', '.local', '.internal', '.home.arpa', '.test']

/**
 * Validates allow-list entries and returns their matcher. Entry forms (case-insensitive, a
 * trailing dot ignored):
 * - `api.openai.com`: that host, any port; `api.openai.com:8443`: that port only;
 * - `*.example.com`: sub-domains of example.com (not example.com itself), optionally `:port`;
 * - `127.0.0.1`, `::1`, `[::1]`, `127.0.0.1:8080`, `[::1]:8080`: IP literals, compared by value,
 *   so `127.0.0.1` also admits `::ffff:127.0.0.1`;
 * - `*`: any host, subject to the SSRF guard.
 *
 * Host names and IPv4 literals are normalised as WHATWG `URL` does (`127.1` is `127.0.0.1`,
 * IDNs become punycode), the same way request URLs are, so both sides compare alike. See
 * {@link HostMatch} for which entries the SSRF guard still judges.
 *
 * @param optionName - Named in errors, with the index: `allowedHosts[2]`.
 * @param vouched - Entries the host vouches for (declared upstreams' `host:port`): admitted and
 *   trusted whatever their name. Validated like `entries`.
 * @throws FnboxError `ERR_INVALID_OPTION` for a malformed entry.
 * @example
 * ```ts
 * const allowed = parseAllowedHosts(['api.openai.com', '*.example.com', '127.0.0.1:8080'], 'allowedHosts')
 * allowed.match('api.openai.com', 443)  // 'guarded'
 * allowed.match('cdn.example.com', 443) // 'guarded'
 * allowed.match('127.0.0.1', 8080)      // 'trusted'
 * allowed.match('127.0.0.1', 9000)      // null
 * ```
 * @public
 */
export function parseAllowedHosts(
  entries: readonly string[],
  optionName: string,
  vouched: readonly string[] = [],
): AllowedHosts {
  if (!Array.isArray(entries)) throw invalidOption(optionName, 'an array of host names', entries)
  let anyHost = false
  /** Exact entries: ports admitted, and whether they are trusted. */
  const exact = new Map<string, { ports: Ports; trusted: Ports }>()
  const suffixes: { suffix: string; port: number | null }[] = []
  const add = (entry: unknown, at: string, vouch: boolean): void => {
    const parsed = parseEntry(entry)
    if (parsed === null || (vouch && (parsed === '*' || parsed.wildcard))) {
      throw invalidOption(at, 'a host name, *.domain, an IP address, optionally with :port, or *', entry)
    }
    if (parsed === '*') anyHost = true
    else if (parsed.wildcard) suffixes.push({ suffix: parsed.host, port: parsed.port })
    else {
      const known = exact.get(parsed.host) ?? { ports: new Set<number>(), trusted: new Set<number>() }
      known.ports = addPort(known.ports, parsed.port)
      if (vouch || isLocal(parsed.host)) known.trusted = addPort(known.trusted, parsed.port)
      exact.set(parsed.host, known)
    }
  }
  entries.forEach((entry: unknown, index) => add(entry, `${optionName}[${index}]`, false))
  vouched.forEach((entry, index) => add(entry, `upstreams[${index}]`, true))
  const frozen = Object.freeze([...entries])

  return {
    entries: frozen,
    match(hostname, port) {
      const host = canonicalHost(hostname)
      if (host === null) return null
      const known = exact.get(host)
      if (known && hasPort(known.trusted, port)) return 'trusted'
      if (known && hasPort(known.ports, port)) return 'guarded'
      if (anyHost) return 'guarded'
      if (isIP(host) !== 0) return null
      const covered = suffixes.some((s) => host.endsWith(`.${s.suffix}`) && (s.port === null || s.port === port))
      return covered ? 'guarded' : null
    },
  }
}

function addPort(ports: Ports, port: number | null): Ports {
  if (port === null || ports === 'any') return 'any'
  return ports.add(port)
}

function hasPort(ports: Ports, port: number): boolean {
  return ports === 'any' || ports.has(port)
}

/** An IP literal, or a name only a private resolver can answer for. */
function isLocal(host: string): boolean {
  return isIP(host) !== 0 || !host.includes('.') || LOCAL_SUFFIXES.some((suffix) => host.endsWith(suffix))
}

interface Entry {
  host: string
  port: number | null
  wildcard: boolean
}

function parseEntry(entry: unknown): Entry | '*' | null {
  if (typeof entry !== 'string' || entry === '' || /\s/.test(entry)) return null
  let text = entry.toLowerCase()
  if (text === '*') return '*'
  const wildcard = text.startsWith('*.')
  if (wildcard) text = text.slice(2)

  let host: string
  let port: string | undefined
  const bracketed = /^\[([^\]]+)\](?::(\d+))?$/.exec(text)
  if (bracketed) {
    ;[, host = '', port] = bracketed
    if (!isIPv6(host)) return null
  } else if (isIPv6(text)) {
    host = text // a bare IPv6 literal can carry no port
  } else {
    const hostPort = /^([^:]+)(?::(\d+))?$/.exec(text)
    if (!hostPort) return null
    ;[, host = '', port] = hostPort
  }

  const canonical = canonicalHost(host)
  if (canonical === null || (wildcard && isIP(canonical) !== 0)) return null
  if (port === undefined) return { host: canonical, port: null, wildcard }
  const number = Number(port)
  if (!Number.isInteger(number) || number < 1 || number > 65535) return null
  return { host: canonical, port: number, wildcard }
}

/**
 * One spelling per destination: IPs by value (IPv4-mapped IPv6 as IPv4), names in lower case,
 * punycode, without a trailing dot. `null` when `hostname` is not a valid host.
 */
function canonicalHost(hostname: string): string | null {
  const bare = hostname.startsWith('[') && hostname.endsWith(']') ? hostname.slice(1, -1) : hostname
  if (isIPv6(bare)) return canonicalIp(bare)
  // Characters that URL would read as userinfo, path or port, or that no host name holds.
  if (bare === '' || /[\s/?#@\\:[\]%]/.test(bare)) return null
  let host: string
  try {
    host = new URL(`http://${bare}/`).hostname
  } catch {
    return null
  }
  if (isIP(host) !== 0) return host
  host = host.endsWith('.') ? host.slice(0, -1) : host
  return /^[a-z0-9_-]+(\.[a-z0-9_-]+)*$/.test(host) ? host : null
}
