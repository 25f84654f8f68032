/**
 * The journal of an unfinished generation: `<cacheDir>/.work/journal/<key>.json`, rewritten (atomically)
 * each time one call's images land in the cache folder, and removed once the sidecar commits the entry.
 * When a build fails or is killed between the two, the next run reads it back and requests only the
 * candidates it does not list: what was paid for is kept. Only the holder of the key's lock writes it.
 *
 * Images named in a journal are verified against their SHA-256 like any cache read; one that does not
 * match is simply generated again.
 */
import { readFile, rm } from 'node:fs/promises'
import path from 'node:path'
import { sha256 } from './key.js'
import { atomicWrite, type CacheStore, type CachedImage, type SidecarImage } from './store.js'
import { ensureWorkDir, retryWhileTidied, workPath } from './workdir.js'

export interface JournalState {
  key: string
  /** Candidates already written to the cache folder, by index. */
  images: Record<string, SidecarImage>
  usage: Record<string, unknown> | null
  /** Unix seconds of the first answer. */
  created: number
  request_ids: string[]
}

export function emptyJournal(key: string): JournalState {
  return { key, images: {}, usage: null, created: 0, request_ids: [] }
}

export class Journal {
  /** Writes of one key, in order, so an older snapshot never lands after a newer one. */
  private readonly writes = new Map<string, Promise<void>>()

  constructor(private readonly store: CacheStore) {}

  file(key: string): string {
    return workPath(this.store.dir, 'journal', `${key}.json`)
  }

  /** The journal of `key` with only the candidates whose bytes still verify, and those bytes. */
  async resume(key: string): Promise<{ state: JournalState; kept: Map<number, CachedImage> }> {
    const kept = new Map<number, CachedImage>()
    let state: JournalState
    try {
      state = JSON.parse(await readFile(this.file(key), 'utf8')) as JournalState
      if (state.key !== key || typeof state.images !== 'object' || state.images === null) throw new Error('not this key')
    } catch {
      return { state: emptyJournal(key), kept }
    }
    const verified: Record<string, SidecarImage> = {}
    for (const [index, image] of Object.entries(state.images)) {
      if (typeof image?.file !== 'string' || path.basename(image.file) !== image.file) continue
      const file = path.join(this.store.folderOf(key), image.file)
      const data = await readFile(file).catch(() => undefined)
      if (!data || data.length !== image.bytes || sha256(data) !== image.sha256) continue
      verified[index] = image
      kept.set(Number(index), { ...image, path: file, data })
    }
    return {
      state: {
        key,
        images: verified,
        usage: state.usage && typeof state.usage === 'object' ? state.usage : null,
        created: typeof state.created === 'number' ? state.created : 0,
        request_ids: Array.isArray(state.request_ids) ? state.request_ids.filter((id) => typeof id === 'string') : [],
      },
      kept,
    }
  }

  /** Persist `state` as it is when the write runs (later calls see every earlier change). */
  record(state: JournalState): Promise<void> {
    const previous = this.writes.get(state.key) ?? Promise.resolve()
    const next = previous.then(() =>
      retryWhileTidied(
        () => atomicWrite(this.file(state.key), `${JSON.stringify(state, null, 2)}\n`),
        () => ensureWorkDir(this.store.dir, 'journal'),
      ),
    )
    const tracked = next.catch(() => {})
    this.writes.set(state.key, tracked)
    void tracked.then(() => {
      if (this.writes.get(state.key) === tracked) this.writes.delete(state.key)
    })
    return next
  }

  async remove(key: string): Promise<void> {
    await this.writes.get(key)
    await rm(this.file(key), { force: true })
  }
}
