/**
 * A generation's entry in the making, in the committed folder: what was paid for is kept. Each candidate
 * lands in the entry's folder the moment it arrives and is noted in the key's journal (`journal.ts`), so a
 * failed call does not throw away its siblings and a later run requests only the candidates still missing;
 * the sidecar, written last by `commit`, makes the entry.
 */
import path from 'node:path'
import type { CachedImage, FreshnessToken } from './backend.js'
import type { Sidecar, SidecarImage } from './entry.js'
import type { Journal, JournalState } from './journal.js'
import { fileToken } from './stamp.js'
import type { CacheStore } from './store.js'

export class EntryDraft {
  private constructor(
    private readonly store: CacheStore,
    private readonly journal: Journal,
    readonly key: string,
    /** The journal's record: candidates written, usage, created, request ids. Noted by `save`. */
    readonly state: JournalState,
    /** Candidates an interrupted earlier run already wrote, verified like a cache entry, by index. */
    readonly kept: ReadonlyMap<number, CachedImage>,
    /** Why each candidate the journal listed but that was not kept was dropped (naming its file). */
    readonly dropped: readonly string[],
    private readonly afterCommit: (() => Promise<void>) | undefined,
  ) {}

  static async open(store: CacheStore, journal: Journal, key: string, afterCommit?: () => Promise<void>): Promise<EntryDraft> {
    const { state, kept, dropped } = await journal.resume(key)
    return new EntryDraft(store, journal, key, state, kept, dropped, afterCommit)
  }

  /**
   * Before anything is paid for: the entry's folder must be a real folder this process can write into (a
   * read-only cache, a file or a link in its place is a clear error now, not a paid image that cannot be stored).
   */
  prepare(): Promise<void> {
    return this.store.prepareFolder(this.key)
  }

  /** One candidate's bytes, written atomically; its sidecar record, and the token of its file as written. */
  async writeCandidate(
    index: number,
    data: Buffer,
    meta: { mime: string; width: number; height: number; revised_prompt?: string },
  ): Promise<{ record: SidecarImage; token: FreshnessToken | undefined }> {
    const record = await this.store.writeImage(this.key, index, data, meta)
    this.state.images[String(index)] = record
    return { record, token: await fileToken(path.join(this.store.folderOf(this.key), record.file)) }
  }

  /** Persist `state` (the journal) as it is now. */
  save(): Promise<void> {
    return this.journal.record(this.state)
  }

  /** Write the sidecar: from this moment the entry exists; the journal is no longer needed. */
  async commit(sidecar: Sidecar): Promise<void> {
    await this.store.commit(sidecar)
    await this.journal.remove(this.key)
    await this.afterCommit?.()
  }
}
