/**
 * The committed, content-addressed cache:
 *
 *   <cacheDir>/ab/abcdef….json     sidecar (written last: an entry exists only once it is complete)
 *   <cacheDir>/ab/abcdef…-0.png    image bytes exactly as the API returned them, one per candidate
 *
 * Writes are atomic (temp file in the same folder, then rename). The cache is untrusted input (anyone who
 * can open a pull request edits it), so a read checks everything before use (`entry.ts`): the sidecar's
 * every field and its request against the key, and each image as a regular file (no link followed) of
 * the recorded size, SHA-256, format and dimensions. Anything else is reported as corrupt, with the
 * file at fault, and treated as a miss: never an asset, a crash or a raw library error.
 *
 * The files of the committed folder; `local.ts` makes it a cache backend (with its locks and journals).
 */
import { lstat, readdir, rm } from 'node:fs/promises'
import path from 'node:path'
import { IMAGE_LIMITS, extensionOf } from '../image-format.js'
import { assertCacheRootIsFolder, assertWritable, ensureCacheFolder, unreadableError, writeFailure } from './cache-folder.js'
import { SIDECAR_MAX_BYTES, SIDECAR_VERSION, checkImageBytes, parseSidecar, sidecarName, type Sidecar, type SidecarImage } from './entry.js'
import { sha256 } from '../hash.js'
import type { KeyMaterial } from './key.js'
import { describeFileProblem, folderState, readRegularFile } from './safe-fs.js'
import type { CacheEntry, CachedImage, EntryLook, FreshnessToken, ImageLook, Inspection, SidecarLook, WarmEntry } from './backend.js'
import { fileToken, stampFile, stampOf, tokenOf } from './stamp.js'

export { SIDECAR_VERSION, type Sidecar, type SidecarImage } from './entry.js'
export type { CacheEntry, CachedImage, Inspection } from './backend.js'

import { atomicWrite } from '../atomic-write.js'
export { TEMP_MARKER, atomicWrite } from '../atomic-write.js'

/** Files of one entry: its sidecar and its candidates (prune and `remove` recognise them by name). */
export const ENTRY_FILE = /^([0-9a-f]{64})(?:\.json|-\d+\.[a-z0-9]+)$/

const ENTRY_FILE_PATH = /^([0-9a-f]{2})\/([0-9a-f]{64})(?:\.json|-\d{1,2}\.[a-z0-9]{2,4})$/

/**
 * Whether `relative` (a path inside the cache folder, `/`-separated) names a file of a committed entry: a
 * sidecar or a candidate, in the folder of its key. For readers of the folder's history (`--since` checks
 * the cache as it was out of git), who must not learn its layout.
 */
export function isEntryFilePath(relative: string): boolean {
  const match = ENTRY_FILE_PATH.exec(relative)
  return match !== null && match[2]!.startsWith(match[1]!)
}

export class CacheStore {
  /** Verified reads (`inspect`) and image files written since the store was made: what a build cost the cache. */
  readonly counts = { verifiedReads: 0, imagesWritten: 0 }

  /** `dir` resolved, and the separator after it. */
  private readonly prefix: string

  constructor(readonly dir: string) {
    this.prefix = `${path.resolve(dir)}${path.sep}`
  }

  // Paths by concatenation (keys are hex, file names are checked plain names): joined for every import of a build.
  folderOf(key: string): string {
    return `${this.prefix}${key.slice(0, 2)}`
  }

  sidecarPath(key: string): string {
    return `${this.folderOf(key)}${path.sep}${key}.json`
  }

  /** The file of a checked image record of `key`. */
  imagePath(key: string, file: string): string {
    return `${this.folderOf(key)}${path.sep}${file}`
  }

  imageFileName(key: string, index: number, mime: string): string {
    return `${key}-${index}.${extensionOf(mime)}`
  }

