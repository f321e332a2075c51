/**
 * `fnbox dev [dir]`: serves a folder's functions (see src/dev/server.ts) until Ctrl-C.
 *
 * @internal
 * @module
 */
import { resolve } from 'node:path'
import { startDevServer } from '../dev/server.js'
import type { StorageOption } from '../index.js'
import { onClosedPipe } from './output.js'
import { EXIT } from './usage.js'

export interface DevCommand {
  dir: string
  port: number | undefined
  host: string | undefined
  storage: StorageOption | undefined
}

export async function runDev(command: DevCommand): Promise<number> {
  let stopping = false
  let pipeClosed = false
  const print = (line: string): void => {
    if (!pipeClosed) process.stdout.write(`${line}\n`)
  }
  const server = await startDevServer({ ...command, print })
  return new Promise<number>((done) => {
    const stop = (): void => {
      if (stopping) {
        process.exit(EXIT.interrupted)
      }
      stopping = true
      print('stopping (calls in flight finish first; Ctrl-C again to quit now)...')
      server.close().then(
        () => done(EXIT.ok),
        (err: unknown) => {
          print(`fnbox: closing failed: ${err instanceof Error ? err.message : String(err)}`)
          done(EXIT.failed)
        },
      )
    }
    process.on('SIGINT', stop)
    process.on('SIGTERM', stop)
    // `fnbox dev | head`: the reader went away; stop as cleanly as on Ctrl-C.
    onClosedPipe(() => {
      pipeClosed = true
      if (!stopping) stop()
    })
  })
}

/** `--storage`: `memory`, a `postgres://` URL, or a folder for the embedded database. */
export function parseStorage(value: string): StorageOption {
  if (value === 'memory') return 'memory'
  if (/^postgres(ql)?:\/\//.test(value)) return { postgres: value }
  return { pglite: resolve(value) }
}
