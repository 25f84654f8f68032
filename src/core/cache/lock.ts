/**
 * One lock per cache key across processes: two builds (or a build and the CLI) sharing one cache folder
 * generate each key once. The lock is `<cacheDir>/.work/locks/<key>.lock`, holding its owner
 * `{ pid, host, token, since }`.
 *
 * - Taking it is atomic: the owner is written to a temp file, then hard-linked to the lock name (`link`
 *   fails if the name exists), so a lock file is never seen half-written. Where hard links are not
 *   supported, an exclusive create (`wx`) is used instead.
 * - A lock whose owner was killed is taken over at once: on the same host, a dead pid proves it. A heartbeat
 *   (the holder touches the file every `staleMs / 3`) covers what a pid cannot: another machine on a
 *   network share, a recycled pid. A lock not touched for `staleMs` is stale.
 * - Breaking a stale lock renames it away first and checks it moved the very lock it judged stale (by its
 *   token); a fresh lock moved by mistake is linked back.
 *
 * Written here rather than with proper-lockfile: that library tells a dead owner only by an mtime going
 * stale, so a build killed with SIGKILL would hold every key it was generating for the whole stale period,
 * and an owner whose event loop is busy for that long loses its lock; a pid check has neither problem.
 */
import { randomBytes } from 'node:crypto'
import { link, lstat, rename, rm, utimes, writeFile } from 'node:fs/promises'
import { hostname } from 'node:os'
import path from 'node:path'
import { realClock, type Clock } from '../clock.js'
import { LOCK_POLL_MS, type HeldLock } from './backend.js'
import { writeFailure } from './cache-folder.js'
import { readRegularFile } from './safe-fs.js'
import { tempNameFor } from '../atomic-write.js'
import { ensureWorkDir, workPath } from './workdir.js'

export interface LockOwner {
  pid: number
  host: string
  /** Unique per acquisition, so a holder never removes a lock it no longer owns. */
  token: string
  /** Epoch ms. */
  since: number
}

export type { HeldLock } from './backend.js'

export interface KeyLocksOptions {
  /** Lock not touched for this long is stale. @default 60000 */
  staleMs?: number
  /** For the waits between polls. */
  clock?: Clock
}

export interface AcquireOptions {
  signal?: AbortSignal
  /** Called once, when the lock is found held by another live process and we start waiting. */
  onWait?: (owner: LockOwner | undefined) => void
}

/** A lock file with no readable owner is given this long to be written before it counts as stale. */
const UNREADABLE_GRACE_MS = 5_000

export class KeyLocks {
  private readonly staleMs: number
  private readonly clock: Clock
  private readonly held = new Map<string, string>()
  private heartbeat: NodeJS.Timeout | undefined
  private readonly host = hostname()

  constructor(
    private readonly cacheDir: string,
    options: KeyLocksOptions = {},
  ) {
    this.staleMs = options.staleMs ?? 60_000
    this.clock = options.clock ?? realClock
  }

  lockFile(key: string): string {
    return workPath(this.cacheDir, 'locks', `${key}.lock`)
  }

  /** Wait until this process holds the lock of `key`. */
  async acquire(key: string, options: AcquireOptions = {}): Promise<HeldLock> {
    let poll: number = LOCK_POLL_MS.min
    for (let waiting = false; ; waiting = true) {
      options.signal?.throwIfAborted()
      const held = await this.tryAcquire(key)
      if (held.lock) return held.lock
      if (!waiting) options.onWait?.(held.owner)
      await this.clock.sleep(poll + Math.random() * poll, options.signal)
      poll = Math.min(LOCK_POLL_MS.max, poll * 2)
    }
  }

  /**
   * Take the lock of `key` if no live process holds it (a stale lock is broken on the way); otherwise
   * return its owner at once, so the caller can do other work meanwhile.
   */
  async tryAcquire(key: string): Promise<{ lock?: HeldLock; owner?: LockOwner }> {
    const file = this.lockFile(key)
    const owner: LockOwner = { pid: process.pid, host: this.host, token: randomBytes(8).toString('hex'), since: Date.now() }
    for (;;) {
      if (await this.tryCreate(file, owner)) {
        this.held.set(file, owner.token)
        this.startHeartbeat()
        return { lock: { release: () => this.release(file, owner.token) } }
      }
      const current = await readLock(file)
      if (!current) continue // released between our attempt and the read: try again at once
      if (!this.isStale(current)) return current.owner ? { owner: current.owner } : {}
      await breakLock(file, current)
    }
  }

