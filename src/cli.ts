#!/usr/bin/env node
/**
 * The `fnbox` command line. One command so far:
 *
 *   fnbox bundle <entry.ts> [-o out.js] [--minify]
 *
 * bundles a function's entry with its npm dependencies into one ES module for the sandbox (see
 * bundle.ts), writing `out.js` and `out.js.map`, or the module to stdout without `-o`.
 *
 * @module
 */
import { writeFile } from 'node:fs/promises'
import { basename } from 'node:path'
import { parseArgs } from 'node:util'
import { bundle } from './bundle/bundle.js'

const USAGE = `Usage: fnbox bundle <entry> [options]

Bundles a function (TypeScript or JavaScript, with its npm dependencies) into one ES module
for runtime.deploy(name, { code, sourceMap }).

Options:
  -o, --outfile <file>  write the module to <file> and its source map to <file>.map
                        (default: the module to stdout, no map)
      --minify          minify the output
  -h, --help            show this help
`

async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      outfile: { type: 'string', short: 'o' },
      minify: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  })
  const [command, entry, ...rest] = positionals
  if (values.help || command === undefined) {
    process.stdout.write(USAGE)
    return values.help ? 0 : 2
  }
  if (command !== 'bundle' || entry === undefined || rest.length > 0) {
    process.stderr.write(
      `fnbox: ${command !== 'bundle' ? `unknown command "${command}"` : 'one entry file expected'}\n\n${USAGE}`,
    )
    return 2
  }
  const result = await bundle(entry, { minify: values.minify === true })
  const kb = (result.code.length / 1024).toFixed(1)
  const summary = `${entry}: ${kb} KB from ${Object.keys(result.inputs).length} files`
  if (values.outfile === undefined) {
    process.stdout.write(result.code)
    process.stderr.write(`${summary}\n`)
    return 0
  }
  const mapName = `${values.outfile}.map`
  // The comment lets other tools find the map; fnbox takes it as deploy's `sourceMap`.
  await writeFile(values.outfile, `${result.code}//# sourceMappingURL=${basename(mapName)}\n`)
  await writeFile(mapName, result.sourceMap)
  process.stderr.write(`${summary} -> ${values.outfile} (+ ${basename(mapName)})\n`)
  return 0
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code
  },
  (err: unknown) => {
    process.stderr.write(`fnbox: ${err instanceof Error ? err.message : String(err)}\n`)
    process.exitCode = 1
  },
)
