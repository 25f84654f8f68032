/**
 * The cache folder as a place on disk: where it may be (never the project root or above it, where
 * `prune` and housekeeping would sweep the project), and clear errors when it cannot be used (a file in
 * its place, a read-only folder, a committed symbolic link among its own folders) instead of raw EACCES,
 * ENOTDIR or ELOOP. Errors are SPEC_INVALID on the option `cacheDir`: the fix is in the project's set-up.
 */
import { realpathSync } from 'node:fs'
import { access, constants, lstat, mkdir, stat } from 'node:fs/promises'
import path from 'node:path'
import { AiImageError } from '../errors.js'
import { codeOf, folderState, isInside } from './safe-fs.js'

const OPTION_LABEL = 'plugin options'

/**
 * Refuse a `cacheDir` that is the project root or one of its ancestors, by path and by real path (a
 * committed link `.ai-image → .` must not turn the project into the cache).
 */
export function checkCacheDirPlacement(root: string, cacheDir: string): void {
  const refuse = (how: string) =>
    new AiImageError(
      'SPEC_INVALID',
      `option "cacheDir" ${how} the project root or a folder above it (${cacheDir}); \`ai-image prune\` and the cache's housekeeping delete files there, ` +
        'so it must be a folder of its own inside the project, such as the default `.ai-image`. Set cacheDir to such a folder' +
        (how.includes('link') ? ', or remove the link and let the plugin create a real folder' : ''),
      { file: OPTION_LABEL, field: 'cacheDir' },
    )
  if (isInside(cacheDir, root)) throw refuse('is')
  if (isInside(realPathOf(cacheDir), realPathOf(root))) throw refuse('is a link that leads to')
}

/** The real path of `target`, or of its nearest existing ancestor joined with the rest. */
function realPathOf(target: string): string {
  const missing: string[] = []
  let current = path.resolve(target)
  for (;;) {
    try {
      return path.join(realpathSync.native(current), ...missing.reverse())
    } catch {
      const parent = path.dirname(current)
      if (parent === current) return path.resolve(target)
      missing.push(path.basename(current))
      current = parent
    }
  }
}

/** An error about a folder of the cache: what is wrong and what to do. */
export function cacheFolderError(folder: string, problem: string, fix: string): AiImageError {
  return new AiImageError('SPEC_INVALID', `the cache folder ${folder} ${problem}. ${fix}`, { field: 'cacheDir' })
}

export function symlinkError(folder: string): AiImageError {
  return cacheFolderError(
    folder,
    'is a symbolic link',
    'The folders of the cache must be real folders: a link (committed in a pull request, say) would make the plugin write or delete ' +
      `files outside the cache. Remove the link (\`rm ${folder}\`; it holds nothing the cache needs) and run again`,
  )
}

export function notAFolderError(folder: string): AiImageError {
  return cacheFolderError(folder, 'is a file, not a folder', `Move or remove that file, or set the option cacheDir to another folder`)
}

export function readOnlyError(folder: string): AiImageError {
  return cacheFolderError(
    folder,
    'is read-only for this process: new images cannot be written',
    'Make it writable (for example `chmod -R u+w` on it), or generate where it is writable (`npx ai-image generate`) and commit the result',
  )
}

/** A failed look into the cache folder (EACCES and the like), as an error saying what to do. */
export function unreadableError(folder: string, error: unknown): AiImageError {
  return cacheFolderError(folder, `cannot be read by this process (${codeOf(error)})`, 'Make it readable (for example `chmod -R u+rX` on it), or set the option cacheDir to another folder')
}

/** A failed write under `folder`, as the error a user can act on (or the error itself when it is another kind). */
export function writeFailure(error: unknown, folder: string): unknown {
  if (error instanceof AiImageError) return error
  const code = codeOf(error)
  if (code === 'EACCES' || code === 'EPERM' || code === 'EROFS') return readOnlyError(folder)
  if (code === 'ENOTDIR' || code === 'EEXIST') return notAFolderError(folder)
  if (code === 'ELOOP') return symlinkError(folder)
  return error
}

/**
 * Create `root/parts…` one folder at a time, never through a link: each existing part must be a real
 * folder (a link or a file is an error naming it), each missing one is created. `root` itself may be a
 * link the user chose; it is created with its parents when missing.
 */
export async function ensureCacheFolder(root: string, ...parts: string[]): Promise<string> {
  await ensureRoot(root)
  let dir = root
  for (const part of parts) {
    const parent = dir
    dir = path.join(dir, part)
    // A failed create names the folder it was to be created in: that is the one that is read-only.
    await mkdir(dir).catch((error: unknown) => {
      if (codeOf(error) !== 'EEXIST') throw writeFailure(error, parent)
    })
    const state = await folderState(dir)
    if (state === 'symlink') throw symlinkError(dir)
    if (state === 'not-folder') throw notAFolderError(dir)
    // Removed again at once by a process tidying `.work/` (workdir.ts): ENOENT, which the caller retries.
    if (state === 'missing') throw Object.assign(new Error(`${dir} was removed while being created`), { code: 'ENOENT' })
  }
  return dir
}

async function ensureRoot(root: string): Promise<void> {
  try {
    await mkdir(root, { recursive: true })
  } catch (error) {
    throw writeFailure(error, await blockingPath(root))
  }
  if (!(await stat(root)).isDirectory()) throw notAFolderError(root)
}

/** The first path on the way to `target` that is not a folder (a file in the way), else `target`. */
async function blockingPath(target: string): Promise<string> {
  let current = path.resolve(target)
  const chain: string[] = []
  while (path.dirname(current) !== current) {
    chain.unshift(current)
    current = path.dirname(current)
  }
  for (const dir of chain) {
    const info = await lstat(dir).catch(() => undefined)
    if (!info) return dir
    if (!info.isDirectory() && !info.isSymbolicLink()) return dir
  }
  return target
}

/** Throw the clear error when `folder` cannot take a new file (checked before anything is paid for). */
export async function assertWritable(folder: string): Promise<void> {
  try {
    await access(folder, constants.W_OK)
  } catch (error) {
    throw writeFailure(error, folder)
  }
}

/** When a read found nothing: a plain miss, unless the cache path is a file (an error saying so). */
export async function assertCacheRootIsFolder(root: string): Promise<void> {
  const info = await stat(root).catch(() => undefined)
  if (info && !info.isDirectory()) throw notAFolderError(root)
}
