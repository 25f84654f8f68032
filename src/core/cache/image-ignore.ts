/**
 * `<cacheDir>/.gitignore` of a project whose images live in a remote cache (`remote.commitImages: false`):
 * only the sidecars are committed (small and reviewable: prompt, model, SHA-256, revised prompt, cost), and the
 * image files beside them, fetched from the remote and kept on this machine, stay out of git.
 *
 * The file is the plugin's own (its first line says so): written when the cache first takes an entry with
 * images ignored, rewritten when its patterns change, and removed when a project commits its images again.
 * A `.gitignore` of the project's own is left as it is (the caller warns once). Never written through a link.
 */
import { lstat, readFile, rm } from 'node:fs/promises'
import path from 'node:path'
import { IMAGE_EXTENSIONS } from '../image-format.js'
import { ensureCacheFolder } from './cache-folder.js'
import { atomicWrite } from './store.js'

export const IMAGE_IGNORE_FILE = '.gitignore'
const MARKER = '# unplugin-ai-image: remote.commitImages is false'

/** The file's text: the marker, why, and one pattern per image extension the cache writes. */
export function imageIgnoreText(): string {
  return [
    MARKER,
    '# Image files come from the remote cache, verified against the SHA-256 their committed sidecar (*.json) records.',
    '# Written by the plugin; it is removed again when remote.commitImages is true.',
    ...IMAGE_EXTENSIONS.map((extension) => `*.${extension}`),
    '',
  ].join('\n')
}

/**
 * Make the cache folder's `.gitignore` say what `commitImages` says. Returns `foreign` when images should be
 * ignored but a `.gitignore` that is not the plugin's is in place (left alone: the project keeps its own).
 */
export async function maintainImageIgnore(cacheDir: string, commitImages: boolean): Promise<'foreign' | undefined> {
  const file = path.join(cacheDir, IMAGE_IGNORE_FILE)
  const current = await fileState(file)
  const ours = current.kind === 'file' && current.text.startsWith(MARKER)
  if (commitImages) {
    if (ours) await rm(file, { force: true })
    return undefined
  }
  const wanted = imageIgnoreText()
  if (current.kind === 'file' && current.text === wanted) return undefined
  if (current.kind === 'other' || (current.kind === 'file' && !ours)) return 'foreign'
  await ensureCacheFolder(cacheDir)
  await atomicWrite(file, wanted)
  return undefined
}

/** Absent, a small regular file and its text, or anything else (a link, a folder, a huge file: never ours). */
async function fileState(file: string): Promise<{ kind: 'absent' } | { kind: 'file'; text: string } | { kind: 'other' }> {
  const stats = await lstat(file).catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return undefined
    throw error
  })
  if (!stats) return { kind: 'absent' }
  if (!stats.isFile() || stats.size > 64 * 1024) return { kind: 'other' }
  return { kind: 'file', text: await readFile(file, 'utf8') }
}
