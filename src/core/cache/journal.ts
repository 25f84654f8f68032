/**
 * The journal of an unfinished generation: `<cacheDir>/.work/journal/<key>.json`, rewritten (atomically)
 * each time one call's images land in the cache folder, and removed once the sidecar commits the entry.
 * When a build fails or is killed between the two, the next run reads it back and requests only the
 * candidates it does not list: what was paid for is kept. Only the holder of the key's lock writes it.
 *
 * A journal is as untrusted as a sidecar (it can be committed or left behind by anyone): each candidate it
 * lists is checked like a sidecar's image record (`entry.ts`), read as a regular file of the recorded size,
 * and verified against its SHA-256, format and dimensions. One that fails is dropped, with the reason, and
 * simply generated again.
 */
import path from 'node:path'
import { rm } from 'node:fs/promises'
import { IMAGE_LIMITS } from '../image-format.js'
import { showValue } from '../errors.js'
import { writeFailure } from './cache-folder.js'
import { SIDECAR_MAX_BYTES, candidateIndex, checkImageBytes, checkImageRecord, isPlainName, isPlainObject } from './entry.js'
import { describeFileProblem, folderState, readRegularFile, safeFolder } from './safe-fs.js'
import { stampOf, tokenOf } from './stamp.js'
import { atomicWrite, type CacheStore, type CachedImage, type SidecarImage } from './store.js'
import { WORK_DIR, ensureWorkDir, retryWhileTidied, workPath } from './workdir.js'

export interface JournalState {
  key: string
  /** Candidates already written to the cache folder, by index. */
  images: Record<string, SidecarImage>
  usage: Record<string, unknown> | null
  /** Unix seconds of the first answer. */
  created: number
  request_ids: string[]
}

export interface ResumedJournal {
  state: JournalState
  /** The candidates kept, with their verified bytes. */
  kept: Map<number, CachedImage>
  /** Why each candidate the journal listed but that was not kept was dropped (naming its file). */
  dropped: string[]
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

  /** The journal of `key` with only the candidates that pass every check, and their bytes. */
  async resume(key: string): Promise<ResumedJournal> {
    const kept = new Map<number, CachedImage>()
    const dropped: string[] = []
    const nothing = { state: emptyJournal(key), kept, dropped }
    const folder = await safeFolder(this.store.dir, WORK_DIR, 'journal').catch(() => undefined)
    if (!folder?.ok) {
      if (folder && folder.state !== 'missing') dropped.push(`the journal folder ${folder.at} is ${folder.state === 'symlink' ? 'a symbolic link' : 'not usable'}: not read`)
      return nothing
    }
    const read = await readRegularFile(this.file(key), { maxBytes: SIDECAR_MAX_BYTES })
    if (!read.ok) {
      if (read.problem.kind !== 'missing') dropped.push(`${key}.json ${describeFileProblem(read.problem)}`)
      return nothing
    }
    let value: unknown
    try {
      value = JSON.parse(read.data.toString('utf8'))
    } catch {
      dropped.push(`${key}.json is not valid JSON`)
      return nothing
    }
    if (!isPlainObject(value) || value.key !== key || !isPlainObject(value.images)) {
      dropped.push(`${key}.json is not the journal of this key`)
      return nothing
    }

    const entryFolderReal = (await folderState(this.store.folderOf(key)).catch(() => 'missing')) === 'folder'
    const verified: Record<string, SidecarImage> = {}
    for (const [slot, record] of Object.entries(value.images)) {
      const index = candidateIndex(slot)
      const named = isPlainObject(record) && typeof record.file === 'string' && isPlainName(record.file) ? record.file : `candidate ${showValue(slot)}`
      if (index === undefined) {
        dropped.push(`${named} (listed as candidate ${showValue(slot)}, which is no candidate index)`)
        continue
      }
      const checked = checkImageRecord(record, key, index, `images.${index}`)
      if (!checked.ok) {
        dropped.push(`${named}, whose record is not valid (${checked.reason})`)
        continue
      }
      const image = checked.value
      const file = path.join(this.store.folderOf(key), image.file)
      if (!entryFolderReal) {
        dropped.push(`${image.file}, whose entry folder is not a real folder`)
        continue
      }
      const bytes = await readRegularFile(file, { maxBytes: IMAGE_LIMITS.maxBytes, expectedBytes: image.bytes })
      if (!bytes.ok) {
        // A candidate whose file never landed (killed mid-write) is an ordinary loss, not worth a word.
        if (bytes.problem.kind !== 'missing') dropped.push(`${image.file}, which ${describeFileProblem(bytes.problem)}`)
        continue
      }
      const problem = checkImageBytes(image, bytes.data)
      if (problem) {
        dropped.push(`${image.file}, which ${problem}`)
        continue
      }
      verified[String(index)] = image
      kept.set(index, { ...image, data: bytes.data, token: tokenOf(stampOf(bytes.stats)) })
    }
    const usage = value.usage
    const created = value.created
    const ids = value.request_ids
    return {
      state: {
        key,
        images: verified,
        usage: isPlainObject(usage) ? structuredClone(usage) : null,
        created: typeof created === 'number' && Number.isFinite(created) && created >= 0 ? created : 0,
        request_ids: Array.isArray(ids) ? ids.filter((id): id is string => typeof id === 'string') : [],
      },
      kept,
      dropped,
    }
  }

  /** Persist `state` as it is when the write runs (later calls see every earlier change). */
  record(state: JournalState): Promise<void> {
    const previous = this.writes.get(state.key) ?? Promise.resolve()
    const next = previous.then(() =>
      retryWhileTidied(
        () =>
          atomicWrite(this.file(state.key), `${JSON.stringify(state, null, 2)}\n`).catch((error: unknown) => {
            throw writeFailure(error, path.dirname(this.file(state.key)))
          }),
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
    // Only through real folders: a linked `.work/` or `journal/` would lead the removal outside the cache.
    if ((await safeFolder(this.store.dir, WORK_DIR, 'journal').catch(() => undefined))?.ok) await rm(this.file(key), { force: true })
  }
}
