/**
 * Guest `fetch` on the host: allow-list, SSRF guard, guarded undici fetch.
 *
 * @module
 */

export { isBlockedAddress } from './address-policy.js'
export { parseAllowedHosts } from './allowed-hosts.js'
export type { AllowedHosts, HostMatch } from './allowed-hosts.js'
export type { DnsLookup, LookupAddress } from './guarded-connector.js'
export { NET_POLICY_DEFAULTS, createGuardedFetch, createNetPolicy, preloadGuestFetch } from './guarded-fetch.js'
export type {
  GuardedFetch,
  GuardedFetchOptions,
  GuardedRequestInit,
  GuardedResponse,
  NetPolicy,
  ResolvedNetPolicy,
} from './guarded-fetch.js'
