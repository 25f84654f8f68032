/**
 * Reading a file that someone else chose (an input image, a mask, a spec file from a pull request) without
 * trusting it: its real path (symlinks resolved) must lie inside the real path of the project root; then
 * the ground floor's bounded reader (`regular-file.ts`, shared with the cache) reads it: a regular file only
 * (a FIFO would block the build forever, a device such as /dev/zero never ends), its size checked on the
 * opened descriptor before a byte is read, and a file that grows (or is swapped) while it is read refused
 * rather than read without bound.
 *
 * Callers turn a refusal into their own error (which spec, which field, what to do); nothing here throws.
 * The calls are synchronous behind the async signature, as in the reader: every import of a warm build
 * reads its spec file through here, and asynchronous file calls cost it ten times as much.
 */
import { realpathSync } from 'node:fs'
import path from 'node:path'
import { codeOf, isInside, readRegularFile, type FileProblem } from './regular-file.js'

export type FileRefusal =
  | { reason: 'missing' }
  | { reason: 'outside-root'; realPath: string }
  | { reason: 'not-regular'; kind: string }
  | { reason: 'too-large'; size: number; maxBytes: number }
  | { reason: 'changed' }
  | { reason: 'unreadable'; code: string }

export type FileRead = { ok: true; data: Buffer } | ({ ok: false } & FileRefusal)

export { isInside }

/** The whole file, at most `maxBytes` long, when it is a regular file whose real path is inside `root`. */
export async function readFileInsideRoot(file: string, root: string, maxBytes: number): Promise<FileRead> {
  const realRoot = realRootOf(root)
  let real: string
  try {
    real = realpathSync.native(file)
  } catch (error) {
    const code = codeOf(error)
    return code === 'ENOENT' || code === 'ENOTDIR' ? { ok: false, reason: 'missing' } : { ok: false, reason: 'unreadable', code }
  }
  if (!isInside(realRoot, real)) return { ok: false, reason: 'outside-root', realPath: real }
  // The real path has no link left: one that appears since is refused by the reader (never followed).
  const read = await readRegularFile(real, { maxBytes })
  return read.ok ? { ok: true, data: read.data } : { ok: false, ...refusalOf(read.problem, maxBytes) }
}

function refusalOf(problem: FileProblem, maxBytes: number): FileRefusal {
  switch (problem.kind) {
    case 'missing':
      return { reason: 'missing' }
    case 'not-file':
      return { reason: 'not-regular', kind: problem.what }
    case 'too-large':
      return { reason: 'too-large', size: problem.size, maxBytes }
    case 'symlink':
    case 'size':
    case 'changed':
      return { reason: 'changed' }
    case 'unreadable':
      return { reason: 'unreadable', code: problem.code }
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
