/**
 * The cache as the rest of the core sees it: the committed folder first, then the tiers after it (a remote
 * cache), in the order `backends.ts` lists them. A read that the committed folder misses asks the next tiers,
 * and a hit there is copied into the folder (so the next build, and the warm path, find it locally); a
 * generated entry is committed locally and then offered to every later tier; a key is locked in every tier
 * before it is generated. Only the committed folder keeps drafts (resumable generations) and offers the warm
 * look: the others are whole-entry stores.
 */
import type { CacheBackend, CacheEntry, HeldLock, Inspection, LockAttempt } from './backend.js'
import type { EntryDraft } from './draft.js'
import type { SkipReporter } from './housekeeping.js'
import type { LocalCache } from './local.js'
import type { PruneReport } from './prune.js'

export class CacheTiers {
  constructor(
    readonly local: LocalCache,
    /** The tiers after the committed folder, opened on first use (a warm build never asks). */
    private readonly others: () => Promise<readonly CacheBackend[]>,
    private readonly warn: (message: string) => void,
  ) {}

  /** Verified reads and image files written in the committed folder since it was opened. */
  get counts(): { readonly verifiedReads: number; readonly imagesWritten: number } {
    return this.local.store.counts
  }

  /** The entry of `key` from the first tier that has a valid one; a corrupt local entry is reported as such when no tier has it. */
  async inspect(key: string): Promise<Inspection> {
    const found = await this.local.inspect(key)
    if (found.status === 'hit') return found
    for (const tier of await this.others()) {
      const remote = await tier.inspect(key).catch((error: unknown): Inspection => {
        this.warn(`cache tier ${tier.name}: ${(error as Error).message}; looked elsewhere`)
        return { status: 'miss' }
      })
      if (remote.status === 'corrupt') this.warn(`cache tier ${tier.name}: entry ${key.slice(0, 12)} is not usable (${remote.reason})`)
      if (remote.status !== 'hit') continue
      try {
        await this.local.write({ sidecar: remote.entry.sidecar, images: remote.entry.images.map((image) => image.data) })
        const copied = await this.local.inspect(key)
        if (copied.status === 'hit') return copied
      } catch (error) {
        this.warn(`could not copy entry ${key.slice(0, 12)} from ${tier.name} into ${this.local.name} (${(error as Error).message}); it is read from there on each build`)
      }
      return remote
    }
    return found
  }

  async read(key: string): Promise<CacheEntry | undefined> {
    const found = await this.inspect(key)
    return found.status === 'hit' ? found.entry : undefined
  }

  /** The warm look: the committed folder only (a remote entry is copied there by the first full read). */
  completeSidecar(key: string) {
    return this.local.completeSidecar(key)
  }

  /** The lock of `key` in every tier, the committed folder's first; refused (nothing held) when any tier refuses. */
  async tryLock(key: string): Promise<LockAttempt> {
    const held: HeldLock[] = []
    for (const tier of [this.local, ...(await this.others())]) {
      const attempt = await tier.tryLock(key)
      if (!attempt.lock) {
        for (const lock of held.reverse()) await lock.release()
        return attempt
      }
      held.push(attempt.lock)
    }
    return { lock: { release: async () => void (await Promise.all(held.map((lock) => lock.release()))) } }
  }

  /** A generation of `key`: written and journaled in the committed folder; once committed, offered to every later tier. */
  draft(key: string): Promise<EntryDraft> {
    return this.local.draft(key, () => this.offer(key))
  }

  keptCandidates(key: string): Promise<number[]> {
    return this.local.keptCandidates(key)
  }

  tidyLeftovers(skipped: SkipReporter): Promise<string[]> {
    return this.local.tidyLeftovers(skipped)
  }

  endRun(): Promise<void> {
    return this.local.endRun()
  }

  /** Prune the committed folder (the other tiers are shared; pruning them is not one machine's call). */
  prune(used: ReadonlySet<string>, dryRun: boolean, report?: PruneReport): Promise<number> {
    return this.local.prune(used, dryRun, report)
  }

  /** Offer a committed entry to every later tier; a tier that refuses or fails only warns (the entry is committed). */
  private async offer(key: string): Promise<void> {
    const others = await this.others()
    if (others.length === 0) return
    const entry = await this.local.store.read(key)
    if (!entry) return
    for (const tier of others) {
      await tier.write({ sidecar: entry.sidecar, images: entry.images.map((image) => image.data) }).catch((error: unknown) => {
        this.warn(`could not store entry ${key.slice(0, 12)} in ${tier.name} (${(error as Error).message}); it stays in ${this.local.name}`)
      })
    }
  }
}
