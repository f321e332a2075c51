export interface MockOptions {
  /** Tokens of a plain answer, one per server-sent event. */
  tokens: string[]
  /** Pause before each token (and each piece of a tool call), in ms. */
  delayMs: number
  /** Pause before the first event, in ms. */
  firstDelayMs: number
  /** `error`: answer `errorStatus` with an OpenAI error body; `drop`: break the stream half-way. */
  mode: 'ok' | 'error' | 'drop'
  errorStatus: number
  /** Arguments of the tool call made when the request offers tools. */
  toolArguments: Record<string, unknown>
  /** After the first token of a plain answer, wait for `release()` before sending the rest. */
  holdAfterFirst: boolean
}

export interface MockCompletion {
  startedAt: number
  firstTokenAt: number
  finishedAt: number
  /** The client closed the connection before the answer was complete. */
  closedEarly: boolean
}

export interface MockOpenAI {
  /** Base URL for the SDKs, ending in `/v1`. */
  url: string
  /** `127.0.0.1:PORT`, for `allowedHosts`. */
  host: string
  requests: { headers: Record<string, string | string[] | undefined>; body: Record<string, unknown> }[]
  completions: MockCompletion[]
  configure(options: Partial<MockOptions>): void
  reset(): void
  /** Lets answers held by `holdAfterFirst` go on. */
  release(): void
  close(): Promise<void>
}

export function startMockOpenAI(options?: Partial<MockOptions>): Promise<MockOpenAI>
