/**
 * Derived files (converted, resized, placeholders), cheap to rebuild and never committed:
 *
 *   node_modules/.cache/unplugin-ai-image/ab/abcdef….json          manifest (written last)
 *   node_modules/.cache/unplugin-ai-image/ab/abcdef…-main.webp     the emitted full-size image
 *   node_modules/.cache/unplugin-ai-image/ab/abcdef…-640w.webp     one file per resized width
 *
 * The key (`recipe.ts`) covers the source image's SHA-256, the emit recipe and the pipeline version.
 * Writes are atomic, the manifest last; a read verifies every file against the manifest's SHA-256, and
 * anything missing, unreadable or altered is a miss (the caller rebuilds), never a broken asset.
 */
import { readFile } from 'node:fs/promises'
import path from 'node:path'
import { sha256 } from '../cache/key.js'
import { atomicWrite, extensionOf, type SidecarImage } from '../cache/store.js'
import { MIME_OF } from '../engine/verify.js'
import type { Derivation, EncodedImage } from './optimize.js'

export const DERIVED_MANIFEST_VERSION = 1

/** A derived file, described like a committed image in its sidecar. */
export type DerivedFileRecord = Omit<SidecarImage, 'revised_prompt'>

export interface DerivedManifest {
  version: number
  key: string
  /** SHA-256 of the cached image these files were made from. */
  source: string
  /** null: the source bytes are the emitted image. */
  main: DerivedFileRecord | null
  variants: DerivedFileRecord[]
  placeholder: string | null
  flattened: boolean
}

export interface DerivedFile {
  data: Buffer
  width: number
  height: number
  mime: string
}

/** What the emitter needs, the same whether it was just made or read back. */
export interface DerivedEntry {
  main: DerivedFile | undefined
  variants: DerivedFile[]
  placeholder: string | undefined
  flattened: boolean
}

export class DerivedCache {
  constructor(readonly dir: string) {}

  private folderOf(key: string): string {
    return path.join(this.dir, key.slice(0, 2))
  }

  manifestPath(key: string): string {
    return path.join(this.folderOf(key), `${key}.json`)
  }

  /** A verified entry, or undefined for a miss (absent, incomplete or corrupt: all rebuilt the same way). */
  async read(key: string, source: string): Promise<DerivedEntry | undefined> {
    let manifest: DerivedManifest
    try {
      manifest = JSON.parse(await readFile(this.manifestPath(key), 'utf8')) as DerivedManifest
    } catch {
      return undefined
    }
    if (
      manifest?.version !== DERIVED_MANIFEST_VERSION ||
      manifest.key !== key ||
      manifest.source !== source ||
      !Array.isArray(manifest.variants)
    ) {
      return undefined
    }
    const records = [manifest.main, ...manifest.variants]
    const files = await Promise.all(records.map((record) => (record === null ? null : this.readFile(key, record))))
    if (files.some((file) => file === undefined)) return undefined
    const [main, ...variants] = files as Array<DerivedFile | null>
    return {
      main: main ?? undefined,
      variants: variants as DerivedFile[],
      placeholder: typeof manifest.placeholder === 'string' ? manifest.placeholder : undefined,
      flattened: manifest.flattened === true,
    }
  }

  private async readFile(key: string, record: DerivedFileRecord): Promise<DerivedFile | undefined> {
    if (typeof record?.file !== 'string' || path.basename(record.file) !== record.file || !record.file.startsWith(key)) return undefined
    let data: Buffer
    try {
      data = await readFile(path.join(this.folderOf(key), record.file))
    } catch {
      return undefined
    }
    // The length check is free and catches truncation before hashing.
    if (data.length !== record.bytes || sha256(data) !== record.sha256) return undefined
    return { data, width: record.width, height: record.height, mime: record.mime }
  }

  /** Store a derivation: files first, the manifest last, each atomically. */
  async write(key: string, source: string, derivation: Derivation): Promise<void> {
    const store = async (role: string, image: EncodedImage): Promise<DerivedFileRecord> => {
      const mime = MIME_OF[image.format]
      const file = `${key}-${role}.${extensionOf(mime)}`
      await atomicWrite(path.join(this.folderOf(key), file), image.data)
      return { file, sha256: sha256(image.data), bytes: image.data.length, width: image.width, height: image.height, mime }
    }
    const manifest: DerivedManifest = {
      version: DERIVED_MANIFEST_VERSION,
      key,
      source,
      main: derivation.main ? await store('main', derivation.main) : null,
      variants: await Promise.all(derivation.variants.map((variant) => store(`${variant.width}w`, variant))),
      placeholder: derivation.placeholder ?? null,
      flattened: derivation.flattened,
    }
    await atomicWrite(this.manifestPath(key), `${JSON.stringify(manifest, null, 2)}\n`)
  }
}

/** The entry a fresh derivation stands for, so a miss hands the emitter exactly what a hit would. */
export function entryOf(derivation: Derivation): DerivedEntry {
  const file = (image: EncodedImage): DerivedFile => ({ data: image.data, width: image.width, height: image.height, mime: MIME_OF[image.format] })
  return {
    main: derivation.main ? file(derivation.main) : undefined,
    variants: derivation.variants.map(file),
    placeholder: derivation.placeholder,
    flattened: derivation.flattened,
  }
}
