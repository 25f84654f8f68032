/**
 * Whole-cache transfers between the committed folder and a later tier (the remote cache), for `ai-image push`
 * and `ai-image pull`: every entry read is verified on the way (the folder's entries before they are pushed,
 * the tier's before they are kept), a few entries move at once, progress is reported entry by entry, and a
 * failure of the tier itself (unreachable, credentials refused) stops the transfer with the tier's own error.
 */
import pLimit from 'p-limit'
import type { CacheBackend } from './backend.js'
import type { CacheTiers } from './tiers.js'

/** Entries moved at once (each moves its images a few at a time). */
const ENTRIES_AT_ONCE = 4

export interface TransferProgress {
  /** Entries done so far (moved, skipped or refused). */
  done: number
  total: number
}

export interface TransferOptions {
  onProgress?(progress: TransferProgress): void
}

export interface PushReport {
  /** Entries of the folder the tier lacked, and now has. */
  pushed: string[]
  /** Entries the tier had already (counted from its listing, or found there when pushed: first writer wins). */
  already: number
  /** Entries of the folder that were not pushed, and why (refused by verification, images absent here). */
  skipped: Array<{ key: string; reason: string }>
}

export interface PullReport {
  /** Entries fetched from the tier, verified, and now in the folder. */
  pulled: string[]
  /** Asked-for entries the folder had already. */
  present: number
  /** Asked-for entries the tier does not have. */
  missing: string[]
  /** Entries the tier has but that were refused (tampered, unsigned, half-written), and why. */
  refused: Array<{ key: string; reason: string }>
}

/** Push every entry of the committed folder that `tier` lacks. */
export async function pushEntries(cache: CacheTiers, tier: CacheBackend, options: TransferOptions = {}): Promise<PushReport> {
  const [local, there] = await Promise.all([cache.local.keys(), tier.keys()])
  const have = new Set(there)
  const todo = local.filter((key) => !have.has(key))
  const report: PushReport = { pushed: [], already: local.length - todo.length, skipped: [] }
  await each(todo, options, async (key) => {
    const found = await cache.local.inspect(key)
    if (found.status !== 'hit') {
      report.skipped.push({ key, reason: found.status === 'corrupt' ? found.reason : 'its sidecar is gone' })
      return
    }
    const { sidecar, images } = found.entry
    const result = await tier.write({ sidecar, images: images.map((image) => image.data) })
    if (result === 'written') report.pushed.push(key)
    else report.already++
  })
  report.pushed.sort()
  return report
}

/** Pull `keys` (or every entry `tier` has) that the committed folder lacks, or holds without its images. */
export async function pullEntries(cache: CacheTiers, tier: CacheBackend, keys: readonly string[] | 'all', options: TransferOptions = {}): Promise<PullReport> {
  const wanted = [...new Set(keys === 'all' ? await tier.keys() : keys)]
  const report: PullReport = { pulled: [], present: 0, missing: [], refused: [] }
  await each(wanted, options, async (key) => {
    const here = await cache.local.inspect(key)
    if (here.status === 'hit') {
      report.present++
      return
    }
    const partial = here.status === 'corrupt' ? await cache.local.sidecarWithoutImages(key) : undefined
    const fetched = await cache.fetchFrom(tier, key, partial)
    if (fetched.status === 'hit') report.pulled.push(key)
    else if (fetched.status === 'miss') report.missing.push(key)
    else report.refused.push({ key, reason: fetched.reason })
  })
  report.pulled.sort()
  report.missing.sort()
  return report
}

/** Run `work` on every key, a few at once; the first failure stops the starting of more and is thrown. */
async function each(keys: readonly string[], options: TransferOptions, work: (key: string) => Promise<void>): Promise<void> {
  const limit = pLimit(ENTRIES_AT_ONCE)
  let done = 0
  let failed = false
  options.onProgress?.({ done, total: keys.length })
  const results = await Promise.allSettled(
    keys.map((key) =>
      limit(async () => {
        if (failed) return
        try {
          await work(key)
        } catch (error) {
          failed = true
          throw error
        }
        options.onProgress?.({ done: ++done, total: keys.length })
      }),
    ),
  )
  const failure = results.find((result): result is PromiseRejectedResult => result.status === 'rejected')
  if (failure) throw failure.reason
}