  /** Read and verify an entry: every sidecar field, the key, and each image's bytes and header. */
  async inspect(key: string): Promise<Inspection> {
    this.counts.verifiedReads++
    const read = await this.readSidecar(key)
    if (read.status !== 'ok') return read
    const images: CachedImage[] = []
    for (const image of read.sidecar.images) {
      const file = this.imagePath(key, image.file)
      const bytes = await readRegularFile(file, { maxBytes: IMAGE_LIMITS.maxBytes, expectedBytes: image.bytes })
      if (!bytes.ok) return { status: 'corrupt', reason: `${image.file} ${describeFileProblem(bytes.problem)}` }
      const problem = checkImageBytes(image, bytes.data)
      if (problem) return { status: 'corrupt', reason: `${image.file} ${problem}` }
      // The token of the file as it was read: verified content, so an equal token later vouches for it.
      images.push({ ...image, data: bytes.data, token: tokenOf(stampOf(bytes.stats)) })
    }
    return { status: 'hit', entry: { key, sidecar: read.sidecar, images } }
  }

  /**
   * The checked sidecar of an entry whose image files are all present as regular files (no link followed)
   * with their recorded sizes, and the token of each file (its stamp, `stamp.ts`), without reading or hashing
   * the images; undefined otherwise. For the warm emit path, which serves derived files keyed by the SHA-256
   * the sidecar records while each image's token shows it unchanged since its content was last verified.
   * `inspect` is the verified read.
   */
  async completeSidecar(key: string): Promise<WarmEntry | undefined> {
    const read = await this.readSidecar(key).catch(() => undefined)
    if (read?.status !== 'ok') return undefined
    const { sidecar } = read
    const stamps = await Promise.all(sidecar.images.map((image) => stampFile(this.imagePath(key, image.file))))
    if (!stamps.every((stamp, i) => stamp?.size === sidecar.images[i]!.bytes)) return undefined
    return { sidecar, tokens: stamps.map((stamp) => tokenOf(stamp!)) }
  }

  /**
   * Each image of an entry verified on its own (the gallery shows what verifies and says why the rest does
   * not). Not counted as a verified read: no build asked for it.
   */
  async inspectEach(key: string): Promise<EntryLook> {
    const read = await this.readSidecar(key)
    if (read.status !== 'ok') return read
    const images: ImageLook[] = []
    for (const record of read.sidecar.images) {
      const bytes = await readRegularFile(this.imagePath(key, record.file), { maxBytes: IMAGE_LIMITS.maxBytes, expectedBytes: record.bytes })
      if (!bytes.ok) {
        images.push({ record, problem: `${record.file} ${describeFileProblem(bytes.problem)}`, missing: bytes.problem.kind === 'missing' })
        continue
      }
      const problem = checkImageBytes(record, bytes.data)
      images.push(problem ? { record, problem: `${record.file} ${problem}`, missing: false } : { record, data: bytes.data })
    }
    return { status: 'read', sidecar: read.sidecar, images }
  }

  /** The checked sidecar of an entry, no image read. */
  async readSidecar(key: string): Promise<SidecarLook> {
    const folder = this.folderOf(key)
    const state = await folderState(folder).catch((error: unknown) => {
      throw unreadableError(this.dir, error)
    })
    switch (state) {
      case 'missing':
        await assertCacheRootIsFolder(this.dir)
        return { status: 'miss' }
      case 'symlink':
        return { status: 'corrupt', reason: `the entry folder ${folder} is a symbolic link (never followed: remove it)` }
      case 'not-folder':
        return { status: 'corrupt', reason: `the entry folder ${folder} is not a folder` }
      case 'folder':
        break
    }
    const read = await readRegularFile(this.sidecarPath(key), { maxBytes: SIDECAR_MAX_BYTES })
    if (!read.ok) {
      if (read.problem.kind === 'missing') return { status: 'miss' }
      return { status: 'corrupt', reason: `${sidecarName(key)} ${describeFileProblem(read.problem)}` }
    }
    const checked = parseSidecar(read.data.toString('utf8'), key)
    return checked.ok ? { status: 'ok', sidecar: checked.value } : { status: 'corrupt', reason: checked.reason }
  }

  async read(key: string): Promise<CacheEntry | undefined> {
    const result = await this.inspect(key)
    return result.status === 'hit' ? result.entry : undefined
  }

  /**
   * Make sure the entry folder of `key` is a real folder this process can write into, before anything is
   * paid for: a file or a link in its place, or a read-only cache, is a clear error now rather than a
   * paid image that cannot be stored.
   */
  async prepareFolder(key: string): Promise<void> {
    const folder = await ensureCacheFolder(this.dir, key.slice(0, 2))
    await assertWritable(folder)
  }

