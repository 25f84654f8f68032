/**
 * The committed folder (`.ai-image/`) as a cache backend: the entries (`store.ts`), a lock per key across
 * processes (`lock.ts`), resumable generations (`draft.ts`, `journal.ts`), the housekeeping of what killed
 * processes leave behind, and prune. Everything about folders, stamps, journals and lock files stays here.
 */
import { readdir } from 'node:fs/promises'
import type { Clock } from '../clock.js'
import type { CacheBackend, LockAttempt, NewEntry } from './backend.js'
import type { EntryDraft } from './draft.js'
import type { SkipReporter } from './housekeeping.js'
import type { Journal } from './journal.js'
import type { KeyLocks } from './lock.js'
import type { PruneReport } from './prune.js'
import { CacheStore, ENTRY_FILE } from './store.js'
import { tidyWorkDir } from './workdir.js'

/**
 * The folder's locks, journals, housekeeping and prune load on first use: a warm build reads entries and
 * never generates, so it loads none of them.
 */
export class LocalCache implements CacheBackend {
  readonly store: CacheStore
  private locks: Promise<KeyLocks> | undefined
  private journal: Promise<Journal> | undefined

  constructor(
    dir: string,
    private readonly options: { clock?: Clock } = {},
  ) {
    this.store = new CacheStore(dir)
  }

  get name(): string {
    return this.store.dir
  }

  inspect(key: string) {
    return this.store.inspect(key)
  }

  completeSidecar(key: string) {
    return this.store.completeSidecar(key)
  }

  readSidecar(key: string) {
    return this.store.readSidecar(key)
  }

  /** Each image verified on its own (`CacheStore.inspectEach`). */
  inspectEach(key: string) {
    return this.store.inspectEach(key)
  }

  async write({ sidecar, images }: NewEntry): Promise<'written' | 'exists'> {
    const { key } = sidecar
    if ((await this.store.inspect(key)).status === 'hit') return 'exists'
    for (const [index, image] of sidecar.images.entries()) {
      const data = images[index]
      if (!data) throw new Error(`write: no bytes for image ${index} of ${key}`)
      const { mime, width, height, revised_prompt } = image
      const written = await this.store.writeImage(key, index, Buffer.from(data), { mime, width, height, ...(revised_prompt ? { revised_prompt } : {}) })
      if (written.sha256 !== image.sha256 || written.file !== image.file) throw new Error(`write: image ${index} of ${key} does not match its sidecar`)
    }
    await this.store.commit(sidecar)
    return 'written'
  }

  async remove(key: string): Promise<boolean> {
    const removed = await this.store.remove(key)
    if (removed) await (await this.journalOf()).remove(key)
    return removed
  }

  async keys(): Promise<string[]> {
    const { entryFolders } = await import('./housekeeping.js')
    const keys: string[] = []
    for (const folder of await entryFolders(this.store.dir, () => {})) {
      for (const name of await readdir(folder).catch(() => [])) {
        const match = ENTRY_FILE.exec(name)
        if (match && name.endsWith('.json')) keys.push(match[1]!)
      }
    }
    return keys.sort()
  }

  async tryLock(key: string): Promise<LockAttempt> {
    const { lock, owner } = await (await this.locksOf()).tryAcquire(key)
    return lock ? { lock } : owner ? { holder: `pid ${owner.pid}` } : {}
  }

  /**
   * The entry of `key` in the making (a generation): what an interrupted run kept, and where new candidates
   * go. `afterCommit` runs once the sidecar is written (the tiers offer the entry to the others).
   */
  async draft(key: string, afterCommit?: () => Promise<void>): Promise<EntryDraft> {
    const [{ EntryDraft }, journal] = await Promise.all([import('./draft.js'), this.journalOf()])
    return EntryDraft.open(this.store, journal, key, afterCommit)
  }

  /** Indices of the candidates an interrupted generation of `key` wrote that pass every check (for a dry run). */
  async keptCandidates(key: string): Promise<number[]> {
    return [...(await (await this.journalOf()).resume(key)).kept.keys()]
  }

  /** Remove what killed processes left (temp files, stale locks, journals of committed entries); returns the files removed. */
  async tidyLeftovers(skipped: SkipReporter): Promise<string[]> {
    const [{ cleanLeftovers }, locks] = await Promise.all([import('./housekeeping.js'), this.locksOf()])
    return cleanLeftovers(this.store, locks, skipped)
  }

  /** A run ended: machine-local state (`.work/`) goes when nothing is left in it. */
  endRun(): Promise<void> {
    return tidyWorkDir(this.store.dir)
  }

  /** Remove every entry whose key is not in `used` (`prune.ts`). */
  async prune(used: ReadonlySet<string>, dryRun: boolean, report?: PruneReport): Promise<number> {
    const [{ pruneEntries }, locks, journal] = await Promise.all([import('./prune.js'), this.locksOf(), this.journalOf()])
    return pruneEntries({ store: this.store, locks, journal }, used, dryRun, report)
  }

  private locksOf(): Promise<KeyLocks> {
    const { clock } = this.options
    return (this.locks ??= import('./lock.js').then(({ KeyLocks }) => new KeyLocks(this.store.dir, clock ? { clock } : {})))
  }

  private journalOf(): Promise<Journal> {
    return (this.journal ??= import('./journal.js').then(({ Journal }) => new Journal(this.store)))
  }
}
