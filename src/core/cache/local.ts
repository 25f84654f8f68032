/**
 * The committed folder (`.ai-image/`) as a cache backend: the entries (`store.ts`), a lock per key across
 * processes (`lock.ts`), resumable generations (`draft.ts`, `journal.ts`), the housekeeping of what killed
 * processes leave behind, and prune. Everything about folders, stamps, journals and lock files stays here.
 */
import { readdir } from 'node:fs/promises'
import path from 'node:path'
import type { Clock } from '../clock.js'
import type { CacheBackend, CacheEntry, CachedImage, LockAttempt, NewEntry } from './backend.js'
import type { Sidecar } from './entry.js'
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
export interface LocalCacheOptions {
  clock?: Clock
  /**
   * False when the project commits only sidecars (`remote.commitImages: false`): the folder then keeps a
   * `.gitignore` of its image files (`image-ignore.ts`). @default true
   */
  commitImages?: boolean
  warn?: (message: string) => void
}

export class LocalCache implements CacheBackend {
  readonly store: CacheStore
  private locks: Promise<KeyLocks> | undefined
  private journal: Promise<Journal> | undefined
  private ignoreChecked: Promise<void> | undefined

  constructor(
    dir: string,
    private readonly options: LocalCacheOptions = {},
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
    await this.beforeWrite()
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

  /**
   * Store an entry another tier read and verified (each image's bytes against its record's SHA-256, size and
   * header), as a generation stores one: the images, atomically, then the sidecar. Nothing is hashed again.
   * Returns the entry with the token of each image file as written (the warm path of the next build uses them).
   */
  async adopt(sidecar: Sidecar, images: readonly Buffer[]): Promise<CacheEntry> {
    const entry = await this.adoptImages(sidecar, images)
    await this.store.commit(sidecar)
    return entry
  }

  /**
   * The images of a committed sidecar, verified by another tier, written beside it (`commitImages: false`:
   * the sidecar is in git, the images come from the remote); the sidecar file is left as it is. `only`: the
   * indices to write (the others are here already; their token in the answer is then unknown).
   */
  async adoptImages(sidecar: Sidecar, images: readonly Buffer[], only?: readonly number[]): Promise<CacheEntry> {
    const { key } = sidecar
    if (images.length !== sidecar.images.length) throw new Error(`write: ${images.length} images for the ${sidecar.images.length} of entry ${key}`)
    await this.beforeWrite()
    const written: CachedImage[] = []
    for (const [index, record] of sidecar.images.entries()) {
      const data = images[index]!
      const token = !only || only.includes(index) ? await this.store.writeVerifiedImage(key, record, data) : undefined
      written.push({ ...record, data, ...(token ? { token } : {}) })
    }
    return { key, sidecar, images: written }
  }

  /** The checked sidecar of an entry committed without (some of) its images, and which are absent. */
  sidecarWithoutImages(key: string) {
    return this.store.sidecarWithoutImages(key)
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
    await this.beforeWrite()
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

  /**
   * Once per run, before the first entry is written: the folder's `.gitignore` of image files follows
   * `commitImages` (a warm build writes nothing, so it never looks). A problem with it only warns.
   */
  private beforeWrite(): Promise<void> {
    return (this.ignoreChecked ??= (async () => {
      const commitImages = this.options.commitImages ?? true
      try {
        const { maintainImageIgnore, IMAGE_IGNORE_FILE } = await import('./image-ignore.js')
        if ((await maintainImageIgnore(this.store.dir, commitImages)) === 'foreign') {
          this.options.warn?.(
            `remote.commitImages is false, but ${path.join(this.store.dir, IMAGE_IGNORE_FILE)} is not the plugin's: make sure it keeps the image files (*.png, *.jpg, *.webp, *.avif) out of git`,
          )
        }
      } catch (error) {
        this.options.warn?.(`could not update ${path.join(this.store.dir, '.gitignore')} (${(error as Error).message})`)
      }
    })())
  }

  private locksOf(): Promise<KeyLocks> {
    const { clock } = this.options
    return (this.locks ??= import('./lock.js').then(({ KeyLocks }) => new KeyLocks(this.store.dir, clock ? { clock } : {})))
  }

  private journalOf(): Promise<Journal> {
    return (this.journal ??= import('./journal.js').then(({ Journal }) => new Journal(this.store)))
  }
}
