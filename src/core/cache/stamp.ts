/**
 * File stamps, the way git's index avoids re-hashing files: size, mtime, ctime and inode of a file at the
 * moment its content was checked against its SHA-256. While a file's stamp is unchanged its content is
 * too: any write to it, or its replacement, moves its ctime or its inode (and nothing can set a ctime
 * back). A warm build compares stamps instead of reading and hashing hundreds of megabytes.
 */
import { lstatSync, type Stats } from 'node:fs'
import type { FreshnessToken } from './backend.js'

export interface FileStamp {
  size: number
  mtimeMs: number
  ctimeMs: number
  ino: number
}

export function stampOf(stats: Stats): FileStamp {
  return { size: stats.size, mtimeMs: stats.mtimeMs, ctimeMs: stats.ctimeMs, ino: stats.ino }
}

/**
 * The stamp of a regular file, or undefined when there is none. A link is not followed (`lstat`): its own
 * stamp never matches one recorded when a regular file was verified, so a file replaced by a link is read
 * (and refused) again. (A synchronous `lstat` behind the async signature: see `safe-fs.ts`.)
 */
export async function stampFile(file: string): Promise<FileStamp | undefined> {
  try {
    const stats = lstatSync(file)
    return stats.isFile() ? stampOf(stats) : undefined
  } catch {
    return undefined
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

/** A stamp as the freshness token the committed folder gives callers (`backend.ts`): equal strings, equal stamps. */
export function tokenOf(stamp: FileStamp): FreshnessToken {
  return `${stamp.size}:${stamp.mtimeMs}:${stamp.ctimeMs}:${stamp.ino}`
}

/** The token of a regular file as it is now (no link followed), or undefined. */
export async function fileToken(file: string): Promise<FreshnessToken | undefined> {
  const stamp = await stampFile(file)
  return stamp && tokenOf(stamp)
}
