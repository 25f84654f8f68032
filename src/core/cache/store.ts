/**
 * The committed, content-addressed cache:
 *
 *   <cacheDir>/ab/abcdef….json     sidecar (written last: an entry exists only once it is complete)
 *   <cacheDir>/ab/abcdef…-0.png    image bytes exactly as the API returned them, one per candidate
 *
 * Writes are atomic (temp file in the same folder, then rename). Reads verify every image against the
 * SHA-256 in its sidecar: a mismatch is reported as corrupt and treated as a miss, never as an asset.
 */
import { randomBytes } from 'node:crypto'
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { sha256, type KeyMaterial } from './key.js'
import { readStamped, stampFile, type FileStamp } from './stamp.js'
import type { KeyedRequest } from '../spec/validate.js'
import type { Endpoint } from '../spec/models.js'
import { extensionOf } from '../image-format.js'

export const SIDECAR_VERSION = 1

export interface SidecarImage {
  /** File name beside the sidecar, e.g. `abcdef…-0.png`. */
  file: string
  sha256: string
  bytes: number
  width: number
  height: number
  mime: string
  revised_prompt?: string
}

export interface Sidecar {
  version: number
  key: string
  endpoint: Endpoint
  /** The normalized request that was keyed; never holds a secret (keys live in headers only). */
  request: KeyedRequest
  /** SHA-256 of input images and mask, and the seed: the rest of the key material. */
  inputs: string[]
  mask: string | null
  seed: string | null
  provider: { kind: string; deployment?: string }
  /** Unix seconds, from the API answer. */
  created: number
  revised_prompt: string | null
  usage: Record<string, unknown> | null
  request_id: string | null
  images: SidecarImage[]
}

export interface CachedImage extends SidecarImage {
  path: string
  data: Buffer
  /** From `inspect`: the file's stamp, taken before its bytes were read and verified (`stamp.ts`). */
  stamp?: FileStamp
}

export interface CacheEntry {
  key: string
  sidecar: Sidecar
  images: CachedImage[]
}

export type Inspection =
  | { status: 'hit'; entry: CacheEntry }
  | { status: 'miss' }
  | { status: 'corrupt'; reason: string }

/** Marker in temp-file names, so a later run can find and remove leftovers of a killed process. */
export const TEMP_MARKER = '.tmp-'

export class CacheStore {
  constructor(readonly dir: string) {}

  folderOf(key: string): string {
    return path.join(this.dir, key.slice(0, 2))
  }

  sidecarPath(key: string): string {
    return path.join(this.folderOf(key), `${key}.json`)
  }

  imageFileName(key: string, index: number, mime: string): string {
    return `${key}-${index}.${extensionOf(mime)}`
  }

  /** Read and verify an entry. */
  async inspect(key: string): Promise<Inspection> {
    const read = await this.readSidecar(key)
    if (read.status !== 'ok') return read
    const images: CachedImage[] = []
    for (const image of read.sidecar.images) {
      const file = path.join(this.folderOf(key), image.file)
      const read = await readStamped(file)
      if (!read) return { status: 'corrupt', reason: `${image.file} is missing` }
      const { data, stamp } = read
      if (data.length !== image.bytes || sha256(data) !== image.sha256) {
        return { status: 'corrupt', reason: `${image.file} does not match its SHA-256` }
      }
      images.push({ ...image, path: file, data, stamp })
    }
    return { status: 'hit', entry: { key, sidecar: read.sidecar, images } }
  }

