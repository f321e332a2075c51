/**
 * LISTEN on server Postgres: one dedicated connection (a pool would hand LISTEN to a connection
 * it later gives to someone else), re-established when it dies, with every channel listened
 * again. Notifications sent while it was down are lost, so after each reconnection every
 * listener is called with `undefined`: "look again" (the jobs worker claims, a cache reloads).
 *
 * A connection that dies quietly (a network partition, a proxy dropping idle sockets) sends no
 * error: TCP keep-alive and a periodic `select 1` find it.
 *
 * @internal
 * @module
 */
import { FnboxError } from '../errors.js'
import { systemClock, type Clock } from '../clock.js'

/** What the listener needs of a `pg` client (a `Client`, or a `PoolClient` with `release`). */
export interface ListenClient {
  query(text: string): Promise<unknown>
  on(event: 'notification', listener: (message: { channel: string; payload?: string | undefined }) => void): unknown
  on(event: 'error', listener: (err: Error) => void): unknown
  on(event: 'end', listener: () => void): unknown
  removeAllListeners(event?: string): unknown
  /** Closes a `Client`. */
  end?(): Promise<void>
  /** Gives a pool's client back (with an error: the pool destroys it). */
  release?(err?: Error | boolean): void
}

/** Calls with each payload on a channel, and with `undefined` when some may have been missed. */
export type NotificationListener = (payload: string | undefined) => void

export interface PgListenerOptions {
  /** Opens a connection (called again after each loss). */
  connect(): Promise<ListenClient>
  clock?: Clock
  /** First delay before reconnecting, in ms (doubles each failure). Default 100. */
  minDelayMs?: number
  /** Longest delay between reconnection attempts, in ms. Default 5000. */
  maxDelayMs?: number
  /** How often the connection is checked with `select 1`, in ms. Default 30,000. */
  pingMs?: number
  /** Connection failures (the listener keeps trying). */
  onError?(err: unknown): void
}

const CHANNEL = /^[a-z_][a-z0-9_]{0,62}$/

export function checkChannel(channel: string): string {
  if (!CHANNEL.test(channel)) {
    throw new FnboxError('ERR_INTERNAL', `not a channel name: ${JSON.stringify(channel)}`)
  }
  return channel
}

export class PgListener {
  readonly #options: PgListenerOptions
  readonly #clock: Clock
  readonly #channels = new Map<string, Set<NotificationListener>>()
  #client: ListenClient | undefined
  /** Set while a connection is being opened. */
  #connecting: Promise<void> | undefined
  #timer: unknown
  #failures = 0
  #connectedOnce = false
  #closed = false

  constructor(options: PgListenerOptions) {
    this.#options = options
    this.#clock = options.clock ?? systemClock
  }

  /** Whether a connection is up and listening. */
  get connected(): boolean {
    return this.#client !== undefined
  }

  /**
   * Calls `listener` for notifications on `channel` from now on; resolves once the channel is
   * listened to (or, if the server is down, once a first attempt failed: the listener keeps
   * trying). The result stops listening.
   */
  async listen(channel: string, listener: NotificationListener): Promise<() => void> {
    if (this.#closed) throw new FnboxError('ERR_CLOSED', 'the listener is closed')
    checkChannel(channel)
    let set = this.#channels.get(channel)
    if (!set) {
      set = new Set()
      this.#channels.set(channel, set)
      if (this.#client) await this.#client.query(`listen ${channel}`).catch((err) => this.#lost(err))
    }
    set.add(listener)
    if (!this.#client) await this.#connect()
    return () => {
      set.delete(listener)
      if (set.size === 0 && this.#channels.get(channel) === set) {
        this.#channels.delete(channel)
        void this.#client?.query(`unlisten ${channel}`).catch(() => undefined)
      }
    }
  }

  #connect(): Promise<void> {
    this.#connecting ??= this.#open().finally(() => (this.#connecting = undefined))
    return this.#connecting
  }

  async #open(): Promise<void> {
    if (this.#closed || this.#client) return
    let client: ListenClient | undefined
    try {
      client = await this.#options.connect()
      client.on('notification', (message) => {
        this.#channels.get(message.channel)?.forEach((fn) => fn(message.payload ?? ''))
      })
      const onLost = (err?: Error): void => {
        if (this.#client === client) this.#lost(err ?? new Error('the listening connection ended'))
      }
      client.on('error', onLost)
      client.on('end', () => onLost())
      for (const channel of this.#channels.keys()) await client.query(`listen ${channel}`)
    } catch (err) {
      if (client) dispose(client, err)
      this.#options.onError?.(err)
      this.#schedule(this.#delay())
      return
    }
    if (this.#closed) {
      dispose(client)
      return
    }
    this.#client = client
    this.#failures = 0
    this.#schedule(this.#options.pingMs ?? 30_000)
    if (this.#connectedOnce) {
      // Notifications sent while we were away are lost: every listener looks again.
      for (const set of this.#channels.values()) for (const fn of set) fn(undefined)
    }
    this.#connectedOnce = true
  }

  #delay(): number {
    const min = this.#options.minDelayMs ?? 100
    const max = this.#options.maxDelayMs ?? 5000
    const base = Math.min(max, min * 2 ** this.#failures++)
    return Math.min(max, Math.round(base * (1 + Math.random())))
  }

  /** The next reconnection attempt (no client) or ping (a client). */
  #schedule(ms: number): void {
    if (this.#closed) return
    this.#clock.clearTimeout(this.#timer)
    this.#timer = this.#clock.setTimeout(() => {
      this.#timer = undefined
      const client = this.#client
      if (!client) void this.#connect()
      else
        client.query('select 1').then(
          () => this.#client === client && this.#schedule(this.#options.pingMs ?? 30_000),
          (err: unknown) => this.#client === client && this.#lost(err),
        )
    }, ms)
  }

  #lost(err: unknown): void {
    const client = this.#client
    if (!client) return
    this.#client = undefined
    dispose(client, err)
    if (this.#closed) return
    this.#options.onError?.(err)
    this.#schedule(this.#delay())
  }

  async close(): Promise<void> {
    this.#closed = true
    this.#clock.clearTimeout(this.#timer)
    await this.#connecting
    const client = this.#client
    this.#client = undefined
    this.#channels.clear()
    if (client) await dispose(client)
  }
}

/** Closes a client we no longer use; errors of a dead connection are expected and ignored. */
function dispose(client: ListenClient, err?: unknown): Promise<void> {
  client.removeAllListeners('notification')
  client.removeAllListeners('end')
  // An error event with no listener would crash the process: keep one.
  client.removeAllListeners('error')
  client.on('error', () => {})
  if (client.release) {
    client.release(err instanceof Error ? err : err !== undefined)
    return Promise.resolve()
  }
  return client.end?.().catch(() => undefined) ?? Promise.resolve()
}
