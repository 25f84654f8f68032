/**
 * `<cacheDir>/.work/`: what one machine needs while generating and nothing a colleague needs: the locks
 * per key (`locks/`) and the journals of unfinished generations (`journal/`). It ignores itself in git
 * (a `.gitignore` of `*`), and is removed again when a run ends with nothing left in it.
 *
 * It lives in a folder anyone can commit to, so it is used only as real folders: a link in the place of
 * `.work/` or one of its folders is an error naming it (for writes) or skipped (for the tidy-up), never
 * followed.
 */
import { readdir, rm, rmdir, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { ensureCacheFolder, writeFailure } from './cache-folder.js'
import { safeFolder } from './safe-fs.js'

export const WORK_DIR = '.work'

export function workPath(cacheDir: string, ...parts: string[]): string {
  return path.join(cacheDir, WORK_DIR, ...parts)
}

/** Create `<cacheDir>/.work/<sub>` (and the `.gitignore` that keeps it out of commits), through real folders only. */
export async function ensureWorkDir(cacheDir: string, sub: string): Promise<string> {
  const parts = sub === '.' ? [WORK_DIR] : [WORK_DIR, sub]
  return retryWhileTidied(async () => {
    const dir = await ensureCacheFolder(cacheDir, ...parts)
    const ignore = workPath(cacheDir, '.gitignore')
    // `wx`: created fresh, never written through a link of that name.
    await writeFile(ignore, '# Machine-local state of unplugin-ai-image (locks, unfinished generations)\n*\n', { flag: 'wx' }).catch(
      (error: NodeJS.ErrnoException) => {
        if (error.code !== 'EEXIST') throw writeFailure(error, workPath(cacheDir))
      },
    )
    return dir
  })
}

/**
 * Run a write into `.work/`, again if another process tidied the folder away under it (ENOENT): a process
 * that ends removes `.work/` when it looks empty, which can race with one that is just starting to use it.
 */
export async function retryWhileTidied<T>(write: () => Promise<T>, before?: () => Promise<unknown>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      await before?.()
      return await write()
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT' || attempt >= 5) throw error
    }
  }
}

/**
 * Remove `.work/` when it holds nothing but empty folders and its `.gitignore`. Only non-recursive removals,
 * so a lock another process is creating right now is never swept away with it; and only when `.work/` is
 * a real folder inside the cache (a committed link would lead the removals elsewhere).
 */
export async function tidyWorkDir(cacheDir: string): Promise<void> {
  const work = await safeFolder(cacheDir, WORK_DIR).catch(() => undefined)
  if (!work?.ok) return
  const root = work.dir
  const entries = await readdir(root, { withFileTypes: true }).catch(() => undefined)
  if (!entries) return
  for (const entry of entries) {
    // rmdir fails on a folder that still holds something (a journal, another process's lock): kept then.
    // A link is no folder here (`Dirent` does not follow it), so it is never removed through.
    if (entry.isDirectory()) await rmdir(path.join(root, entry.name)).catch(() => {})
  }
  const ignore = workPath(cacheDir, '.gitignore')
  if ((await readdir(root).catch(() => ['?'])).some((name) => name !== '.gitignore')) return
  await rm(ignore, { force: true })
  await rmdir(root).catch(async () => {
    // Someone started using it meanwhile: put the .gitignore back.
    await ensureWorkDir(cacheDir, '.').catch(() => {})
  })
}
