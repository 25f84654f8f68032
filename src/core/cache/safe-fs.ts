/**
 * File access in a folder whose content is untrusted (the committed cache: anyone who can open a pull
 * request edits it; the derived cache: a restored CI cache). A committed symbolic link must never lead a
 * read, a write or a deletion out of it:
 *
 * - a file is opened with `O_NOFOLLOW` (a link is refused, never followed) and `O_NONBLOCK` (a FIFO cannot
 *   block the build), must be a regular file, and its size is checked before a byte is read, so a link
 *   to `/dev/zero` or a multi-gigabyte file costs one `fstat`;
 * - a folder is used only when it and every folder between it and the root of the cache are real folders
 *   (`lstat`, not links), and its real path is inside the real path of that root.
 *
 * Files are read by the ground floor's bounded reader (`regular-file.ts`), which the project's inputs share;
 * this module adds the folder rules and the cache's wording. The look at a folder is a synchronous call
 * behind an async signature, for the same reason as the reads (see there).
 */
import { lstatSync } from 'node:fs'
import { realpath } from 'node:fs/promises'
import path from 'node:path'
import { codeOf, isInside, readRegularFile, type FileProblem, type FileRead } from '../regular-file.js'

export { codeOf, isInside, readRegularFile, type FileProblem, type FileRead }

/** What a file problem is, in words, after the file's name. */
export function describeFileProblem(problem: FileProblem): string {
  switch (problem.kind) {
    case 'missing':
      return 'is missing'
    case 'symlink':
      return 'is a symbolic link (cache files must be regular files; a link is never followed)'
    case 'not-file':
      return `is ${problem.what}, not a regular file`
    case 'too-large':
      return `is too large (${problem.size} bytes; at most ${problem.max} are read)`
    case 'size':
      return `does not match its SHA-256 (it is ${problem.size} bytes, the record says ${problem.expected})`
    case 'changed':
      return 'changed while it was read'
    case 'unreadable':
      return `cannot be read (${problem.code})`
  }
}

export type FolderState = 'folder' | 'missing' | 'symlink' | 'not-folder'

/** What is at `dir`, without following a link there. */
export async function folderState(dir: string): Promise<FolderState> {
  try {
    const info = lstatSync(dir)
    return info.isSymbolicLink() ? 'symlink' : info.isDirectory() ? 'folder' : 'not-folder'
  } catch (error) {
    if (codeOf(error) === 'ENOENT' || codeOf(error) === 'ENOTDIR') return 'missing'
    throw error
  }
}

export type SafeFolder = { ok: true; dir: string } | { ok: false; state: Exclude<FolderState, 'folder'> | 'outside'; at: string }

/**
 * `root/parts…` when it exists and may be used: each folder from `root` down is a real folder, not a link,
 * and its real path lies inside the real path of `root` (`root` itself may be a link: the user chose it).
 */
export async function safeFolder(root: string, ...parts: string[]): Promise<SafeFolder> {
  let dir = root
  for (const part of parts) {
    dir = path.join(dir, part)
    const state = await folderState(dir)
    if (state !== 'folder') return { ok: false, state, at: dir }
  }
  if (parts.length > 0) {
    const [realRoot, realDir] = await Promise.all([realpath(root), realpath(dir)])
    if (!isInside(realRoot, realDir)) return { ok: false, state: 'outside', at: dir }
  }
  return { ok: true, dir }
}

