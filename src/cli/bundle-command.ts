/**
 * `fnbox bundle <entry> [-o out.js] [--minify] [--check]`: a function's entry and its npm
 * dependencies as one ES module for the sandbox (see bundle.ts), written to `out.js` with
 * `out.js.map` (folders made as needed), or to stdout.
 *
 * @internal
 * @module
 */
import { writeFile } from 'node:fs/promises'
import { basename, dirname } from 'node:path'
import { bundle } from '../bundle/bundle.js'
import { EXIT } from './usage.js'
import { say, writeOut } from './output.js'
import { typeCheck } from './type-check.js'
import { makeDir } from '../storage/make-dir.js'

export interface BundleCommand {
  entry: string
  outfile: string | undefined
  minify: boolean
  check: boolean
}

export async function runBundle(command: BundleCommand): Promise<number> {
  const { entry, outfile } = command
  if (command.check) {
    const result = await typeCheck(entry)
    for (const line of result.diagnostics) say(line)
    const config = result.config === undefined ? "fnbox's defaults (no tsconfig.json found)" : result.config
    if (result.errors > 0) {
      say(
        `fnbox: ${entry}: ${result.errors} type error${result.errors === 1 ? '' : 's'} (TypeScript ${result.version}, ${config})`,
      )
      return EXIT.failed
    }
    say(`${entry}: no type errors (TypeScript ${result.version}, ${config})`)
  }
  const result = await bundle(entry, { minify: command.minify })
  const kb = (result.code.length / 1024).toFixed(1)
  const count = Object.keys(result.inputs).length
  const summary = `${entry}: ${kb} KB from ${count} file${count === 1 ? '' : 's'}`
  if (outfile === undefined) {
    await writeOut(result.code)
    say(summary)
    return EXIT.ok
  }
  const mapName = `${outfile}.map`
  await makeDir(dirname(outfile))
  // The comment lets other tools find the map; fnbox takes it as deploy's `sourceMap`.
  await writeFile(outfile, `${result.code}//# sourceMappingURL=${basename(mapName)}\n`)
  await writeFile(mapName, result.sourceMap)
  say(`${summary} -> ${outfile} (+ ${basename(mapName)})`)
  return EXIT.ok
}
