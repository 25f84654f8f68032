/**
 * Writing a whole file so that readers see the old one or the new one, never half: a fresh temp file in the
 * target's folder (`wx`: never one a link of the same name would lead elsewhere), then a rename. The cache and
 * the gallery's static sheet write through it.
 */
import { randomBytes } from 'node:crypto'
import { mkdir, rename, rm, writeFile } from 'node:fs/promises'
import path from 'node:path'

/** Marker in temp-file names, so a later run can find and remove leftovers of a killed process. */
export const TEMP_MARKER = '.tmp-'

/** The name of a temp file beside `target`, unique to this process and call. */
export function tempNameFor(target: string): string {
  return `${target}${TEMP_MARKER}${process.pid}-${randomBytes(4).toString('hex')}`
}

/** Temp file in the target's folder, then rename: readers see the old file, or the whole new one. */
export async function atomicWrite(target: string, data: string | Uint8Array): Promise<void> {
  await mkdir(path.dirname(target), { recursive: true })
  const temp = tempNameFor(target)
  try {
    await writeFile(temp, data, { flag: 'wx' })
    await rename(temp, target)
  } catch (error) {
    await rm(temp, { force: true })
    throw error
  }
}
