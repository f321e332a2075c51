/**
 * A host process running fnbox's runtime (`fixtures/runtime-host.mjs`, the built package) for
 * the multi-process tests: its job events and enqueue acknowledgements arrive over IPC.
 */
import { fork, type ChildProcess } from 'node:child_process'
import { fileURLToPath } from 'node:url'

const SCRIPT = fileURLToPath(new URL('./fixtures/runtime-host.mjs', import.meta.url))

export type Message =
  | { type: 'ready' | 'closed' | 'undeployed' }
  | { type: 'started'; id: string; attempt: number }
  | { type: 'ends'; ends: { id: string; attempt: number; kind: string }[] }
  | { type: 'overlap'; id: string }
  | { type: 'error'; message: string; during: string }
  | { type: 'enqueued'; id: string }

export class RuntimeHost {
  readonly messages: Message[] = []
  readonly exited: Promise<unknown>
  constructor(readonly child: ChildProcess) {
    child.on('message', (m: Message) => this.messages.push(m))
    this.exited = new Promise((resolve) => child.once('exit', resolve))
  }

  /**
   * Forks a host with `config` (see the fixture) and resolves once it is ready; `started` gets
   * it first, so a test can kill it in its cleanup even if it never becomes ready.
   */
  static async start(config: Record<string, unknown>, started?: (host: RuntimeHost) => void): Promise<RuntimeHost> {
    const child = fork(SCRIPT, [], {
      env: { ...process.env, FNBOX_RUNTIME_HOST: JSON.stringify(config) },
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    })
    const host = new RuntimeHost(child)
    started?.(host)
    await host.until((m) => m.type === 'ready', 60_000)
    return host
  }

  get ends() {
    return this.messages.flatMap((m) => (m.type === 'ends' ? m.ends : []))
  }
  /** Ids of the jobs whose enqueue resolved in the host. */
  get enqueued(): string[] {
    return this.messages.flatMap((m) => (m.type === 'enqueued' ? [m.id] : []))
  }
  async until(match: (m: Message) => boolean, timeoutMs = 30_000): Promise<void> {
    const deadline = Date.now() + timeoutMs
    while (!this.messages.some(match)) {
      if (this.child.exitCode !== null || this.child.signalCode !== null) throw new Error('the host process exited')
      if (Date.now() > deadline) throw new Error(`no such message within ${timeoutMs} ms`)
      await new Promise((resolve) => setTimeout(resolve, 10))
    }
  }
  async close(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return
    this.child.send({ type: 'close' })
    await this.exited
  }
}
