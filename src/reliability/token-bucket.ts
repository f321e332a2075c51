/**
 * A token bucket on an injected clock: `ratePerSecond` tokens flow in, up to `burst`; a request
 * takes one. Hand-written because it is a dozen lines; the rate-limiter packages bring their
 * own timers per key and read the global clock.
 *
 * @internal
 * @module
 */
export class TokenBucket {
  readonly ratePerSecond: number
  readonly burst: number
  #tokens: number
  #updated: number

  constructor(ratePerSecond: number, burst: number, now: number) {
    this.ratePerSecond = ratePerSecond
    this.burst = burst
    this.#tokens = burst
    this.#updated = now
  }

  #refill(now: number): void {
    if (now > this.#updated) {
      this.#tokens = Math.min(this.burst, this.#tokens + ((now - this.#updated) / 1000) * this.ratePerSecond)
    }
    this.#updated = Math.max(this.#updated, now)
  }

  /** Takes a token: 0 when one was there, else the ms until one will be (nothing taken). */
  take(now: number): number {
    this.#refill(now)
    if (this.#tokens >= 1) {
      this.#tokens -= 1
      return 0
    }
    // The epsilon keeps float dust (0.998 tokens) from adding a millisecond.
    return Math.max(1, Math.ceil(((1 - this.#tokens) / this.ratePerSecond) * 1000 - 1e-6))
  }

  /** Tokens available now. */
  tokens(now: number): number {
    this.#refill(now)
    return Math.floor(this.#tokens)
  }

  /** True when the bucket is full: it holds nothing worth keeping. */
  full(now: number): boolean {
    this.#refill(now)
    return this.#tokens >= this.burst
  }
}
