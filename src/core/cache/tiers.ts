/**
 * The cache as the rest of the core sees it: the committed folder first, then the tiers after it (a remote
 * cache), in the order `backends.ts` lists them. A read that the committed folder misses asks the next tiers,
 * and a hit there is copied into the folder (so the next build, and the warm path, find it locally); a
 * generated entry is committed locally and then offered to every later tier; a key is locked in every tier
 * before it is generated. Only the committed folder keeps drafts (resumable generations) and offers the warm
 * look: the others are whole-entry stores.
 */
import type { CacheBackend, CacheEntry, EntryLook, HeldLock, Inspection, LockAttempt, SidecarLook } from './backend.js'
import type { EntryDraft } from './draft.js'
import { isKey } from './entry.js'
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
    return (await this.fromLaterTiers(key)) ?? found
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

  /**
   * Keys of the entries of every tier, each once, sorted (a listing: nothing is verified). A tier that cannot
   * list only warns.
   */
  async keys(): Promise<string[]> {
    const keys = new Set(await this.local.keys())
    for (const tier of await this.others()) {
      const listed = await tier.keys().catch((error: unknown) => {
        this.warn(`cache tier ${tier.name}: could not list its entries (${(error as Error).message})`)
        return []
      })
      for (const key of listed) if (isKey(key)) keys.add(key)
    }
    return [...keys].sort()
  }

  /**
   * The checked sidecar of `key`, no image read: the committed folder's, else that of the first later tier
   * offering a sidecar-only read (a whole-entry store is not read whole for a listing). Nothing is copied.
   */
  async sidecar(key: string): Promise<SidecarLook> {
    if (!isKey(key)) return { status: 'corrupt', reason: `${JSON.stringify(String(key).slice(0, 80))} is not a cache key` }
    const found = await this.local.readSidecar(key)
    if (found.status === 'ok') return found
    for (const tier of await this.others()) {
      if (!tier.readSidecar) continue
      const look = await tier.readSidecar(key).catch((error: unknown): SidecarLook => {
        this.warn(`cache tier ${tier.name}: ${(error as Error).message}; looked elsewhere`)
        return { status: 'miss' }
      })
      if (look.status === 'ok') return look
    }
    return found
  }

  /**
   * `key` image by image (the gallery): the committed folder's images, each verified on its own; an entry the
   * folder lacks, or holds without all of its images, is read from the later tiers as `inspect` does (and
   * copied into the folder), else the folder's look stands.
   */
  async browse(key: string): Promise<EntryLook> {
    if (!isKey(key)) return { status: 'corrupt', reason: `${JSON.stringify(String(key).slice(0, 80))} is not a cache key` }
    const found = await this.local.inspectEach(key)
    if (found.status === 'read' && found.images.every((image) => 'data' in image)) return found
    const later = await this.fromLaterTiers(key)
    if (later?.status !== 'hit') return found
    const { sidecar, images } = later.entry
    return { status: 'read', sidecar, images: images.map(({ data, token: _token, ...record }) => ({ record, data })) }
  }

  /** A valid entry of a later tier, copied into the committed folder when it can be; undefined when none has it. */
  private async fromLaterTiers(key: string): Promise<Inspection | undefined> {
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
    return undefined
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
