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
 * The file reads and the look at a folder are made with synchronous calls behind their async signatures: a
 * warm build makes a handful per import, of small files in the page cache, and each asynchronous call costs
 * ten times its synchronous twin in thread-pool round trips (the warm-build benchmark measures it). One
 * implementation, whatever the caller.
 */
import { closeSync, constants, fstatSync, lstatSync, openSync, readSync, type Stats } from 'node:fs'
import { realpath } from 'node:fs/promises'
import path from 'node:path'

/** Where the platform has no `O_NOFOLLOW` (Windows), an `lstat` before the open refuses links instead. */
const NOFOLLOW = constants.O_NOFOLLOW ?? 0
const NONBLOCK = constants.O_NONBLOCK ?? 0

export type FileProblem =
  | { kind: 'missing' }
  | { kind: 'symlink' }
  | { kind: 'not-file' }
  | { kind: 'too-large'; size: number; max: number }
  | { kind: 'size'; size: number; expected: number }
  | { kind: 'unreadable'; code: string }

export type FileRead = { ok: true; data: Buffer; stats: Stats } | { ok: false; problem: FileProblem }

/**
 * The bytes of a regular file (no link followed), at most `maxBytes` and, when given, exactly
 * `expectedBytes` long; checked on the open file before it is read.
 */
export async function readRegularFile(file: string, limits: { maxBytes: number; expectedBytes?: number }): Promise<FileRead> {
  return readRegularFileNow(file, limits)
}

function readRegularFileNow(file: string, limits: { maxBytes: number; expectedBytes?: number }): FileRead {
  let fd
  try {
    if (!NOFOLLOW && lstatSync(file).isSymbolicLink()) return { ok: false, problem: { kind: 'symlink' } }
    fd = openSync(file, constants.O_RDONLY | NOFOLLOW | NONBLOCK)
  } catch (error) {
    return { ok: false, problem: openProblem(error) }
  }
  try {
    const stats = fstatSync(fd)
    if (!stats.isFile()) return { ok: false, problem: { kind: 'not-file' } }
    if (stats.size > limits.maxBytes) return { ok: false, problem: { kind: 'too-large', size: stats.size, max: limits.maxBytes } }
    if (limits.expectedBytes !== undefined && stats.size !== limits.expectedBytes) {
      return { ok: false, problem: { kind: 'size', size: stats.size, expected: limits.expectedBytes } }
    }
    const data = Buffer.allocUnsafe(stats.size)
    let filled = 0
    while (filled < data.length) {
      const bytesRead = readSync(fd, data, filled, data.length - filled, filled)
      if (bytesRead === 0) break
      filled += bytesRead
    }
    // Shorter than its size said: it changed under us (a write in progress); the caller sees a mismatch.
    if (filled !== data.length) return { ok: false, problem: { kind: 'size', size: filled, expected: limits.expectedBytes ?? stats.size } }
    return { ok: true, data, stats }
  } catch (error) {
    return { ok: false, problem: { kind: 'unreadable', code: codeOf(error) } }
  } finally {
    closeSync(fd)
  }
}

function openProblem(error: unknown): FileProblem {
  const code = codeOf(error)
  // Linux and macOS answer ELOOP for a link opened with O_NOFOLLOW; FreeBSD answers EMLINK.
  if (code === 'ELOOP' || code === 'EMLINK') return { kind: 'symlink' }
  if (code === 'ENOENT' || code === 'ENOTDIR') return { kind: 'missing' }
  return { kind: 'unreadable', code }
}

/** What a file problem is, in words, after the file's name. */
export function describeFileProblem(problem: FileProblem): string {
  switch (problem.kind) {
    case 'missing':
      return 'is missing'
    case 'symlink':
      return 'is a symbolic link (cache files must be regular files; a link is never followed)'
    case 'not-file':
      return 'is not a regular file'
    case 'too-large':
      return `is too large (${problem.size} bytes; at most ${problem.max} are read)`
    case 'size':
      return `does not match its SHA-256 (it is ${problem.size} bytes, the record says ${problem.expected})`
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

/** Whether `child` is `parent` or below it (both absolute, normalized). */
export function isInside(parent: string, child: string): boolean {
  const relative = path.relative(parent, child)
  return relative === '' || (relative !== '..' && !relative.startsWith(`..${path.sep}`) && !path.isAbsolute(relative))
}

export function codeOf(error: unknown): string {
  return String((error as NodeJS.ErrnoException | undefined)?.code ?? 'EUNKNOWN')
}
