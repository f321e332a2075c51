/** Host processes for the multi-process tests: `fixtures/job-host.ts`, bundled once and forked. */
import { fork, type ChildProcess } from 'node:child_process'
import { bundleSources } from '../../../bench/bundle-sources.mjs'
import type { HostConfig, HostMessage } from './fixtures/job-host.js'

let bundled: Promise<string> | undefined

/** The host script as one ES module (dependencies stay imports, resolved from node_modules). */
export function hostScript(): Promise<string> {
  bundled ??= bundleSources({ name: `job-host-${process.pid}`, entry: 'test/host/jobs/fixtures/job-host.ts' })
  return bundled
}

export class HostProcess {
  readonly messages: HostMessage[] = []
  readonly #child: ChildProcess
  readonly exited: Promise<number | string | null>

  private constructor(child: ChildProcess) {
    this.#child = child
    child.on('message', (m: HostMessage) => this.messages.push(m))
    this.exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve(signal ?? code)))
  }

  static async start(config: HostConfig): Promise<HostProcess> {
    const child = fork(await hostScript(), [], {
      env: { ...process.env, FNBOX_JOB_HOST: JSON.stringify(config) },
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    })
    const host = new HostProcess(child)
    await host.until((m) => m.type === 'ready', 30_000)
    return host
  }

  get pid(): number {
    return this.#child.pid!
  }

  /** Job outcomes this host reported. */
  get ends(): { id: string; token: number; kind: string }[] {
    return this.messages.flatMap((m) => (m.type === 'ends' ? m.ends : []))
  }

  /** Resolves with the first message matching `match` (or rejects after `timeoutMs`). */
  async until(match: (m: HostMessage) => boolean, timeoutMs = 20_000): Promise<HostMessage> {
    const deadline = Date.now() + timeoutMs
    for (;;) {
      const found = this.messages.find(match)
      if (found) return found
      if (this.#child.exitCode !== null || this.#child.signalCode !== null) throw new Error('the host process exited')
      if (Date.now() > deadline) throw new Error(`no such message within ${timeoutMs} ms`)
      await new Promise((resolve) => setTimeout(resolve, 10))
    }
  }

  signal(name: NodeJS.Signals): void {
    this.#child.kill(name)
  }

  /** Asks the host to enqueue `count` jobs of task `durable`, one by one. */
  enqueue(count: number): void {
    this.#child.send({ type: 'enqueue', count })
  }

  /** Ids of the jobs whose enqueue has resolved in the host. */
  get enqueued(): string[] {
    return this.messages.flatMap((m) => (m.type === 'enqueued' ? m.ids : []))
  }

  /** Stops its cron scheduler (its worker goes on). */
  async stopCron(): Promise<void> {
    this.#child.send({ type: 'stop-cron' })
    await this.until((m) => m.type === 'cron-stopped')
  }

  /** Closes the host (its worker's close, then exit). */
  async close(timeoutMs = 5000): Promise<void> {
    if (this.#child.exitCode !== null || this.#child.signalCode !== null) return
    this.#child.send({ type: 'close', timeoutMs })
    await this.exited
  }
}
