/**
 * The file work of `ai-image prune`: remove the entries of the committed cache that no build uses (paid
 * images nobody imports any more), leftovers of interrupted runs, and derived files of images that are gone.
 * Which keys are used is the caller's to say; this never deletes one of them, never an entry another process
 * is generating right now (its lock is held), and never anything behind a symbolic link inside the cache
 * folder: prune never deletes outside it.
 */
import { readdir, rm } from 'node:fs/promises'
import path from 'node:path'
import { cleanLeftovers, entryFolders, type SkipReporter } from './housekeeping.js'
import type { Journal } from './journal.js'
import type { KeyLocks } from './lock.js'
import { ENTRY_FILE, type CacheStore } from './store.js'
import { tidyWorkDir } from './workdir.js'

export interface PruneReport {
  /** An unused entry: removed (or, with `dryRun`, to be removed), or kept because another process is generating it. */
  entry?(key: string, files: number, outcome: 'removed' | 'would-remove' | 'kept-locked'): void
  /** A folder prune would not enter (a link, or leading outside the cache). */
  skipped?: SkipReporter
}

/** Remove every entry whose key is not in `used`; returns how many were (or would be) removed. */
export async function pruneEntries(
  parts: { store: CacheStore; locks: KeyLocks; journal: Journal },
  used: ReadonlySet<string>,
  dryRun: boolean,
  report: PruneReport = {},
): Promise<number> {
  const { store, locks, journal } = parts
  const skipped = report.skipped ?? (() => {})
  const unused = [...(await cachedFiles(store.dir, skipped)).entries()].filter(([key]) => !used.has(key))
  let removed = 0
  for (const [key, files] of unused) {
    if (dryRun) {
      report.entry?.(key, files.length, 'would-remove')
      removed++
      continue
    }
    // Never pull an entry from under a process that is generating it.
    const { lock } = await locks.tryAcquire(key)
    if (!lock) {
      report.entry?.(key, files.length, 'kept-locked')
      continue
    }
    try {
      await store.remove(key)
      await journal.remove(key)
      // Files of a real entry folder (`cachedFiles`); a name that is a link loses the link, not its target.
      for (const file of files) await rm(file, { force: true })
    } finally {
      await lock.release()
    }
    report.entry?.(key, files.length, 'removed')
    removed++
  }
  if (!dryRun) {
    await cleanLeftovers(store, locks, skipped)
    await tidyWorkDir(store.dir)
  }
  return removed
}

/**
 * Every file of the committed cache, by the key it belongs to (sidecars, images, orphans of a failed run),
 * from real entry folders only: a link named like one is reported and never entered.
 */
async function cachedFiles(dir: string, skipped: SkipReporter): Promise<Map<string, string[]>> {
  const byKey = new Map<string, string[]>()
  for (const folder of await entryFolders(dir, skipped)) {
    for (const entry of await readdir(folder, { withFileTypes: true }).catch(() => [])) {
      const match = ENTRY_FILE.exec(entry.name)
      if (!match || entry.isDirectory()) continue
      const files = byKey.get(match[1]!) ?? []
      files.push(path.join(folder, entry.name))
      byKey.set(match[1]!, files)
    }
  }
  return byKey
}
