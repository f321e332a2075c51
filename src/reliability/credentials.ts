/**
 * Credentials of one upstream, injected by the host into the guest's outgoing requests (the
 * guest never holds them): several keys from secrets, picked round-robin among the healthy
 * ones; a key that answers 429, 5xx or times out sits out for a while (its `Retry-After` when
 * longer), and the request fails over to another key.
 *
 * @internal
 * @module
 */
import { systemClock, type Clock } from '../clock.js'

/** Why a key was benched. @public */
export type CredentialFailure = 'rateLimited' | 'serverError' | 'timeout' | 'network'

/** The event emitted when a key is benched. @public */
export interface CredentialEvent {
  upstream: string
  /** The secret's name (never its value). */
  secret: string
  reason: CredentialFailure
  /** HTTP status, for `rateLimited` and `serverError`. */
  status: number | undefined
  /** How long the key sits out, in ms. */
  cooldownMs: number
}

/** One key's figures in `runtime.stats().upstreams[name].credentials`. @public */
export interface CredentialStats {
  /** The secret's name. */
  secret: string
  /** False while benched, or when the secret is not set. */
  healthy: boolean
  /** True when the secret has a value; undefined until the first request read it. */
  present: boolean | undefined
  /** While benched: ms until it is tried again. */
  benchedForMs: number | undefined
  successes: number
  failures: number
}

/** A key as one attempt uses it. */
export interface Credential {
  readonly secret: string
  /** The header to set: name (lower case) and value. */
  readonly header: readonly [string, string]
}

export interface CredentialSettings {
  readonly header: string
  readonly scheme: string | undefined
  readonly secrets: readonly string[]
  readonly cooldownMs: number
}

interface KeyState {
  readonly secret: string
  value: string | undefined
  benchedUntil: number
  successes: number
  failures: number
}

export interface CredentialDeps {
  /** Reads a secret's value from the runtime's secret store. */
  readSecret(name: string): Promise<string | undefined>
  clock?: Clock
  onBenched?: (event: CredentialEvent) => void
}

export class CredentialPool {
  readonly upstream: string
  readonly settings: CredentialSettings
  readonly #deps: CredentialDeps
  readonly #clock: Clock
  readonly #keys: KeyState[]
  #loading: Promise<void> | undefined
  #loaded = false
  #cursor = 0

  constructor(upstream: string, settings: CredentialSettings, deps: CredentialDeps) {
    this.upstream = upstream
    this.settings = settings
    this.#deps = deps
    this.#clock = deps.clock ?? systemClock
    this.#keys = settings.secrets.map((secret) => ({
      secret,
      value: undefined,
      benchedUntil: 0,
      successes: 0,
      failures: 0,
    }))
  }

  /** True when `secret` feeds this pool. */
  uses(secret: string): boolean {
    return this.settings.secrets.includes(secret)
  }

  /** A secret changed: read the values again on the next request. */
  invalidate(): void {
    this.#loading = undefined
  }

  #load(): Promise<void> {
    this.#loading ??= Promise.all(
      this.#keys.map(async (key) => {
        key.value = await this.#deps.readSecret(key.secret)
      }),
    ).then(
      () => {
        this.#loaded = true
      },
      (err: unknown) => {
        this.#loading = undefined // the store may come back
        throw err
      },
    )
    return this.#loading
  }

  /**
   * The key for the next attempt, never one in `tried`: the next healthy key round-robin, else
   * (all benched) the one that comes back first. Undefined when no key is left.
   */
  async pick(tried: ReadonlySet<string>): Promise<Credential | undefined> {
    await this.#load()
    const now = this.#clock.wallNow()
    const n = this.#keys.length
    let fallback: KeyState | undefined
    for (let i = 0; i < n; i++) {
      const key = this.#keys[(this.#cursor + i) % n]!
      if (key.value === undefined || tried.has(key.secret)) continue
      if (key.benchedUntil <= now) {
        this.#cursor = (this.#cursor + i + 1) % n
        return this.#credential(key)
      }
      if (!fallback || key.benchedUntil < fallback.benchedUntil) fallback = key
    }
    return fallback && this.#credential(fallback)
  }

  #credential(key: KeyState): Credential {
    const { header, scheme } = this.settings
    return { secret: key.secret, header: [header, scheme ? `${scheme} ${key.value!}` : key.value!] }
  }

  /** True when a healthy key not in `tried` is there to fail over to. */
  canFailOver(tried: ReadonlySet<string>): boolean {
    const now = this.#clock.wallNow()
    return this.#keys.some((k) => k.value !== undefined && !tried.has(k.secret) && k.benchedUntil <= now)
  }

  succeeded(secret: string): void {
    const key = this.#keys.find((k) => k.secret === secret)
    if (key) key.successes++
  }

  /** Benches a key for the cooldown, or for `retryAfterMs` when the upstream asked for longer. */
  failed(
    secret: string,
    reason: CredentialFailure,
    status: number | undefined,
    retryAfterMs: number | undefined,
  ): void {
    const key = this.#keys.find((k) => k.secret === secret)
    if (!key) return
    key.failures++
    const cooldownMs = Math.max(this.settings.cooldownMs, retryAfterMs ?? 0)
    key.benchedUntil = Math.max(key.benchedUntil, this.#clock.wallNow() + cooldownMs)
    this.#deps.onBenched?.({ upstream: this.upstream, secret, reason, status, cooldownMs })
  }

  stats(): CredentialStats[] {
    const now = this.#clock.wallNow()
    return this.#keys.map((k) => ({
      secret: k.secret,
      present: this.#loaded ? k.value !== undefined : undefined,
      healthy: k.benchedUntil <= now && (!this.#loaded || k.value !== undefined),
      benchedForMs: k.benchedUntil > now ? k.benchedUntil - now : undefined,
      successes: k.successes,
      failures: k.failures,
    }))
  }
}
