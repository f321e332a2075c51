/**
 * The command line's help text and exit codes.
 *
 * @internal
 * @module
 */

/** Exit codes, documented in {@link USAGE}. */
export const EXIT = {
  ok: 0,
  /** The work failed: bundling, type errors, the manifest, the server. */
  failed: 1,
  /** The command line itself is wrong. */
  usage: 2,
  /** A second Ctrl-C while `dev` was closing. */
  interrupted: 130,
} as const

export const USAGE = `Usage: fnbox <command> [options]

Commands:
  bundle <entry>          bundle a function (TypeScript or JavaScript, with its npm
                          dependencies) into one ES module for runtime.deploy()
  dev [dir]               serve the functions named in <dir>/fnbox.json (default: .) over
                          HTTP at /<name>/..., redeploying each one when its files change

Options of bundle:
  -o, --outfile <file>    write the module to <file> and its source map to <file>.map,
                          making folders as needed (default: the module to stdout, no map)
      --minify            minify the output
      --check             first type-check the entry against fnbox/guest with your
                          project's TypeScript (its nearest tsconfig.json); stop on errors

Options of dev:
      --port <n>          port to listen on (default 8787; 0 picks a free one)
      --host <address>    address to listen on (default 127.0.0.1, this machine only)
      --storage <where>   memory, a folder for the embedded database, or a postgres:// URL
                          (default <dir>/.fnbox/pglite)

  -h, --help              show this help
  -v, --version           show fnbox's version

Exit codes:
  0    done (dev: stopped with Ctrl-C; output to a closed pipe also ends quietly with 0)
  1    failed: a bundling, type or fnbox.json error, or the server could not start
  2    wrong usage: unknown command or option, missing or extra argument
  130  dev: a second Ctrl-C stopped it without waiting for calls in flight
`
