/**
 * Running the built command line (`node dist/cli.js ...`) the way a user's shell does, in
 * temporary project folders.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, mkdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

export const ROOT = fileURLToPath(new URL('../..', import.meta.url))
export const CLI = join(ROOT, 'dist', 'cli.js')

export interface CliRun {
  code: number | null
  signal: NodeJS.Signals | null
  stdout: string
  stderr: string
}

/** Runs `node <args>` in `cwd`; never rejects. */
export function runNode(
  args: string[],
  options: { cwd: string; env?: NodeJS.ProcessEnv; timeoutMs?: number },
): Promise<CliRun> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      args,
      {
        cwd: options.cwd,
        env: options.env ?? process.env,
        timeout: options.timeoutMs ?? 60_000,
        maxBuffer: 64 * 1024 * 1024,
      },
      (error, stdout, stderr) => {
        const failure = error as (Error & { code?: number | string; signal?: NodeJS.Signals }) | null
        resolve({
          code: failure ? (typeof failure.code === 'number' ? failure.code : null) : 0,
          signal: failure?.signal ?? null,
          stdout,
          stderr,
        })
      },
    )
  })
}

/** Runs `node dist/cli.js <args>` in `cwd`; never rejects. */
export function runCli(
  args: string[],
  options: { cwd: string; env?: NodeJS.ProcessEnv; timeoutMs?: number },
): Promise<CliRun> {
  return runNode([CLI, ...args], options)
}

/** Starts `node dist/cli.js <args>` with piped output (for long-running commands). */
export function spawnCli(args: string[], options: { cwd: string; env?: NodeJS.ProcessEnv }): ChildProcess {
  return spawn(process.execPath, [CLI, ...args], {
    cwd: options.cwd,
    env: options.env ?? process.env,
    stdio: ['ignore', 'pipe', 'pipe'],
  })
}

/**
 * A temporary project folder with `files` written in it. `link` names packages of this
 * repository's node_modules to link into its node_modules (`fnbox` links this repository).
 */
export function tempProject(files: Record<string, string>, link: string[] = []): { dir: string; remove(): void } {
  const dir = mkdtempSync(join(tmpdir(), 'fnbox-cli-'))
  for (const [name, text] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, name)), { recursive: true })
    writeFileSync(join(dir, name), text)
  }
  for (const name of link) {
    const target = name === 'fnbox' ? ROOT : join(ROOT, 'node_modules', name)
    mkdirSync(dirname(join(dir, 'node_modules', name)), { recursive: true })
    symlinkSync(target, join(dir, 'node_modules', name), 'dir')
  }
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) }
}

/** No line of `text` is a stack frame. */
export function hasStack(text: string): boolean {
  return /^\s+at .+:\d+/m.test(text)
}
