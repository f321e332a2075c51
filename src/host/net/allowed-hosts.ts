/**
 * The allow-list of a function's `fetch`: which destinations it may reach, and which of them the
 * host app vouches for (exempt from the SSRF guard).
 *
 * @module
 */

import { isIP, isIPv6 } from 'node:net'
import { invalidOption } from '../../errors.js'
import { canonicalIp } from './address-policy.js'

/**
 * How an allow-list admits a destination:
 * - `'explicit'`: an entry names it (host, `host:port`, IP, IP:port). The host app vouches for
 *   it, so it is reached even when it is private or loopback (a local mock server, a sidecar).
 * - `'wildcard'`: only `*` or `*.domain` covers it. The SSRF guard still applies: every address
 *   it resolves to must be public.
 *
 * @public
 */
export type HostMatch = 'explicit' | 'wildcard'

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
 * IDNs become punycode), the same way request URLs are, so both sides compare alike.
 *
 * @param optionName - Named in errors, with the index: `allowedHosts[2]`.
 * @throws FnboxError `ERR_INVALID_OPTION` for a malformed entry.
 * @example
 * ```ts
 * const allowed = parseAllowedHosts(['api.openai.com', '*.example.com', '127.0.0.1:8080'], 'allowedHosts')
 * allowed.match('api.openai.com', 443)  // 'explicit'
 * allowed.match('cdn.example.com', 443) // 'wildcard'
 * allowed.match('127.0.0.1', 9000)      // null
 * ```
 * @public
 */
export function parseAllowedHosts(entries: readonly string[], optionName: string): AllowedHosts {
  if (!Array.isArray(entries)) throw invalidOption(optionName, 'an array of host names', entries)
  let anyHost = false
  const exact = new Map<string, Ports>()
  const suffixes: { suffix: string; port: number | null }[] = []
  entries.forEach((entry: unknown, index) => {
    const parsed = parseEntry(entry)
    if (parsed === null) {
      throw invalidOption(
        `${optionName}[${index}]`,
        'a host name, *.domain, an IP address, optionally with :port, or *',
        entry,
      )
    }
    if (parsed === '*') anyHost = true
    else if (parsed.wildcard) suffixes.push({ suffix: parsed.host, port: parsed.port })
    else {
      const ports = exact.get(parsed.host) ?? new Set<number>()
      if (parsed.port === null || ports === 'any') exact.set(parsed.host, 'any')
      else exact.set(parsed.host, ports.add(parsed.port))
    }
  })
  const frozen = Object.freeze([...entries])

  return {
    entries: frozen,
    match(hostname, port) {
      const host = canonicalHost(hostname)
      if (host === null) return null
      const ports = exact.get(host)
      if (ports === 'any' || ports?.has(port)) return 'explicit'
      if (anyHost) return 'wildcard'
      if (isIP(host) !== 0) return null
      const covered = suffixes.some((s) => host.endsWith(`.${s.suffix}`) && (s.port === null || s.port === port))
      return covered ? 'wildcard' : null
    },
  }
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
