/**
 * The per-key lock between processes: exclusive while its owner lives, taken over at once when the owner's
 * pid is dead, after `staleMs` without a heartbeat otherwise, and never removed by a holder that lost it.
 */
import { spawnSync } from 'node:child_process'
import { readFile, utimes, writeFile, mkdir } from 'node:fs/promises'
import { hostname } from 'node:os'
import path from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { existsSync } from 'node:fs'
import { cleanLeftovers } from '../src/core/cache/housekeeping.js'
import { KeyLocks, isProcessAlive } from '../src/core/cache/lock.js'
import { CacheStore } from '../src/core/cache/store.js'
import { tidyWorkDir } from '../src/core/cache/workdir.js'
import { makeProject, type TempProject } from './helpers/project.js'

const projects: TempProject[] = []
afterAll(async () => {
  await Promise.all(projects.map((p) => p.remove()))
})

async function cacheDir(): Promise<string> {
  const project = await makeProject()
  projects.push(project)
  return path.join(project.root, '.ai-image')
}

const KEY = 'ab'.repeat(32)

/** The pid of a process that has exited. */
function deadPid(): number {
  const child = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'])
  const pid = Number(child.stdout.toString())
  expect(isProcessAlive(pid)).toBe(false)
  return pid
}

async function plantLock(dir: string, owner: Record<string, unknown>, ageMs = 0): Promise<string> {
  const file = new KeyLocks(dir).lockFile(KEY)
  await mkdir(path.dirname(file), { recursive: true })
  await writeFile(file, JSON.stringify(owner))
  if (ageMs) {
    const then = new Date(Date.now() - ageMs)
    await utimes(file, then, then)
  }
  return file
}

describe('KeyLocks', () => {
  it('is exclusive while held, and free again once released', async () => {
    const dir = await cacheDir()
    const first = new KeyLocks(dir)
    const second = new KeyLocks(dir)
    const held = await first.acquire(KEY)
    const owner = JSON.parse(await readFile(first.lockFile(KEY), 'utf8'))
    expect(owner).toMatchObject({ pid: process.pid, host: hostname() })

    let waited = 0
    let acquired = false
    const pending = second.acquire(KEY, { onWait: () => void waited++ }).then((lock) => {
      acquired = true
      return lock
    })
    await new Promise((resolve) => setTimeout(resolve, 150))
    expect(acquired).toBe(false)
    expect(waited).toBe(1)
    expect(await second.tryAcquire(KEY)).toMatchObject({ owner: { pid: process.pid } })

    await held.release()
    const next = await pending
    expect(acquired).toBe(true)
    await next.release()
    await expect(readFile(first.lockFile(KEY))).rejects.toMatchObject({ code: 'ENOENT' })
  })

  it('takes over at once the lock of a process that was killed', async () => {
    const dir = await cacheDir()
    await plantLock(dir, { pid: deadPid(), host: hostname(), token: 'dead', since: Date.now() })
    const started = Date.now()
    const lock = await new KeyLocks(dir).acquire(KEY)
    expect(Date.now() - started).toBeLessThan(1_000)
    expect(JSON.parse(await readFile(new KeyLocks(dir).lockFile(KEY), 'utf8'))).toMatchObject({ pid: process.pid })
    await lock.release()
  })

  it('housekeeping removes the lock a killed process left on a key nobody needs to take again', async () => {
    const dir = await cacheDir()
    const locks = new KeyLocks(dir)
    const dead = await plantLock(dir, { pid: deadPid(), host: hostname(), token: 'dead', since: Date.now() })
    const otherKey = 'cd'.repeat(32)
    const live = await locks.acquire(otherKey)
    const removed = await cleanLeftovers(new CacheStore(dir), new KeyLocks(dir))
    expect(removed).toEqual([dead])
    expect(existsSync(dead)).toBe(false)
    // A lock of a live process (this one) stays.
    expect(existsSync(locks.lockFile(otherKey))).toBe(true)
    await live.release()
  })

  it('respects a fresh lock of another host, and takes it over once its heartbeat stopped for staleMs', async () => {
    const dir = await cacheDir()
    const owner = { pid: 1, host: 'another-machine', token: 'remote', since: Date.now() }
    await plantLock(dir, owner)
    const locks = new KeyLocks(dir, { staleMs: 2_000 })
    await expect(locks.acquire(KEY, { signal: AbortSignal.timeout(200) })).rejects.toMatchObject({ name: 'TimeoutError' })

    await plantLock(dir, owner, 5_000)
    const lock = await locks.acquire(KEY)
    await lock.release()
  })

  it('breaks an unreadable lock file once it is old enough not to be a write in progress', async () => {
    const dir = await cacheDir()
    const file = await plantLock(dir, {}, 0)
    await writeFile(file, 'not json')
    expect(await new KeyLocks(dir).tryAcquire(KEY)).toEqual({})
    const old = new Date(Date.now() - 10_000)
    await utimes(file, old, old)
    const held = await new KeyLocks(dir).tryAcquire(KEY)
    expect(held.lock).toBeDefined()
    await held.lock!.release()
  })

  it('never removes a lock it no longer owns', async () => {
    const dir = await cacheDir()
    const locks = new KeyLocks(dir)
    const lock = await locks.acquire(KEY)
    // Someone judged it stale and took it over.
    const file = await plantLock(dir, { pid: process.pid, host: hostname(), token: 'usurper', since: Date.now() })
    await lock.release()
    expect(JSON.parse(await readFile(file, 'utf8')).token).toBe('usurper')
  })

  it('keeps the machine-local work folder out of git, and removes it when empty', async () => {
    const dir = await cacheDir()
    const lock = await new KeyLocks(dir).acquire(KEY)
    expect(await readFile(path.join(dir, '.work', '.gitignore'), 'utf8')).toContain('*')
    await tidyWorkDir(dir)
    // Still in use: kept.
    expect(await readFile(path.join(dir, '.work', '.gitignore'), 'utf8')).toContain('*')
    await lock.release()
    await tidyWorkDir(dir)
    await expect(readFile(path.join(dir, '.work', '.gitignore'))).rejects.toMatchObject({ code: 'ENOENT' })
  })
})
