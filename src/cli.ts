#!/usr/bin/env node
/**
 * The `fnbox` command line: `fnbox bundle` (src/cli/bundle-command.ts) and `fnbox dev`
 * (src/cli/dev-command.ts); `fnbox --help` lists their options and the exit codes.
 *
 * Errors end the command with one line, `fnbox: <message>` (never a stack), and a documented
 * exit code: 1 when the work failed, 2 when the command line is wrong.
 *
 * @module
 */
import { readFileSync } from 'node:fs'
import { parseArgs } from 'node:util'
import { runBundle } from './cli/bundle-command.js'
import { parseStorage, runDev } from './cli/dev-command.js'
import { guardPipes, say } from './cli/output.js'
import { EXIT, USAGE } from './cli/usage.js'

/** A mistake in the command line: exit code 2, with the usage. */
class UsageError extends Error {}

const OPTIONS = {
  outfile: { type: 'string', short: 'o' },
  minify: { type: 'boolean' },
  check: { type: 'boolean' },
  port: { type: 'string' },
  host: { type: 'string' },
  storage: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
  version: { type: 'boolean', short: 'v' },
} as const

/** Which command takes which option (the others are refused, not ignored). */
const COMMAND_OPTIONS: Record<string, readonly string[]> = {
  bundle: ['outfile', 'minify', 'check'],
  dev: ['port', 'host', 'storage'],
}

async function main(argv: string[]): Promise<number> {
  let parsed
  try {
    parsed = parseArgs({ args: argv, allowPositionals: true, options: OPTIONS })
  } catch (err) {
    throw new UsageError((err as Error).message)
  }
  const { values, positionals } = parsed
  if (values.version) {
    process.stdout.write(`${version()}\n`)
    return EXIT.ok
  }
  const [command, ...args] = positionals
  if (values.help) {
    process.stdout.write(USAGE)
    return EXIT.ok
  }
  if (command === undefined) {
    process.stderr.write(USAGE)
    return EXIT.usage
  }
  const allowed = COMMAND_OPTIONS[command]
  if (allowed === undefined) throw new UsageError(`unknown command "${command}" (commands: bundle, dev)`)
  for (const [name, value] of Object.entries(values)) {
    if (value !== undefined && !allowed.includes(name)) throw new UsageError(`--${name} is not an option of ${command}`)
  }
  if (command === 'bundle') {
    if (args.length !== 1) throw new UsageError(`bundle takes one entry file (got ${args.length})`)
    return runBundle({
      entry: args[0]!,
      outfile: values.outfile,
      minify: values.minify === true,
      check: values.check === true,
    })
  }
  if (args.length > 1) throw new UsageError(`dev takes one folder (got ${args.length})`)
  return runDev({
    dir: args[0] ?? '.',
    port: values.port === undefined ? undefined : port(values.port),
    host: values.host,
    storage: values.storage === undefined ? undefined : parseStorage(values.storage),
  })
}

function port(value: string): number {
  const n = Number(value)
  if (!/^\d+$/.test(value) || n > 65535)
    throw new UsageError(`--port must be a port number from 0 to 65535 (got "${value}")`)
  return n
}

/** fnbox's version, from its package.json (beside dist/). */
function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }
  return pkg.version
}

guardPipes()
main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code
  },
  (err: unknown) => {
    const message = err instanceof Error ? err.message : String(err)
    say(`fnbox: ${message}`)
    if (err instanceof UsageError) say('Run "fnbox --help" for the commands and options.')
    process.exitCode = err instanceof UsageError ? EXIT.usage : EXIT.failed
  },
)
