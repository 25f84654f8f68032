/**
 * The cache as the rest of the core sees it: the committed folder first, then the tiers after it (a remote
 * cache), in the order `backends.ts` lists them. A read that the committed folder misses asks the next tiers,
 * and a hit there is copied into the folder (so the next build, and the warm path, find it locally); a
 * generated entry is committed locally and then offered to every later tier; a key is locked in every tier
 * before it is generated. Only the committed folder keeps drafts (resumable generations) and offers the warm
 * look: the others are whole-entry stores.
 */
import { isAiImageError } from '../errors.js'
import type { CacheBackend, CacheEntry, EntryLook, HeldLock, Inspection, Location, LockAttempt, SidecarLook } from './backend.js'
import type { EntryDraft } from './draft.js'
import { isKey, type Sidecar } from './entry.js'
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

  /**
   * The entry of `key` from the first tier that has a valid one; a corrupt local entry is reported as such
   * when no tier has it. A sidecar committed without its images (`commitImages: false`) gets them from a
   * content-addressed tier by their SHA-256. A tier that cannot be asked (its store unreachable, its
   * credentials refused) fails the lookup with its own error: a build must say that the shared cache is out
   * of reach, rather than blame missing specs or pay for what the shared cache may hold.
   */
  async inspect(key: string): Promise<Inspection> {
    const found = await this.local.inspect(key)
    if (found.status === 'hit') return found
    return this.fromLaterTiersOf(key, found)
  }

  /** After the committed folder's miss (or corrupt entry) `found`: the entry of the later tiers, as `inspect` says. */
  private async fromLaterTiersOf(key: string, found: Exclude<Inspection, { status: 'hit' }>): Promise<Inspection> {
    const tiers = await this.others()
    if (tiers.length === 0) return found
    const partial = found.status === 'corrupt' ? await this.local.sidecarWithoutImages(key) : undefined
    let reason = found.status === 'corrupt' ? found.reason : undefined
    for (const tier of tiers) {
      const fetched = await this.fetchFrom(tier, key, partial)
      if (fetched.status === 'hit') return fetched
      if (fetched.status === 'corrupt' && !tier.reportsRefusals) this.warn(`cache tier ${tier.name}: entry ${key.slice(0, 12)} is not usable (${fetched.reason})`)
      if (partial && reason) reason = `${reason}, and ${tier.name} does not have it`
    }
    return reason ? { status: 'corrupt', reason } : found
  }

  /**
   * The entry of `key` from one later tier, copied into the committed folder. `partial`: the committed
   * sidecar whose images are absent here, asked of a content-addressed tier by their SHA-256 first (the
   * committed sidecar stays as it is); failing that, the tier's whole entry. A failed copy only warns (the
   * verified entry is used from memory). The tier's own failures are thrown.
   */
  async fetchFrom(tier: CacheBackend, key: string, partial?: { sidecar: Sidecar; absent: readonly number[] }): Promise<Inspection> {
    if (partial && tier.imagesOf) {
      const images = await tier.imagesOf(partial.sidecar)
      if (images) return this.keepImages(partial.sidecar, partial.absent, images, tier)
    }
    const remote = await tier.inspect(key)
    if (remote.status !== 'hit') return remote
    try {
      const images = remote.entry.images.map((image) => image.data)
      return { status: 'hit', entry: await this.local.adopt(remote.entry.sidecar, images) }
    } catch (error) {
      this.warn(`could not copy entry ${key.slice(0, 12)} from ${tier.name} into ${this.local.name} (${(error as Error).message}); it is read from there on each build`)
    }
    return remote
  }

  /**
   * Where the entry of `key` is, reading no image a tier would have to send (`check`, `ls`, a dry run): the
   * committed folder (read and verified whole), else the first later tier whose checked sidecar it is.
   */
  async locate(key: string): Promise<Location> {
    const found = await this.local.inspect(key)
    if (found.status === 'hit') return { status: 'hit', where: 'local', sidecar: found.entry.sidecar }
    let reason = found.status === 'corrupt' ? found.reason : undefined
    for (const tier of await this.others()) {
      const look = tier.readSidecar ? await tier.readSidecar(key) : await tier.inspect(key).then((i): SidecarLook => (i.status === 'hit' ? { status: 'ok', sidecar: i.entry.sidecar } : i))
      if (look.status === 'ok') return { status: 'hit', where: 'remote', tier: tier.name, sidecar: look.sidecar }
      if (look.status === 'corrupt') reason = `${reason ? `${reason}; ` : ''}in ${tier.name}: ${look.reason}`
    }
    return reason ? { status: 'corrupt', reason } : { status: 'miss' }
  }

  /** The tiers after the committed folder (opened now if they were not yet). */
  tiersAfterLocal(): Promise<readonly CacheBackend[]> {
    return this.others()
  }

  /** Images fetched for a committed sidecar: written beside it (those that were absent), the entry returned. */
  private async keepImages(sidecar: Sidecar, absent: readonly number[], images: Buffer[], tier: CacheBackend): Promise<Inspection> {
    const key = sidecar.key
    const fetched: CacheEntry = { key, sidecar, images: sidecar.images.map((record, i) => ({ ...record, data: images[i]! })) }
    try {
      const entry = await this.local.adoptImages(sidecar, images, absent)
      if (absent.length === sidecar.images.length) return { status: 'hit', entry }
      // Some images were here already (unread so far): read the whole entry back, verified.
      const local = await this.local.inspect(key)
      if (local.status === 'hit') return local
    } catch (error) {
      this.warn(`could not write the images of entry ${key.slice(0, 12)} from ${tier.name} into ${this.local.name} (${(error as Error).message}); they are read from there on each build`)
    }
    return { status: 'hit', entry: fetched }
  }

  async read(key: string): Promise<CacheEntry | undefined> {
    const found = await this.inspect(key)
    return found.status === 'hit' ? found.entry : undefined
  }

  /** The warm look: the committed folder only (a remote entry is copied there by the first full read). */
  completeSidecar(key: string) {
    return this.local.completeSidecar(key)
  }

  /**
   * The lock of `key` in every tier that is written to, the committed folder's first; refused (nothing held)
   * when any tier refuses, and given back when one fails.
   */
  async tryLock(key: string): Promise<LockAttempt> {
    const held: HeldLock[] = []
    const giveBack = async () => {
      for (const lock of held.reverse()) await lock.release()
    }
    try {
      for (const tier of [this.local, ...(await this.others()).filter(isWritable)]) {
        const attempt = await tier.tryLock(key)
        if (!attempt.lock) {
          await giveBack()
          return attempt
        }
        held.push(attempt.lock)
      }
    } catch (error) {
      await giveBack()
      throw error
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
    // A gallery page shows what it has: a later tier that cannot be asked only warns here (builds fail on it).
    const later = await this.inspect(key).catch((error: unknown) => {
      this.warn(`${(error as Error).message}; shown from ${this.local.name} only`)
      return undefined
    })
    if (later?.status !== 'hit') return found
    const { sidecar, images } = later.entry
    return { status: 'read', sidecar, images: images.map(({ data, token: _token, ...record }) => ({ record, data })) }
  }

  /** Offer a committed entry to every later tier written to; a tier that refuses or fails only warns (the entry is committed). */
  private async offer(key: string): Promise<void> {
    const others = (await this.others()).filter(isWritable)
    if (others.length === 0) return
    const entry = await this.local.store.read(key)
    if (!entry) return
    for (const tier of others) {
      await tier.write({ sidecar: entry.sidecar, images: entry.images.map((image) => image.data) }).catch((error: unknown) => {
        this.warn(`could not store entry ${key.slice(0, 12)} in ${tier.name}: ${reasonOf(error, tier)}; it stays in ${this.local.name}, and \`ai-image push\` uploads it later`)
      })
    }
  }
}

function isWritable(tier: CacheBackend): boolean {
  return tier.writable !== false
}

/** What went wrong with a tier, for a warning that already names it: its error without the code and name. */
function reasonOf(error: unknown, tier: CacheBackend): string {
  const message = isAiImageError(error) ? error.bareMessage : error instanceof Error ? error.message : String(error)
  const named = `remote cache ${tier.name}: `
  return message.startsWith(named) ? message.slice(named.length) : message
}