  /** Write one candidate's bytes atomically; returns its sidecar record (dimensions come from the caller). */
  async writeImage(
    key: string,
    index: number,
    data: Buffer,
    meta: { mime: string; width: number; height: number; revised_prompt?: string },
  ): Promise<SidecarImage> {
    const file = this.imageFileName(key, index, meta.mime)
    await this.writeImageFile(key, file, data)
    return {
      file,
      sha256: sha256(data),
      bytes: data.length,
      width: meta.width,
      height: meta.height,
      mime: meta.mime,
      ...(meta.revised_prompt ? { revised_prompt: meta.revised_prompt } : {}),
    }
  }

  /**
   * Write the bytes of a checked image record that were verified against it already (another tier checked
   * their SHA-256 and header on the way in), without hashing them a second time; returns the token of the
   * file as written. The record's file name is the checked `<key>-<index>.<ext>`.
   */
  async writeVerifiedImage(key: string, record: SidecarImage, data: Buffer): Promise<FreshnessToken | undefined> {
    if (data.length !== record.bytes) throw new Error(`write: ${record.file} is ${data.length} bytes, its record says ${record.bytes}`)
    await this.writeImageFile(key, record.file, data)
    return fileToken(this.imagePath(key, record.file))
  }

  private async writeImageFile(key: string, file: string, data: Buffer): Promise<void> {
    this.counts.imagesWritten++
    await this.prepareFolder(key)
    await atomicWrite(path.join(this.folderOf(key), file), data).catch((error: unknown) => {
      throw writeFailure(error, this.folderOf(key))
    })
  }

  /**
   * The checked sidecar of an entry committed without (some of) its images, and which of them have no file
   * at all (`commitImages: false` keeps only sidecars in git); undefined when the sidecar is missing or
   * refused, or every image has a file (right or wrong: `inspect` judges those).
   */
  async sidecarWithoutImages(key: string): Promise<{ sidecar: Sidecar; absent: number[] } | undefined> {
    const read = await this.readSidecar(key).catch(() => undefined)
    if (read?.status !== 'ok') return undefined
    const absent: number[] = []
    for (const [index, image] of read.sidecar.images.entries()) {
      const missing = await lstat(this.imagePath(key, image.file)).then(
        () => false,
        (error: NodeJS.ErrnoException) => error.code === 'ENOENT',
      )
      if (missing) absent.push(index)
    }
    return absent.length > 0 ? { sidecar: read.sidecar, absent } : undefined
  }

  /** Write the sidecar last: from this moment the entry exists. */
  async commit(sidecar: Sidecar): Promise<void> {
    await this.prepareFolder(sidecar.key)
    await atomicWrite(this.sidecarPath(sidecar.key), `${JSON.stringify(sidecar, null, 2)}\n`).catch((error: unknown) => {
      throw writeFailure(error, this.folderOf(sidecar.key))
    })
  }

  /**
   * Remove an entry: its sidecar first (so no reader ever sees a sidecar without its images), then every
   * file named after its key. Only inside a real entry folder: a link in its place is left alone (removing
   * through it would delete outside the cache). Returns false when the folder was not a real one.
   */
  async remove(key: string): Promise<boolean> {
    const folder = this.folderOf(key)
    const state = await folderState(folder)
    if (state === 'missing') return true
    if (state !== 'folder') return false
    // `rm` of a name that is itself a link removes the link, never what it points at.
    await rm(this.sidecarPath(key), { force: true })
    for (const name of await readdir(folder).catch(() => [])) {
      if (ENTRY_FILE.exec(name)?.[1] === key) await rm(path.join(folder, name), { force: true })
    }
    return true
  }
}

export function sidecarFor(
  key: string,
  material: KeyMaterial,
  facts: Pick<Sidecar, 'provider' | 'created' | 'revised_prompt' | 'usage' | 'request_id' | 'images' | 'cost'>,
): Sidecar {
  const { cost, ...rest } = facts
  return {
    version: SIDECAR_VERSION,
    key,
    endpoint: material.endpoint,
    request: material.request,
    inputs: [...material.inputs],
    mask: material.mask,
    seed: material.seed,
    ...rest,
    ...(cost ? { cost } : {}),
  }
}

