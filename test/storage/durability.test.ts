/**
 * Durability on the default storage, tested by killing the host: host processes (the built
 * package, as users run it) write kv, vector, files and secrets through the host API and through
 * a guest on one PGlite folder, print an ack per acknowledged write and are `kill -9`ed at
 * several points; each next process reopens the folder (taking over the dead owner's lock) and
 * must find every write acknowledged before.
 */
import { spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { appendFile, mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'

const WRITER = new URL('../fixtures/storage/writer.mjs', import.meta.url).pathname

interface Run {
  /** The child's first line: `verified <n>` or `missing [...]`. */
  verdict: string
  acks: string[]
  signal: NodeJS.Signals | null
  code: number | null
}

/**
 * Runs one writer on `folder`; it kills itself after ack `selfKillAfter`, or is killed by this
 * process as soon as ack `killAfter` arrives (its next writes then in flight).
 */
function runWriter(folder: string, run: string, kill: { selfKillAfter?: number; killAfter?: number }): Promise<Run> {
  const env: NodeJS.ProcessEnv = { ...process.env, FNBOX_SECRET_KEY: SECRET_KEY }
  if (kill.selfKillAfter) env.FNBOX_KILL_AFTER = String(kill.selfKillAfter)
  const child = spawn(process.execPath, [WRITER, folder, run], { env, stdio: ['ignore', 'pipe', 'pipe'] })
  const result: Run = { verdict: '', acks: [], signal: null, code: null }
  let stderr = ''
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()))
  createInterface({ input: child.stdout }).on('line', (line) => {
    if (!result.verdict) result.verdict = line
    else if (line.startsWith('ack ')) {
      result.acks.push(line)
      if (result.acks.length === kill.killAfter) child.kill('SIGKILL')
    }
  })
  return new Promise((resolve, reject) => {
    child.once('error', reject)
    child.once('close', (code, signal) => {
      if (!result.verdict) reject(new Error(`the writer printed nothing (code ${code}, ${signal}): ${stderr}`))
      else resolve({ ...result, code, signal })
    })
  })
}

const SECRET_KEY = randomBytes(32).toString('hex')

describe('kill -9 of the host on the default storage (PGlite)', () => {
  let folder: string
  beforeAll(async () => {
    folder = await mkdtemp(join(tmpdir(), 'fnbox-durable-'))
  })
  afterAll(() => rm(folder, { recursive: true, force: true }))

  it('loses no acknowledged kv, vector, files or secrets write, at any kill point', async () => {
    // Killed right after an ack of host writes, after one of a guest's, and (by this process)
    // while later writes are in flight; each run first checks the acks of the runs before.
    const points = [{ selfKillAfter: 1 }, { selfKillAfter: 2 }, { killAfter: 3 }]
    let acked = 0
    for (const [n, kill] of points.entries()) {
      const run = await runWriter(folder, `r${n}`, kill)
      expect(run.verdict).toBe(`verified ${acked}`)
      expect(run.signal).toBe('SIGKILL')
      const wanted = kill.selfKillAfter ?? kill.killAfter!
      expect(run.acks.length).toBeGreaterThanOrEqual(wanted)
      await appendFile(join(folder, 'acks'), run.acks.map((line) => line + '\n').join(''))
      acked += run.acks.length
    }
    const last = await runWriter(folder, 'verify', {})
    expect(last.verdict).toBe(`verified ${acked}`)
    expect(last.code).toBe(0)
  }, 120_000)
})
