/**
 * Reading a file someone else chose (an input image, a spec file, a committed cache entry), bounded: it is
 * opened once with `O_NOFOLLOW` (a link is refused, never followed) and `O_NONBLOCK` (a FIFO cannot block
 * the build), the same descriptor must be a regular file, and its size is checked before a byte is read,
 * so a link to `/dev/zero` or a multi-gigabyte file costs one `fstat`. One byte of room past the size it
 * reported tells a file that grew while it was read (refused) from one that did not.
 *
 * The calls are synchronous behind an async signature: builds read a handful of small files per import,
 * from the page cache, and each asynchronous call costs about ten times its synchronous twin in thread-pool
 * round trips (the warm-build benchmark measures it).
 *
 * Callers turn a problem into their own message (which spec or entry, which field, what to do); nothing
 * here throws. The cache (`cache/safe-fs.ts`) and the project's inputs (`read-inside-root.ts`) both read here.
 */
import { closeSync, constants, fstatSync, lstatSync, openSync, readSync, type Stats } from 'node:fs'
import path from 'node:path'

/** Where the platform has no `O_NOFOLLOW` (Windows), an `lstat` before the open refuses links instead. */
const NOFOLLOW = constants.O_NOFOLLOW ?? 0
const NONBLOCK = constants.O_NONBLOCK ?? 0

export type FileProblem =
  | { kind: 'missing' }
  | { kind: 'symlink' }
  /** A folder, FIFO, device or socket; `what` names it ("a directory", "a FIFO (named pipe)", …). */
  | { kind: 'not-file'; what: string }
  | { kind: 'too-large'; size: number; max: number }
  /** Not the size the caller expected (a cache record says how long its file is). */
  | { kind: 'size'; size: number; expected: number }
  /** Its length changed while it was read (a write in progress, or a file that grows). */
  | { kind: 'changed' }
  | { kind: 'unreadable'; code: string }

export type FileRead = { ok: true; data: Buffer; stats: Stats } | { ok: false; problem: FileProblem }

/**
 * The bytes of a regular file (no link followed), at most `maxBytes` and, when given, exactly
 * `expectedBytes` long; checked on the open file before it is read.
 */
export async function readRegularFile(file: string, limits: { maxBytes: number; expectedBytes?: number }): Promise<FileRead> {
  let fd
  try {
    if (!NOFOLLOW && lstatSync(file).isSymbolicLink()) return { ok: false, problem: { kind: 'symlink' } }
    fd = openSync(file, constants.O_RDONLY | NOFOLLOW | NONBLOCK)
  } catch (error) {
    return { ok: false, problem: openProblem(error) }
  }
  try {
    const stats = fstatSync(fd)
    if (!stats.isFile()) return { ok: false, problem: { kind: 'not-file', what: kindOf(stats) } }
    if (stats.size > limits.maxBytes) return { ok: false, problem: { kind: 'too-large', size: stats.size, max: limits.maxBytes } }
    if (limits.expectedBytes !== undefined && stats.size !== limits.expectedBytes) {
      return { ok: false, problem: { kind: 'size', size: stats.size, expected: limits.expectedBytes } }
    }
    const buffer = Buffer.allocUnsafe(stats.size + 1)
    let filled = 0
    while (filled < buffer.length) {
      const bytesRead = readSync(fd, buffer, filled, buffer.length - filled, filled)
      if (bytesRead === 0) break
      filled += bytesRead
    }
    if (filled !== stats.size) return { ok: false, problem: { kind: 'changed' } }
    return { ok: true, data: buffer.subarray(0, filled), stats }
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
  // A socket cannot be opened; a folder can be on some systems and not others.
  if (code === 'ENXIO') return { kind: 'not-file', what: 'a socket' }
  if (code === 'EISDIR') return { kind: 'not-file', what: 'a directory' }
  return { kind: 'unreadable', code }
}

function kindOf(stats: Stats): string {
  if (stats.isDirectory()) return 'a directory'
  if (stats.isFIFO()) return 'a FIFO (named pipe)'
  if (stats.isCharacterDevice() || stats.isBlockDevice()) return 'a device'
  if (stats.isSocket()) return 'a socket'
  return 'a special file'
}

/** Whether `child` is `parent` or below it (both absolute, normalized). Lexical: callers pass real paths. */
export function isInside(parent: string, child: string): boolean {
  const relative = path.relative(parent, child)
  return relative === '' || (relative !== '..' && !relative.startsWith(`..${path.sep}`) && !path.isAbsolute(relative))
}

export function codeOf(error: unknown): string {
  return String((error as NodeJS.ErrnoException | undefined)?.code ?? 'EUNKNOWN')
}
