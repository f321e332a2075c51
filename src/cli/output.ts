/**
 * Writing to stdout and stderr from the command line.
 *
 * A reader that goes away (`fnbox bundle x.ts | head`) makes the next write fail with EPIPE, an
 * 'error' event that would crash the process with a stack. The reader chose to stop: like other
 * Unix tools, fnbox then stops quietly, with exit code 0.
 *
 * @internal
 * @module
 */

let closedPipe: () => void = () => process.exit(0)

/** What to do when stdout or stderr loses its reader. Default: exit with code 0. */
export function onClosedPipe(handler: () => void): void {
  closedPipe = handler
}

/**
 * Listens for write errors on stdout and stderr: a lost reader (EPIPE) calls the
 * {@link onClosedPipe} handler, once; any other error ends the process with code 1.
 */
export function guardPipes(): void {
  let called = false
  for (const stream of [process.stdout, process.stderr]) {
    stream.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'EPIPE') {
        if (!called) {
          called = true
          closedPipe()
        }
        return
      }
      // Nowhere left to say it but the exit code (stderr may be the stream that failed).
      process.exit(1)
    })
  }
}

/** Writes `text` to stdout; resolves once it is handed to the OS (large outputs wait for the pipe). */
export function writeOut(text: string): Promise<void> {
  return new Promise((resolve) => {
    if (process.stdout.write(text)) resolve()
    else process.stdout.once('drain', resolve)
  })
}

/** One line to stderr. */
export function say(line: string): void {
  process.stderr.write(`${line}\n`)
}
