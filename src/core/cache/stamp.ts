/**
 * File stamps, the way git's index avoids re-hashing files: size, mtime, ctime and inode of a file at the
 * moment its content was checked against its SHA-256. While a file's stamp is unchanged its content is
 * too: any write to it, or its replacement, moves its ctime or its inode (and nothing can set a ctime
 * back). A warm build compares stamps instead of reading and hashing hundreds of megabytes.
 */
import type { Stats } from 'node:fs'
import { open, stat } from 'node:fs/promises'

export interface FileStamp {
  size: number
  mtimeMs: number
  ctimeMs: number
  ino: number
}

export function stampOf(stats: Stats): FileStamp {
  return { size: stats.size, mtimeMs: stats.mtimeMs, ctimeMs: stats.ctimeMs, ino: stats.ino }
}

/** The stamp of a file, or undefined when it cannot be read. */
export function stampFile(file: string): Promise<FileStamp | undefined> {
  return stat(file).then(stampOf, () => undefined)
}

/**
 * A file's bytes and its stamp, both from one open file: the stamp is taken before the read, so a change
 * made during or after the read moves it, and a later comparison fails. Undefined when unreadable.
 */
export async function readStamped(file: string): Promise<{ data: Buffer; stamp: FileStamp } | undefined> {
  let handle
  try {
    handle = await open(file, 'r')
  } catch {
    return undefined
  }
  try {
    const stamp = stampOf(await handle.stat())
    return { data: await handle.readFile(), stamp }
  } catch {
    return undefined
  } finally {
    await handle.close()
  }
}

export function sameStamp(recorded: FileStamp | null | undefined, current: FileStamp | undefined): boolean {
  return (
    !!recorded &&
    !!current &&
    recorded.size === current.size &&
    recorded.mtimeMs === current.mtimeMs &&
    recorded.ctimeMs === current.ctimeMs &&
    recorded.ino === current.ino
  )
}