  private async tryCreate(file: string, owner: LockOwner): Promise<boolean> {
    await ensureWorkDir(this.cacheDir, 'locks')
    const temp = tempNameFor(file)
    try {
      await writeFile(temp, JSON.stringify(owner), { flag: 'wx' })
      await link(temp, file)
      return true
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code
      if (code === 'EEXIST') return false
      // The folder was tidied away by another process between our mkdir and our write: start over.
      if (code === 'ENOENT') return false
      if (code === 'EPERM' || code === 'ENOTSUP' || code === 'ENOSYS' || code === 'EOPNOTSUPP') {
        // No hard links on this file system: an exclusive create is atomic too (the owner may be read
        // half-written for an instant, which UNREADABLE_GRACE_MS covers).
        return writeFile(file, JSON.stringify(owner), { flag: 'wx' }).then(
          () => true,
          (e: NodeJS.ErrnoException) => {
            if (e.code === 'EEXIST' || e.code === 'ENOENT') return false
            throw writeFailure(e, path.dirname(file))
          },
        )
      }
      throw writeFailure(error, path.dirname(file))
    } finally {
      await rm(temp, { force: true })
    }
  }

  /**
   * Remove the lock of `key` when its owner is gone (housekeeping): a process killed after committing an
   * entry leaves a lock that no later run needs to take, since the entry is already a hit.
   */
  async breakIfStale(key: string): Promise<boolean> {
    const file = this.lockFile(key)
    const current = await readLock(file)
    if (!current || !this.isStale(current)) return false
    await breakLock(file, current)
    return true
  }

  private isStale(lock: LockState): boolean {
    const age = Date.now() - lock.mtimeMs
    if (!lock.owner) return age > UNREADABLE_GRACE_MS
    if (lock.owner.host === this.host && !isProcessAlive(lock.owner.pid)) return true
    return age > this.staleMs
  }

  private async release(file: string, token: string): Promise<void> {
    if (this.held.get(file) !== token) return
    this.held.delete(file)
    if (this.held.size === 0) this.stopHeartbeat()
    const current = await readLock(file)
    // Never remove a lock that is no longer ours (it was judged stale and taken over).
    if (current?.owner?.token === token) await rm(file, { force: true })
  }

  private startHeartbeat(): void {
    if (this.heartbeat) return
    this.heartbeat = setInterval(() => {
      const now = new Date()
      for (const file of this.held.keys()) void utimes(file, now, now).catch(() => {})
    }, Math.max(1_000, Math.floor(this.staleMs / 3)))
    this.heartbeat.unref()
  }

  private stopHeartbeat(): void {
    if (this.heartbeat) clearInterval(this.heartbeat)
    this.heartbeat = undefined
  }
}

interface LockState {
  owner: LockOwner | undefined
  mtimeMs: number
}

/** Far more than an owner record: a lock file that is larger is junk, and is not read. */
const LOCK_MAX_BYTES = 4096

/** The lock at `file`; a link or junk in its place has no owner (and so breaks once old enough), and is never followed. */
async function readLock(file: string): Promise<LockState | undefined> {
  const read = await readRegularFile(file, { maxBytes: LOCK_MAX_BYTES })
  if (read.ok) return { owner: parseOwner(read.data.toString('utf8')), mtimeMs: read.stats.mtimeMs }
  if (read.problem.kind === 'missing') return undefined
  const info = await lstat(file).catch(() => undefined)
  return info && { owner: undefined, mtimeMs: info.mtimeMs }
}

function parseOwner(text: string): LockOwner | undefined {
  try {
    const value = JSON.parse(text) as Partial<LockOwner>
    return typeof value.pid === 'number' && typeof value.host === 'string' && typeof value.token === 'string'
      ? (value as LockOwner)
      : undefined
  } catch {
    return undefined
  }
}

/** Move a stale lock away; if what moved was not the lock judged stale, put it back. */
async function breakLock(file: string, stale: LockState): Promise<void> {
  const grave = `${file}.stale-${process.pid}-${randomBytes(4).toString('hex')}`
  try {
    await rename(file, grave)
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return // someone else broke it first
    throw error
  }
  const moved = await readLock(grave)
  const same = moved?.owner && stale.owner ? moved.owner.token === stale.owner.token : moved?.mtimeMs === stale.mtimeMs
  if (!same) await link(grave, file).catch(() => {})
  await rm(grave, { force: true })
}

/** Whether a process with this pid exists (on this machine). */
export function isProcessAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    // EPERM: it exists but belongs to someone else.
    return (error as NodeJS.ErrnoException).code === 'EPERM'
  }
}
