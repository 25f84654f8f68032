/**
 * What a killed process leaves behind, cleaned by the next run that generates: temp files of interrupted
 * atomic writes (`….tmp-<pid>-<rand>`: never read, since only a rename makes a file visible under its real
 * name), locks of dead owners and broken-lock leftovers, and journals whose entry was committed after all. A temp file of a process
 * that is still alive is left alone, unless it is far too old to belong to a write in progress.
 */
import { readdir, rm, stat } from 'node:fs/promises'
import path from 'node:path'
import { isProcessAlive, type KeyLocks } from './lock.js'
import { TEMP_MARKER, type CacheStore } from './store.js'
import { workPath } from './workdir.js'

/** No single write takes this long: a temp file older than this is a leftover whatever its pid says. */
const ABANDONED_AFTER_MS = 60 * 60_000
/** A renamed-away stale lock is deleted at once by its breaker; one still there after a minute is junk. */
const GRAVE_AFTER_MS = 60_000

const TEMP_NAME = new RegExp(`${TEMP_MARKER.replace('.', '\\.')}(\\d+)-[0-9a-f]+$`)
const ENTRY_FOLDER = /^[0-9a-f]{2}$/

export async function cleanLeftovers(store: CacheStore, locks: KeyLocks): Promise<string[]> {
  const removed: string[] = []
  const folders = (await list(store.dir)).filter((name) => ENTRY_FOLDER.test(name)).map((name) => path.join(store.dir, name))
  const lockDir = workPath(store.dir, 'locks')
  const journals = workPath(store.dir, 'journal')

  for (const folder of [...folders, lockDir, journals]) {
    for (const name of await list(folder)) {
      const file = path.join(folder, name)
      const temp = TEMP_NAME.exec(name)
      if (temp) {
        if (!isProcessAlive(Number(temp[1])) || (await ageOf(file)) > ABANDONED_AFTER_MS) await remove(file, removed)
      } else if (folder === lockDir && name.includes('.lock.stale-')) {
        if ((await ageOf(file)) > GRAVE_AFTER_MS) await remove(file, removed)
      } else if (folder === lockDir && name.endsWith('.lock')) {
        if (await locks.breakIfStale(name.slice(0, -'.lock'.length))) removed.push(file)
      } else if (folder === journals && name.endsWith('.json')) {
        // Killed between committing the sidecar and removing the journal: the entry is complete.
        const key = name.slice(0, -'.json'.length)
        if ((await store.inspect(key)).status === 'hit') await remove(file, removed)
      }
    }
  }
  return removed
}

async function list(dir: string): Promise<string[]> {
  return readdir(dir).catch(() => [])
}

async function ageOf(file: string): Promise<number> {
  const info = await stat(file).catch(() => undefined)
  return info ? Date.now() - info.mtimeMs : 0
}

async function remove(file: string, removed: string[]): Promise<void> {
  await rm(file, { force: true })
  removed.push(file)
}
