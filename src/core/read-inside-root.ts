/**
 * Reading a file that someone else chose (an input image, a mask, a spec file from a pull request) without
 * trusting it: its real path (symlinks resolved) must lie inside the real path of the project root, it must
 * be a regular file (a FIFO would block the build forever, a device such as /dev/zero never ends), and its
 * size is checked on the opened descriptor before a byte is read. The same descriptor is checked and read,
 * and no more than the size it reported is accepted, so a file that grows (or is swapped) while it is read
 * is refused rather than read without bound.
 *
 * Callers turn a refusal into their own error (which spec, which field, what to do); nothing here throws.
 * The calls are synchronous behind the async signature, as in `cache/safe-fs.ts`: every import of a warm
 * build reads its spec file through here, and asynchronous file calls cost it ten times as much.
 */
import { closeSync, constants, fstatSync, openSync, readSync, realpathSync } from 'node:fs'
import type { Stats } from 'node:fs'
import path from 'node:path'

export type FileRefusal =
  | { reason: 'missing' }
  | { reason: 'outside-root'; realPath: string }
  | { reason: 'not-regular'; kind: string }
  | { reason: 'too-large'; size: number; maxBytes: number }
  | { reason: 'changed' }
  | { reason: 'unreadable'; code: string }

export type FileRead = { ok: true; data: Buffer } | ({ ok: false } & FileRefusal)

// O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer (forever). It changes nothing for
// a regular file. O_NOFOLLOW: the real path has no symlink left; one that appears since is refused.
// Both are POSIX-only (undefined on Windows, where symlinks need privileges and FIFOs do not exist as files).
const OPEN_FLAGS = constants.O_RDONLY | (constants.O_NONBLOCK ?? 0) | (constants.O_NOFOLLOW ?? 0)

/** Whether `file` (an absolute path) is `root` or lies below it. Lexical; callers pass real paths. */
export function isInside(root: string, file: string): boolean {
  const relative = path.relative(root, file)
  return relative === '' || (relative !== '..' && !relative.startsWith(`..${path.sep}`) && !path.isAbsolute(relative))
}

/** The whole file, at most `maxBytes` long, when it is a regular file whose real path is inside `root`. */
export async function readFileInsideRoot(file: string, root: string, maxBytes: number): Promise<FileRead> {
  const realRoot = realRootOf(root)
  let real: string
  try {
    real = realpathSync.native(file)
  } catch (error) {
    return refusalOf(error)
  }
  if (!isInside(realRoot, real)) return { ok: false, reason: 'outside-root', realPath: real }

  let fd
  try {
    fd = openSync(real, OPEN_FLAGS)
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code
    // A socket cannot be opened (ENXIO); a path that became a symlink since `realpath` is refused (ELOOP).
    if (code === 'ENXIO') return { ok: false, reason: 'not-regular', kind: 'a socket' }
    if (code === 'ELOOP') return { ok: false, reason: 'changed' }
    return refusalOf(error)
  }
  try {
    const stats = fstatSync(fd)
    if (!stats.isFile()) return { ok: false, reason: 'not-regular', kind: kindOf(stats) }
    if (stats.size > maxBytes) return { ok: false, reason: 'too-large', size: stats.size, maxBytes }
    // One byte of room past the reported size tells a file that grew from one that did not.
    const buffer = Buffer.allocUnsafe(stats.size + 1)
    let length = 0
    while (length < buffer.length) {
      const bytesRead = readSync(fd, buffer, length, buffer.length - length, length)
      if (bytesRead === 0) break
      length += bytesRead
    }
    if (length !== stats.size) return { ok: false, reason: 'changed' }
    return { ok: true, data: buffer.subarray(0, length) }
  } catch (error) {
    return refusalOf(error)
  } finally {
    try {
      closeSync(fd)
    } catch {
      // Nothing was left open to close.
    }
  }
}

/** Real paths of project roots, looked up once per process (every spec file read of a build asks). */
const realRoots = new Map<string, string>()

function realRootOf(root: string): string {
  let real = realRoots.get(root)
  if (real === undefined) {
    try {
      real = realpathSync.native(root)
      realRoots.set(root, real)
    } catch {
      // Not there (yet): no file can be read inside it anyway; asked again next time.
      return path.resolve(root)
    }
  }
  return real
}

function refusalOf(error: unknown): FileRead {
  const code = (error as NodeJS.ErrnoException).code ?? 'EIO'
  if (code === 'ENOENT' || code === 'ENOTDIR') return { ok: false, reason: 'missing' }
  if (code === 'EISDIR') return { ok: false, reason: 'not-regular', kind: 'a directory' }
  return { ok: false, reason: 'unreadable', code }
}

function kindOf(stats: Stats): string {
  if (stats.isDirectory()) return 'a directory'
  if (stats.isFIFO()) return 'a FIFO (named pipe)'
  if (stats.isCharacterDevice() || stats.isBlockDevice()) return 'a device'
  if (stats.isSocket()) return 'a socket'
  return 'a special file'
}

/** A refusal in words, for messages: `<shown> …`. */
export function describeRefusal(shown: string, refusal: FileRefusal): string {
  switch (refusal.reason) {
    case 'missing':
      return `${shown} does not exist`
    case 'outside-root':
      return `${shown} resolves to ${refusal.realPath}, outside the project root`
    case 'not-regular':
      return `${shown} is ${refusal.kind}, not a regular file`
    case 'too-large':
      return `${shown} is ${refusal.size} bytes, more than ${refusal.maxBytes}`
    case 'changed':
      return `${shown} changed while it was read`
    case 'unreadable':
      return `cannot read ${shown} (${refusal.code})`
  }
}
