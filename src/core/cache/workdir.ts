/**
 * `<cacheDir>/.work/`: what one machine needs while generating and nothing a colleague needs: the locks
 * per key (`locks/`) and the journals of unfinished generations (`journal/`). It ignores itself in git
 * (a `.gitignore` of `*`), and is removed again when a run ends with nothing left in it.
 */
import { mkdir, readdir, rm, rmdir, writeFile } from 'node:fs/promises'
import path from 'node:path'

export const WORK_DIR = '.work'

export function workPath(cacheDir: string, ...parts: string[]): string {
  return path.join(cacheDir, WORK_DIR, ...parts)
}

/** Create `<cacheDir>/.work/<sub>` (and the `.gitignore` that keeps it out of commits). */
export async function ensureWorkDir(cacheDir: string, sub: string): Promise<string> {
  const dir = workPath(cacheDir, sub)
  await retryWhileTidied(async () => {
    await mkdir(dir, { recursive: true })
    await writeFile(workPath(cacheDir, '.gitignore'), '# Machine-local state of unplugin-ai-image (locks, unfinished generations)\n*\n', {
      flag: 'wx',
    }).catch((error: NodeJS.ErrnoException) => {
      if (error.code !== 'EEXIST') throw error
    })
  })
  return dir
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
 * so a lock another process is creating right now is never swept away with it.
 */
export async function tidyWorkDir(cacheDir: string): Promise<void> {
  const root = workPath(cacheDir)
  const entries = await readdir(root, { withFileTypes: true }).catch(() => undefined)
  if (!entries) return
  for (const entry of entries) {
    // rmdir fails on a folder that still holds something (a journal, another process's lock): kept then.
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
