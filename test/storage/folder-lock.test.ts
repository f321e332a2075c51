/**
 * One process owns a PGlite folder: a second opener is refused with ERR_STORAGE_LOCKED naming
 * the folder and the owner's pid, and the lock of an owner that is gone (killed, or whose pid now
 * runs another process) is taken over.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { mkdtemp, readFile, rm, utimes, writeFile } from 'node:fs/promises'
import { hostname, tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { afterAll, beforeEach, describe, expect, it } from 'vitest'
import { isFnboxError } from '../../src/errors.js'
import { FolderLock, LOCK_STALE_MS } from '../../src/storage/folder-lock.js'

const HOLDER = new URL('../fixtures/storage/holder.mjs', import.meta.url).pathname
const dirs: string[] = []
const tempDir = async () => {
  const dir = await mkdtemp(join(tmpdir(), 'fnbox-lock-'))
  dirs.push(dir)
  return dir
}
afterAll(() => Promise.all(dirs.map((dir) => rm(dir, { recursive: true, force: true }))))

interface Holder {
  child: ChildProcess
  /** The holder's JSON line: the counter after its increment, or the error it got. */
  outcome: Promise<Record<string, unknown>>
}

function hold(folder: string): Holder {
  const child = spawn(process.execPath, [HOLDER, folder], { stdio: ['pipe', 'pipe', 'inherit'] })
  const outcome = new Promise<Record<string, unknown>>((resolve, reject) => {
    createInterface({ input: child.stdout! }).once('line', (line) => resolve(JSON.parse(line)))
    child.once('exit', (code, signal) => reject(new Error(`the holder exited (${code ?? signal})`)))
  })
  return { child, outcome }
}

const exited = (child: ChildProcess) =>
  new Promise<void>((resolve) =>
    child.exitCode !== null || child.signalCode ? resolve() : child.once('exit', () => resolve()),
  )

describe('two host processes on one PGlite folder', () => {
  it('refuses the second with ERR_STORAGE_LOCKED naming the folder and pid, and takes over after kill -9', async () => {
    const folder = join(await tempDir(), 'pglite')
    const owner = hold(folder)
    expect(await owner.outcome).toEqual({ pid: owner.child.pid, count: 1 })

    const second = hold(folder)
    expect(await second.outcome).toMatchObject({
      code: 'ERR_STORAGE_LOCKED',
      details: { folder, pid: owner.child.pid },
      message: expect.stringContaining(`in use by process ${owner.child.pid}`),
    })
    second.child.stdin!.end()
    await exited(second.child)

    // The owner dies without releasing anything: its lock is stale, and the next opener takes
    // it over and finds the owner's committed increment.
    owner.child.kill('SIGKILL')
    await exited(owner.child)
    expect(JSON.parse(await readFile(join(folder, 'fnbox.lock'), 'utf8'))).toMatchObject({ pid: owner.child.pid })
    const next = hold(folder)
    expect(await next.outcome).toEqual({ pid: next.child.pid, count: 2 })
    next.child.stdin!.end()
    await exited(next.child)
  }, 60_000)
})

describe('FolderLock', () => {
  let folder: string
  let lockFile: string
  beforeEach(async () => {
    folder = await tempDir()
    lockFile = join(folder, 'fnbox.lock')
  })

  const refusal = async (promise: Promise<unknown>) => {
    const err = await promise.then(
      () => undefined,
      (e: unknown) => e,
    )
    expect(isFnboxError(err, 'ERR_STORAGE_LOCKED')).toBe(true)
    return err as { details: Record<string, unknown>; message: string }
  }

  /** The facts this process records, with `changes`: a lock as another owner would leave it. */
  const ownerFacts = async (changes: Record<string, unknown>) => {
    const lock = await FolderLock.acquire(folder)
    const facts = JSON.parse(await readFile(lockFile, 'utf8'))
    await lock.release()
    return { ...facts, token: randomBytes(8).toString('hex'), ...changes }
  }

  /** A lock as a process that has exited since left it. */
  const leaveStaleLock = async () => {
    const dead = spawn(process.execPath, ['-e', ''])
    await exited(dead)
    await writeFile(lockFile, JSON.stringify(await ownerFacts({ pid: dead.pid, start: undefined })))
  }

  it('is held once per process too, and free again once released', async () => {
    const first = await FolderLock.acquire(folder)
    const err = await refusal(FolderLock.acquire(folder))
    expect(err.details).toMatchObject({ pid: process.pid })
    await first.release()
    await expect(readFile(lockFile)).rejects.toMatchObject({ code: 'ENOENT' })
    const again = await FolderLock.acquire(folder)
    await again.release()
  })

  it('takes over the lock of a process that is gone', async () => {
    await leaveStaleLock()
    const lock = await FolderLock.acquire(folder)
    expect(JSON.parse(await readFile(lockFile, 'utf8'))).toMatchObject({ pid: process.pid })
    await lock.release()
  })

  it.skipIf(process.platform !== 'linux')(
    'tells a live owner from a reused pid by the process start time',
    async () => {
      const other = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60_000)'])
      try {
        const stat = readFileSync(`/proc/${other.pid}/stat`, 'utf8')
        const start = stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19]
        const facts = await ownerFacts({ pid: other.pid })
        // The pid runs the process that took the lock: refused.
        await writeFile(lockFile, JSON.stringify({ ...facts, start }))
        expect((await refusal(FolderLock.acquire(folder))).details).toMatchObject({ pid: other.pid })
        // The pid runs, but a process that started at another time: the owner is gone.
        await writeFile(lockFile, JSON.stringify({ ...facts, start: String(Number(start) - 1) }))
        const lock = await FolderLock.acquire(folder)
        await lock.release()
      } finally {
        other.kill('SIGKILL')
        await exited(other)
      }
    },
  )

  it('holds an owner it cannot check (another host) while its lock is fresh', async () => {
    await writeFile(lockFile, JSON.stringify(await ownerFacts({ pid: 1, host: `not-${hostname()}` })))
    expect((await refusal(FolderLock.acquire(folder))).details).toMatchObject({ pid: 1, host: `not-${hostname()}` })
    const old = new Date(Date.now() - LOCK_STALE_MS - 1_000)
    await utimes(lockFile, old, old)
    const lock = await FolderLock.acquire(folder)
    await lock.release()
  })

  it('of many openers racing for a stale lock, exactly one wins', async () => {
    await leaveStaleLock()
    const results = await Promise.allSettled(Array.from({ length: 8 }, () => FolderLock.acquire(folder)))
    const won = results.filter((r) => r.status === 'fulfilled')
    expect(won).toHaveLength(1)
    expect(results.filter((r) => r.status === 'rejected' && isFnboxError(r.reason, 'ERR_STORAGE_LOCKED'))).toHaveLength(
      7,
    )
    await (won[0] as PromiseFulfilledResult<FolderLock>).value.release()
  })
})
