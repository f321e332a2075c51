/**
 * One process owns a PGlite folder. PGlite runs Postgres in single-user mode and writes no
 * `postmaster.pid`: two processes opening one folder each run their own database over the same
 * files, and updates are silently lost (both increments of a counter answered 5) or the folder
 * is corrupted. So fnbox keeps its own lock file, `<folder>/fnbox.lock`.
 *
 * - Taking it is atomic: the owner's facts are written to a temp file that is then hard-linked
 *   to the lock's name, which fails if the name exists, so the lock is never seen half written.
 * - A second opener reads the owner and gets `ERR_STORAGE_LOCKED` naming the folder and the pid.
 * - A lock whose owner is gone is stale and taken over. "Gone" is decided on the facts the
 *   owner recorded: on the same machine (same boot, same pid namespace), its pid no longer
 *   runs, or runs a process that started at another time (the pid was reused: Linux's
 *   `/proc/<pid>/stat` start time). A different boot means every owner of before is gone. An
 *   owner whose pid cannot be checked from here (another host or container sharing the folder)
 *   is alive while it refreshes the lock's mtime (every 10 s); 60 s without that, it is gone.
 * - Taking over is serialized by a second file, `fnbox.lock.takeover`, made the same way: only
 *   its holder may remove a lock, and only after reading it again and finding the same stale
 *   owner, so a live lock is never removed. (A taker that dies while holding that file leaves it
 *   to the next opener; two openers racing on such a leftover in the same instant is the one
 *   race left.)
 *
 * Within one process a folder can be opened once: a second runtime on it is refused too.
 *
 * @internal
 * @module
 */
import { randomBytes } from 'node:crypto'
import { readFileSync, readlinkSync, unlinkSync } from 'node:fs'
import { link, readFile, realpath, stat, unlink, utimes, writeFile } from 'node:fs/promises'
import { hostname } from 'node:os'
import { join } from 'node:path'
import { FnboxError } from '../errors.js'

export const LOCK_FILE = 'fnbox.lock'
/** How often an owner refreshes its lock's mtime, for openers that cannot check its pid. */
export const LOCK_HEARTBEAT_MS = 10_000
/** An owner that cannot be checked is gone after this long without a refresh. */
export const LOCK_STALE_MS = 60_000

/** Who holds a lock: what another process needs to tell whether it still runs. */
interface Owner {
  pid: number
  host: string
  /** Linux: the kernel's boot id; another one means the owner's machine rebooted since. */
  boot?: string
  /** Linux: the pid namespace, within which `pid` means this process. */
  pidNs?: string
  /** Linux: when the process started (clock ticks since boot), which a reused pid does not share. */
  start?: string
  /** Tells this lock from a later one of the same process. */
  token: string
}

/** Folders locked by this process (by real path). */
const held = new Map<string, FolderLock>()
let exitHook = false

/** A process that exits without closing its runtimes leaves no lock behind. */
function releaseAllAtExit(): void {
  for (const lock of held.values()) lock.releaseSync()
}

function readProc(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8').trim()
  } catch {
    return undefined
  }
}

/** The start time of process `pid` (field 22 of `/proc/<pid>/stat`, after the command's parentheses). */
function startTime(pid: number | 'self'): string | undefined {
  const stat = readProc(`/proc/${pid}/stat`)
  return stat?.slice(stat.lastIndexOf(')') + 2).split(' ')[19]
}

function pidNamespace(): string | undefined {
  try {
    // A symbolic link whose target names the namespace: `pid:[4026531836]`.
    return process.platform === 'linux' ? readlinkSync('/proc/self/ns/pid') : undefined
  } catch {
    return undefined
  }
}

function self(token: string): Owner {
  return {
    pid: process.pid,
    host: hostname(),
    boot: readProc('/proc/sys/kernel/random/boot_id'),
    pidNs: pidNamespace(),
    start: startTime('self'),
    token,
  }
}

/** Whether a process with this pid runs (as any user). @internal */
export function processRuns(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (err) {
    // EPERM: it runs, as another user.
    return (err as NodeJS.ErrnoException).code === 'EPERM'
  }
}

type Liveness = 'alive' | 'gone' | 'unknown'

/** Whether the owner of a lock still runs, as far as this process can tell from its facts. */
function liveness(owner: Owner, me: Owner, path: string): Liveness {
  // This machine since rebooted: every process of before is gone.
  if (owner.host === me.host && owner.boot !== undefined && me.boot !== undefined && owner.boot !== me.boot) {
    return 'gone'
  }
  // Another machine, or another container on this one: its pids mean nothing here.
  if (owner.host !== me.host || owner.boot !== me.boot || owner.pidNs !== me.pidNs) return 'unknown'
  if (owner.pid === me.pid && owner.start === me.start) {
    // This process: held by another runtime here, or left by one that never closed.
    return held.has(path) ? 'alive' : 'gone'
  }
  if (!processRuns(owner.pid)) return 'gone'
  if (owner.start !== undefined) {
    const now = startTime(owner.pid)
    if (now !== undefined && now !== owner.start) return 'gone' // the pid was reused
  }
  return 'alive'
}

