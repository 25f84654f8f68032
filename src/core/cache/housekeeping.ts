/**
 * What a killed process leaves behind, cleaned by the next run that generates: temp files of interrupted
 * atomic writes (`….tmp-<pid>-<rand>`: never read, since only a rename makes a file visible under its real
 * name), locks of dead owners and broken-lock leftovers, and journals whose entry was committed after all. A
 * temp file of a process that is still alive is left alone, unless it is far too old to belong to a write in
 * progress.
 *
 * The cache folder is committed, so a link can stand where one of its folders should be: housekeeping
 * descends only into real folders whose real path is inside the cache's (anything else is skipped with a
 * warning), and looks only at names it would have written itself. Removing a file that is a link removes
 * the link, never what it points at.
 */
import { lstat, readdir, rm } from 'node:fs/promises'
import path from 'node:path'
import { isKey } from './entry.js'
import { isProcessAlive, type KeyLocks } from './lock.js'
import { safeFolder } from './safe-fs.js'
import { TEMP_MARKER, type CacheStore } from './store.js'
import { WORK_DIR } from './workdir.js'

/** No single write takes this long: a temp file older than this is a leftover whatever its pid says. */
const ABANDONED_AFTER_MS = 60 * 60_000
/** A renamed-away stale lock is deleted at once by its breaker; one still there after a minute is junk. */
const GRAVE_AFTER_MS = 60_000

const TEMP_NAME = new RegExp(`${TEMP_MARKER.replace('.', '\\.')}(\\d+)-[0-9a-f]+$`)
export const ENTRY_FOLDER = /^[0-9a-f]{2}$/
const LOCK_NAME = /^([0-9a-f]{64})\.lock$/
const GRAVE_NAME = /^[0-9a-f]{64}\.lock\.stale-\d+-[0-9a-f]+$/
const JOURNAL_NAME = /^([0-9a-f]{64})\.json$/

/** Reports a folder housekeeping or prune would not enter (a link, or leading outside the cache). */
export type SkipReporter = (message: string) => void

export async function cleanLeftovers(store: CacheStore, locks: KeyLocks, skipped: SkipReporter = () => {}): Promise<string[]> {
  const removed: string[] = []
  const folders = await entryFolders(store.dir, skipped)
  const lockDir = await workFolder(store.dir, 'locks', skipped)
  const journals = await workFolder(store.dir, 'journal', skipped)

  for (const folder of [...folders, lockDir, journals]) {
    if (!folder) continue
    for (const entry of await readdir(folder, { withFileTypes: true }).catch(() => [])) {
      if (entry.isDirectory()) continue
      const name = entry.name
      const file = path.join(folder, name)
      const temp = TEMP_NAME.exec(name)
      if (temp) {
        if (!isProcessAlive(Number(temp[1])) || (await ageOf(file)) > ABANDONED_AFTER_MS) await remove(file, removed)
      } else if (folder === lockDir && GRAVE_NAME.test(name)) {
        if ((await ageOf(file)) > GRAVE_AFTER_MS) await remove(file, removed)
      } else if (folder === lockDir && LOCK_NAME.test(name)) {
        if (await locks.breakIfStale(LOCK_NAME.exec(name)![1]!)) removed.push(file)
      } else if (folder === journals && JOURNAL_NAME.test(name)) {
        // Killed between committing the sidecar and removing the journal: the entry is complete.
        const key = JOURNAL_NAME.exec(name)![1]!
        if (isKey(key) && (await store.inspect(key).catch(() => undefined))?.status === 'hit') await remove(file, removed)
      }
    }
  }
  return removed
}

/**
 * The entry folders (`ab/`) of a cache folder that are real folders inside it. A link named like one is
 * reported and left alone: neither its files nor what it points at belong to the cache.
 */
export async function entryFolders(cacheDir: string, skipped: SkipReporter): Promise<string[]> {
  const folders: string[] = []
  for (const entry of await readdir(cacheDir, { withFileTypes: true }).catch(() => [])) {
    if (!ENTRY_FOLDER.test(entry.name)) continue
    if (entry.isSymbolicLink()) {
      skipped(`${path.join(cacheDir, entry.name)} is a symbolic link, not an entry folder: left alone (remove the link)`)
      continue
    }
    if (!entry.isDirectory()) continue
    const safe = await safeFolder(cacheDir, entry.name).catch(() => undefined)
    if (safe?.ok) folders.push(safe.dir)
    else skipped(`${path.join(cacheDir, entry.name)} leads outside the cache folder: left alone`)
  }
  return folders
}

async function workFolder(cacheDir: string, sub: string, skipped: SkipReporter): Promise<string | undefined> {
  const safe = await safeFolder(cacheDir, WORK_DIR, sub).catch(() => undefined)
  if (safe?.ok) return safe.dir
  if (safe && safe.state !== 'missing') {
    skipped(`${safe.at} is ${safe.state === 'symlink' ? 'a symbolic link' : safe.state === 'outside' ? 'outside the cache folder' : 'not a folder'}: not cleaned (remove it)`)
  }
  return undefined
}

async function ageOf(file: string): Promise<number> {
  const info = await lstat(file).catch(() => undefined)
  return info ? Date.now() - info.mtimeMs : 0
}

async function remove(file: string, removed: string[]): Promise<void> {
  await rm(file, { force: true })
  removed.push(file)
}
