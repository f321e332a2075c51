/**
 * Rate limits per client address for the HTTP mounts, checked before anything else is done with
 * a request (no body read, no function looked up). IPv6 clients are counted per /64, the block
 * one subscriber usually holds, so rotating addresses within it does not escape the limit.
 *
 * @internal
 * @module
 */
import ipaddr from 'ipaddr.js'
import { FnboxError } from '../errors.js'
import { systemClock, type Clock } from '../clock.js'
import { TokenBucket } from './token-bucket.js'
import { numberOption, optionObject } from './validate.js'

/**
 * Requests per client address a mount accepts (`runtime.express({ rateLimit })`). Past it a
 * client gets 429 `ERR_RATE_LIMITED` with `Retry-After`. Counted per mount, in this process.
 * The address is the socket's peer, or with `trustProxy` the left-most `X-Forwarded-For` entry.
 *
 * @example
 * ```ts
 * app.use('/fn', runtime.express({ trustProxy: true, rateLimit: { requestsPerSecond: 5, burst: 20 } }))
 * ```
 * @public
 */
export interface ClientRateLimitOptions {
  /** Requests per second per client, on average. */
  requestsPerSecond: number
  /** Requests a client may make at once above the average. Default `max(1, ceil(requestsPerSecond))`. */
  burst?: number
  /** Clients tracked at once; the least recently seen is forgotten first. Default 10000. */
  maxClients?: number
}

export class ClientRateLimiter {
  readonly #rate: number
  readonly #burst: number
  readonly #maxClients: number
  readonly #clock: Clock
  /** Buckets by client key, least recently seen first. */
  readonly #clients = new Map<string, TokenBucket>()

  constructor(options: { requestsPerSecond: number; burst: number; maxClients: number }, clock: Clock = systemClock) {
    this.#rate = options.requestsPerSecond
    this.#burst = options.burst
    this.#maxClients = options.maxClients
    this.#clock = clock
  }

  /** The refusal for a request from `address`, or undefined when it may go on. */
  check(address: string | undefined): FnboxError | undefined {
    if (address === undefined) return undefined // the socket is already gone
    const key = clientKey(address)
    const now = this.#clock.wallNow()
    let bucket = this.#clients.get(key)
    if (bucket) this.#clients.delete(key)
    else {
      bucket = new TokenBucket(this.#rate, this.#burst, now)
      if (this.#clients.size >= this.#maxClients) this.#clients.delete(this.#clients.keys().next().value as string)
    }
    this.#clients.set(key, bucket)
    const waitMs = bucket.take(now)
    if (waitMs === 0) return undefined
    const seconds = Math.max(1, Math.ceil(waitMs / 1000))
    return new FnboxError(
      'ERR_RATE_LIMITED',
      `too many requests from this client (rateLimit.requestsPerSecond ${this.#rate}, burst ${this.#burst}); retry in ${seconds} s`,
      { retryAfterSeconds: seconds, details: { limit: this.#rate, burst: this.#burst } },
    )
  }

  /** Clients tracked now. */
  get size(): number {
    return this.#clients.size
  }
}

/** IPv4 as is (also when IPv4-mapped), IPv6 by its /64. */
export function clientKey(address: string): string {
  if (!ipaddr.isValid(address)) return address
  let ip = ipaddr.parse(address)
  if (ip.kind() === 'ipv6' && (ip as ipaddr.IPv6).isIPv4MappedAddress()) ip = (ip as ipaddr.IPv6).toIPv4Address()
  if (ip.kind() === 'ipv4') return ip.toString()
  const parts = (ip as ipaddr.IPv6).parts.slice(0, 4).map((p) => p.toString(16))
  return `${parts.join(':')}::/64`
}

/** Validates the mounts' `rateLimit` option. */
export function resolveClientRateLimit(value: unknown, name: string, clock?: Clock): ClientRateLimiter | undefined {
  const given = optionObject(value, name, ['requestsPerSecond', 'burst', 'maxClients'])
  if (!given) return undefined
  if (given.requestsPerSecond === undefined) {
    throw new FnboxError('ERR_INVALID_OPTION', `${name}.requestsPerSecond is required`, {
      details: { option: `${name}.requestsPerSecond` },
    })
  }
  const rps = numberOption(given.requestsPerSecond, `${name}.requestsPerSecond`, 0, {
    min: 0.001,
    max: 1e9,
    fractional: true,
  })
  const burst = numberOption(given.burst, `${name}.burst`, Math.max(1, Math.ceil(rps)), { min: 1, max: 1e9 })
  const maxClients = numberOption(given.maxClients, `${name}.maxClients`, 10_000, { min: 1, max: 1e8 })
  return new ClientRateLimiter({ requestsPerSecond: rps, burst, maxClients }, clock)
}