function parseOwner(text: string): Owner | undefined {
  try {
    const value = JSON.parse(text) as Owner
    return typeof value.pid === 'number' && typeof value.token === 'string' ? value : undefined
  } catch {
    return undefined
  }
}

async function readOwner(file: string): Promise<{ owner: Owner | undefined; mtimeMs: number } | undefined> {
  try {
    const [text, stats] = await Promise.all([readFile(file, 'utf8'), stat(file)])
    return { owner: parseOwner(text), mtimeMs: stats.mtimeMs }
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw err
  }
}

/** Links `temp` to `name`: true when this made `name`, false when it existed. */
async function linkIfAbsent(temp: string, name: string): Promise<boolean> {
  try {
    await link(temp, name)
    return true
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false
    throw err
  }
}

function isStale(found: { owner: Owner | undefined; mtimeMs: number }, me: Owner, path: string): boolean {
  // Unreadable (written by hand, or by something else): judged by its age alone.
  const state = found.owner ? liveness(found.owner, me, path) : 'unknown'
  return state === 'gone' || (state === 'unknown' && Date.now() - found.mtimeMs > LOCK_STALE_MS)
}

function lockedError(folder: string, owner: Owner | undefined, file: string): FnboxError {
  const who = owner ? `process ${owner.pid}${owner.host === hostname() ? '' : ` on ${owner.host}`}` : 'another process'
  return new FnboxError(
    'ERR_STORAGE_LOCKED',
    `the embedded database in ${folder} is in use by ${who}: one process owns a PGlite folder ` +
      `(stop it, or use server Postgres to share data between processes; a lock whose owner is gone is taken over, ` +
      `or delete ${file} if you know it is)`,
    { details: { folder, pid: owner?.pid, host: owner?.host } },
  )
}

/** The lock on one PGlite folder, held by this process until {@link FolderLock.release}. */
export class FolderLock {
  readonly #file: string
  readonly #path: string
  readonly #token: string
  readonly #heartbeat: NodeJS.Timeout
  #released = false

  private constructor(path: string, token: string) {
    this.#path = path
    this.#file = join(path, LOCK_FILE)
    this.#token = token
    // For openers that cannot check our pid (another host or container sharing the folder).
    this.#heartbeat = setInterval(() => {
      const now = new Date()
      void utimes(this.#file, now, now).catch(() => undefined)
    }, LOCK_HEARTBEAT_MS)
    this.#heartbeat.unref()
    if (!exitHook) {
      exitHook = true
      process.on('exit', releaseAllAtExit)
    }
  }

  /** Takes the lock of `folder` (which exists), or fails with `ERR_STORAGE_LOCKED`. */
  static async acquire(folder: string): Promise<FolderLock> {
    const path = await realpath(folder)
    const file = join(path, LOCK_FILE)
    const me = self(randomBytes(16).toString('hex'))
    if (held.has(path)) throw lockedError(folder, me, file)
    const temp = join(path, `${LOCK_FILE}.${me.token}`)
    await writeFile(temp, JSON.stringify(me))
    try {
      for (let attempt = 0; attempt < 20; attempt++) {
        if (await linkIfAbsent(temp, file)) {
          const lock = new FolderLock(path, me.token)
          held.set(path, lock)
          return lock
        }
        const found = await readOwner(file)
        if (!found) continue // released meanwhile: try again
        if (!isStale(found, me, path)) throw lockedError(folder, found.owner, file)
        await takeOver(temp, file, found, me, path)
      }
      throw lockedError(folder, undefined, file)
    } finally {
      await unlink(temp).catch(() => undefined)
    }
  }

  /** Releases the lock (if it is still this one). */
  async release(): Promise<void> {
    if (this.#released) return
    this.#released = true
    clearInterval(this.#heartbeat)
    held.delete(this.#path)
    const found = await readOwner(this.#file).catch(() => undefined)
    if (found?.owner?.token === this.#token) await unlink(this.#file).catch(() => undefined)
  }

  /** @internal At process exit. */
  releaseSync(): void {
    if (this.#released) return
    this.#released = true
    try {
      if (parseOwner(readFileSync(this.#file, 'utf8'))?.token === this.#token) unlinkSync(this.#file)
    } catch {
      // Nothing to release.
    }
  }
}

/**
 * Removes the stale lock `found` (if it is still the one at `file`) so the caller's next link
 * can take its place; serialized with other takers by the takeover file.
 */
async function takeOver(
  temp: string,
  file: string,
  found: { owner: Owner | undefined; mtimeMs: number },
  me: Owner,
  path: string,
): Promise<void> {
  const guard = `${file}.takeover`
  if (!(await linkIfAbsent(temp, guard))) {
    const other = await readOwner(guard)
    // A taker that died mid-way left it: remove it. A live one finishes in moments: wait.
    if (other && isStale(other, me, path)) await unlink(guard).catch(() => undefined)
    else await new Promise((resolve) => setTimeout(resolve, 20))
    return
  }
  try {
    const now = await readOwner(file)
    const same = now && (now.owner?.token ?? null) === (found.owner?.token ?? null) && now.mtimeMs === found.mtimeMs
    if (same) await unlink(file).catch(() => undefined)
  } finally {
    await unlink(guard).catch(() => undefined)
  }
}
