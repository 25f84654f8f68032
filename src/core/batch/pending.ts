/**
 * Never pay twice: what builds, the dev server and `generate` without `--batch` ask before they generate a
 * key — is a batch already making it? `PendingIndex` answers from the records of `<cacheDir>/batches/`
 * (`record.ts`), read again only when that folder changed (a record submitted, collected or removed by another
 * process), so a dev server that stays up sees a batch submitted from another terminal at its next miss.
 *
 * A pending key is a miss that must not be generated: `pendingMiss` makes the error a build lists at its end
 * (CACHE_MISS_FROZEN, like a frozen miss, with `data.pending` naming the batch and its age).
 */
import { lstat, readdir } from 'node:fs/promises'
import path from 'node:path'
import { formatAge } from '../clock.js'
import { AiImageError } from '../errors.js'
import { batchesDir, listPending, type PendingKey } from './record.js'

export { formatAge }

/** A batch's results arrive within this window (the Batch API's only `completion_window`). */
export const COMPLETION_WINDOW_SECONDS = 24 * 60 * 60

export interface PendingFacts {
  batch: string
  /** Unix seconds. */
  submitted: number
  ageSeconds: number
}

export class PendingIndex {
  #signature: string | undefined
  #byKey = new Map<string, PendingKey>()
  #reading: Promise<void> | undefined

  constructor(
    private readonly cacheDir: string,
    private readonly warn: (message: string) => void,
    private readonly now: () => number = () => Math.floor(Date.now() / 1000),
  ) {}

  /** The batch making `key`, if one is (its age as of now). */
  async get(key: string): Promise<PendingKey | undefined> {
    await this.refresh()
    const found = this.#byKey.get(key)
    return found && { ...found, ageSeconds: Math.max(0, this.now() - found.submitted) }
  }

  /** Every pending key, once each (the oldest batch of a key named twice). */
  async all(): Promise<ReadonlyMap<string, PendingKey>> {
    await this.refresh()
    const now = this.now()
    return new Map([...this.#byKey].map(([key, p]) => [key, { ...p, ageSeconds: Math.max(0, now - p.submitted) }]))
  }

  /** Read the records again if the folder's listing (names, sizes, times) changed since the last read. */
  async refresh(): Promise<void> {
    while (this.#reading) await this.#reading
    const signature = await folderSignature(batchesDir(this.cacheDir))
    if (signature === this.#signature) return
    this.#reading = (async () => {
      const byKey = new Map<string, PendingKey>()
      if (signature !== '') {
        for (const pending of await listPending(this.cacheDir, { warn: this.warn, now: this.now() })) {
          const known = byKey.get(pending.key)
          if (!known || pending.submitted < known.submitted) byKey.set(pending.key, pending)
        }
      }
      this.#byKey = byKey
      this.#signature = signature
    })().finally(() => (this.#reading = undefined))
    await this.#reading
  }
}

/** Names, sizes and modification times of a folder's entries; '' when it does not exist. */
async function folderSignature(dir: string): Promise<string> {
  const names = await readdir(dir).catch(() => undefined)
  if (!names) return ''
  const parts: string[] = []
  for (const name of names.sort()) {
    const info = await lstat(path.join(dir, name)).catch(() => undefined)
    if (info) parts.push(`${name}:${info.size}:${info.mtimeMs}:${info.ino}`)
  }
  return `dir|${parts.join('|')}`
}

/** How a pending key is described: its batch, when it was submitted, and what to run. */
export function describePending(pending: Pick<PendingKey, 'batchId' | 'ageSeconds'>): string {
  const late = pending.ageSeconds > COMPLETION_WINDOW_SECONDS
  return (
    `pending in batch ${pending.batchId}, submitted ${formatAge(pending.ageSeconds)} ago` +
    (late ? ' (its 24 h window has passed: what it finished is paid for and waits to be collected)' : '')
  )
}

/**
 * A build's miss of a pending key: not generated here (that would pay for it twice). CACHE_MISS_FROZEN, as
 * for a frozen miss, so a build lists it with the others at its end; `data.pending` tells them apart.
 */
export function pendingMiss(label: string, key: string, pending: PendingKey): AiImageError {
  const facts: PendingFacts = { batch: pending.batchId, submitted: pending.submitted, ageSeconds: pending.ageSeconds }
  return new AiImageError(
    'CACHE_MISS_FROZEN',
    `no cached image yet: ${describePending(pending)}, so it is not generated here (it would be paid twice). ` +
      'Collect it with `npx ai-image generate --batch` (add --wait to wait for it), or cancel the batch with `npx ai-image generate --batch --cancel`',
    { file: label, data: { key, pending: facts } },
  )
}
