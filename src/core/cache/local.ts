/**
 * The committed folder (`.ai-image/`) as a cache backend: the entries (`store.ts`), a lock per key across
 * processes (`lock.ts`), resumable generations (`draft.ts`, `journal.ts`), the housekeeping of what killed
 * processes leave behind, and prune. Everything about folders, stamps, journals and lock files stays here.
 */
import { readdir } from 'node:fs/promises'
import type { Clock } from '../clock.js'
import type { CacheBackend, LockAttempt, NewEntry } from './backend.js'
import { EntryDraft } from './draft.js'
import { cleanLeftovers, entryFolders, type SkipReporter } from './housekeeping.js'
import { Journal } from './journal.js'
import { KeyLocks } from './lock.js'
import { pruneEntries, type PruneReport } from './prune.js'
import { CacheStore, ENTRY_FILE } from './store.js'
import { tidyWorkDir } from './workdir.js'

export class LocalCache implements CacheBackend {
  readonly store: CacheStore
  private readonly locks: KeyLocks
  private readonly journal: Journal

  constructor(dir: string, options: { clock?: Clock } = {}) {
    this.store = new CacheStore(dir)
    this.locks = new KeyLocks(dir, options.clock ? { clock: options.clock } : {})
    this.journal = new Journal(this.store)
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
    if (removed) await this.journal.remove(key)
    return removed
  }

  async keys(): Promise<string[]> {
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
    const { lock, owner } = await this.locks.tryAcquire(key)
    return lock ? { lock } : owner ? { holder: `pid ${owner.pid}` } : {}
  }

  /**
   * The entry of `key` in the making (a generation): what an interrupted run kept, and where new candidates
   * go. `afterCommit` runs once the sidecar is written (the tiers offer the entry to the others).
   */
  draft(key: string, afterCommit?: () => Promise<void>): Promise<EntryDraft> {
    return EntryDraft.open(this.store, this.journal, key, afterCommit)
  }

  /** Indices of the candidates an interrupted generation of `key` wrote that pass every check (for a dry run). */
  async keptCandidates(key: string): Promise<number[]> {
    return [...(await this.journal.resume(key)).kept.keys()]
  }

  /** Remove what killed processes left (temp files, stale locks, journals of committed entries); returns the files removed. */
  tidyLeftovers(skipped: SkipReporter): Promise<string[]> {
    return cleanLeftovers(this.store, this.locks, skipped)
  }

  /** A run ended: machine-local state (`.work/`) goes when nothing is left in it. */
  endRun(): Promise<void> {
    return tidyWorkDir(this.store.dir)
  }

  /** Remove every entry whose key is not in `used` (`prune.ts`). */
  prune(used: ReadonlySet<string>, dryRun: boolean, report?: PruneReport): Promise<number> {
    return pruneEntries({ store: this.store, locks: this.locks, journal: this.journal }, used, dryRun, report)
  }
}