  /**
   * The sidecar of an entry whose image files are all present with their recorded sizes, and the stamp
   * of each file (`stamp.ts`), without reading or hashing the images; undefined otherwise. For the warm
   * emit path, which serves derived files keyed by the SHA-256 the sidecar records while each image's
   * stamp shows it unchanged since its content was last verified. `inspect` is the verified read.
   */
  async completeSidecar(key: string): Promise<{ sidecar: Sidecar; stamps: FileStamp[] } | undefined> {
    const read = await this.readSidecar(key)
    if (read.status !== 'ok') return undefined
    const { sidecar } = read
    const stamps = await Promise.all(sidecar.images.map((image) => stampFile(path.join(this.folderOf(key), image.file))))
    return stamps.every((stamp, i) => stamp?.size === sidecar.images[i]!.bytes) ? { sidecar, stamps: stamps as FileStamp[] } : undefined
  }

  private async readSidecar(key: string): Promise<{ status: 'ok'; sidecar: Sidecar } | Exclude<Inspection, { status: 'hit' }>> {
    let text: string
    try {
      text = await readFile(this.sidecarPath(key), 'utf8')
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { status: 'miss' }
      throw error
    }
    let sidecar: Sidecar
    try {
      sidecar = JSON.parse(text) as Sidecar
    } catch {
      return { status: 'corrupt', reason: 'the sidecar is not valid JSON' }
    }
    if (sidecar.key !== key || !Array.isArray(sidecar.images) || sidecar.images.length === 0) {
      return { status: 'corrupt', reason: 'the sidecar does not describe this key' }
    }
    for (const image of sidecar.images) {
      if (typeof image.file !== 'string' || path.basename(image.file) !== image.file) {
        return { status: 'corrupt', reason: 'the sidecar names a file outside its folder' }
      }
    }
    return { status: 'ok', sidecar }
  }

  async read(key: string): Promise<CacheEntry | undefined> {
    const result = await this.inspect(key)
    return result.status === 'hit' ? result.entry : undefined
  }

  /** Write one candidate's bytes atomically; returns its sidecar record (dimensions come from the caller). */
  async writeImage(
    key: string,
    index: number,
    data: Buffer,
    meta: { mime: string; width: number; height: number; revised_prompt?: string },
  ): Promise<SidecarImage> {
    const file = this.imageFileName(key, index, meta.mime)
    await atomicWrite(path.join(this.folderOf(key), file), data)
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

  /** Write the sidecar last: from this moment the entry exists. */
  async commit(sidecar: Sidecar): Promise<void> {
    await atomicWrite(this.sidecarPath(sidecar.key), `${JSON.stringify(sidecar, null, 2)}\n`)
  }

  /** Remove an entry (sidecar first, so no reader ever sees a sidecar without its images). */
  async remove(key: string): Promise<void> {
    const sidecar = this.sidecarPath(key)
    let images: SidecarImage[] = []
    try {
      images = (JSON.parse(await readFile(sidecar, 'utf8')) as Sidecar).images ?? []
    } catch {
      // Unreadable sidecar: remove what we can name.
    }
    await rm(sidecar, { force: true })
    for (const image of images) {
      if (typeof image.file === 'string' && path.basename(image.file) === image.file) {
        await rm(path.join(this.folderOf(key), image.file), { force: true })
      }
    }
  }
}

export function sidecarFor(
  key: string,
  material: KeyMaterial,
  facts: Pick<Sidecar, 'provider' | 'created' | 'revised_prompt' | 'usage' | 'request_id' | 'images'>,
): Sidecar {
  return {
    version: SIDECAR_VERSION,
    key,
    endpoint: material.endpoint,
    request: material.request,
    inputs: [...material.inputs],
    mask: material.mask,
    seed: material.seed,
    ...facts,
  }
}

/** Temp file in the target's folder, then rename: readers see the old file, or the whole new one. */
export async function atomicWrite(target: string, data: string | Uint8Array): Promise<void> {
  await mkdir(path.dirname(target), { recursive: true })
  const temp = `${target}${TEMP_MARKER}${process.pid}-${randomBytes(4).toString('hex')}`
  try {
    await writeFile(temp, data)
    await rename(temp, target)
  } catch (error) {
    await rm(temp, { force: true })
    throw error
  }
}
