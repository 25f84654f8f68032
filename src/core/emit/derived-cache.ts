/**
 * Derived files (converted, resized, placeholders), cheap to rebuild and never committed:
 *
 *   node_modules/.cache/unplugin-ai-image/ab/abcdef….json          manifest (written last)
 *   node_modules/.cache/unplugin-ai-image/ab/abcdef…-main.webp     the emitted full-size image
 *   node_modules/.cache/unplugin-ai-image/ab/abcdef…-640w.webp     one file per resized width
 *
 * The key (`recipe.ts`) covers the source image's SHA-256, the emit recipe and the pipeline version.
 * Writes are atomic, the manifest last. A read verifies every file, and anything missing, unreadable or
 * altered is a miss (the caller rebuilds), never a broken asset. Like git's index, the manifest keeps a
 * stamp of each file as it was when its content last matched its SHA-256 (size, mtime, ctime, inode): a
 * file whose stamp still matches is not hashed again, which keeps a warm build's reads as cheap as plain
 * file imports. Any write to a file, or its replacement, changes its ctime or inode, and its content is
 * then hashed before use (and re-stamped when it still matches).
 */
import { readdir, readFile, rm, stat } from 'node:fs/promises'
import path from 'node:path'
import { sha256 } from '../cache/key.js'
import { readStamped, sameStamp, stampFile, type FileStamp } from '../cache/stamp.js'
import { atomicWrite, type SidecarImage } from '../cache/store.js'
import { MIME_OF, extensionOf } from '../image-format.js'
import type { Derivation, EncodedImage } from './optimize.js'

export const DERIVED_MANIFEST_VERSION = 1

/** Files without a manifest younger than this may belong to a write in progress (the manifest comes last). */
const ORPHAN_AFTER_MS = 10 * 60_000

async function allOlderThan(files: string[], ms: number): Promise<boolean> {
  const times = await Promise.all(files.map((f) => stat(f).then((info) => info.mtimeMs, () => 0)))
  return times.every((t) => Date.now() - t > ms)
}

/** A derived file, described like a committed image in its sidecar, plus its stamp. */
export type DerivedFileRecord = Omit<SidecarImage, 'revised_prompt'> & { stamp?: FileStamp }

export interface DerivedManifest {
  version: number
  key: string
  /** SHA-256 of the cached image these files were made from. */
  source: string
  /**
   * Stamp of the committed image file when its content was last verified (null: not in the committed
   * cache). While it matches, the warm path uses these files without reading that image.
   */
  sourceStamp: FileStamp | null
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
  /** See `DerivedManifest.sourceStamp`. */
  sourceStamp: FileStamp | undefined
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
    const reads = await Promise.all(records.map((record) => (record === null ? null : this.readFile(key, record))))
    if (reads.some((read) => read === undefined)) return undefined
    const [main, ...variants] = (reads as Array<VerifiedRead | null>).map((read) => read?.file)
    if (reads.some((read) => read?.hashed)) {
      // Verified by content: stamp the files as they are now, so the next build need not hash them.
      const stamped = (record: DerivedFileRecord | null, i: number) => (record && { ...record, stamp: reads[i]!.stamp })
      const [freshMain, ...freshVariants] = records.map(stamped)
      await this.writeManifest({ ...manifest, main: freshMain ?? null, variants: freshVariants as DerivedFileRecord[] }).catch(() => {})
    }
    return {
      sourceStamp: manifest.sourceStamp ?? undefined,
      main,
      variants: variants as DerivedFile[],
      placeholder: typeof manifest.placeholder === 'string' ? manifest.placeholder : undefined,
      flattened: manifest.flattened === true,
    }
  }

  private async readFile(key: string, record: DerivedFileRecord): Promise<VerifiedRead | undefined> {
    if (typeof record?.file !== 'string' || path.basename(record.file) !== record.file || !record.file.startsWith(key)) return undefined
    const read = await readStamped(path.join(this.folderOf(key), record.file))
    if (!read || read.data.length !== record.bytes) return undefined
    const unchanged = sameStamp(record.stamp, read.stamp)
    if (!unchanged && sha256(read.data) !== record.sha256) return undefined
    return { file: { data: read.data, width: record.width, height: record.height, mime: record.mime }, stamp: read.stamp, hashed: !unchanged }
  }

  /** Store a derivation: files first, the manifest last, each atomically. */
  async write(key: string, source: string, sourceStamp: FileStamp | undefined, derivation: Derivation): Promise<void> {
    const store = async (role: string, image: EncodedImage): Promise<DerivedFileRecord> => {
      const mime = MIME_OF[image.format]
      const file = `${key}-${role}.${extensionOf(mime)}`
      const target = path.join(this.folderOf(key), file)
      await atomicWrite(target, image.data)
      const record = { file, sha256: sha256(image.data), bytes: image.data.length, width: image.width, height: image.height, mime }
      // Stamped after the rename (which may change the ctime); a file replaced meanwhile is hashed on read.
      const stamp = await stampFile(target)
      return stamp ? { ...record, stamp } : record
    }
    const manifest: DerivedManifest = {
      version: DERIVED_MANIFEST_VERSION,
      key,
      source,
      sourceStamp: sourceStamp ?? null,
      main: derivation.main ? await store('main', derivation.main) : null,
      variants: await Promise.all(derivation.variants.map((variant) => store(`${variant.width}w`, variant))),
      placeholder: derivation.placeholder ?? null,
      flattened: derivation.flattened,
    }
    await this.writeManifest(manifest)
  }

  /** Record that the committed image was verified again as it is now (best effort: only saves time). */
  async restampSource(key: string, sourceStamp: FileStamp): Promise<void> {
    try {
      const manifest = JSON.parse(await readFile(this.manifestPath(key), 'utf8')) as DerivedManifest
      if (manifest.key === key) await this.writeManifest({ ...manifest, sourceStamp })
    } catch {
      // A manifest that went away meanwhile is rebuilt by the next derivation.
    }
  }

  /**
   * Entries whose source image is not in `keep` (it left the committed cache, or was a placeholder), and
   * files no manifest names that are old enough not to be a write in progress. Returns what was (or, with
   * `dryRun`, would be) removed, by derived key.
   */
  async prune(keep: ReadonlySet<string>, dryRun: boolean): Promise<string[]> {
    const stale: string[] = []
    for (const folder of (await readdir(this.dir).catch(() => [])).filter((name) => /^[0-9a-f]{2}$/.test(name))) {
      const byKey = new Map<string, string[]>()
      for (const name of await readdir(path.join(this.dir, folder)).catch(() => [])) {
        const key = /^[0-9a-f]{64}/.exec(name)?.[0]
        if (key) byKey.set(key, [...(byKey.get(key) ?? []), path.join(this.dir, folder, name)])
      }
      for (const [key, files] of byKey) {
        const manifest = await readFile(this.manifestPath(key), 'utf8').then(
          (text) => JSON.parse(text) as Partial<DerivedManifest>,
          () => undefined,
        )
        const unused = manifest ? !keep.has(String(manifest.source)) : await allOlderThan(files, ORPHAN_AFTER_MS)
        if (!unused) continue
        stale.push(key)
        // The manifest first, so a reader never finds one naming files already gone.
        const ordered = [...files.filter((f) => f.endsWith('.json')), ...files.filter((f) => !f.endsWith('.json'))]
        if (!dryRun) for (const file of ordered) await rm(file, { force: true })
      }
    }
    return stale
  }

  private writeManifest(manifest: DerivedManifest): Promise<void> {
    return atomicWrite(this.manifestPath(manifest.key), `${JSON.stringify(manifest, null, 2)}\n`)
  }
}

interface VerifiedRead {
  file: DerivedFile
  stamp: FileStamp
  /** The stamp did not match, so the content was hashed (and matched). */
  hashed: boolean
}

/** The entry a fresh derivation stands for, so a miss hands the emitter exactly what a hit would. */
export function entryOf(derivation: Derivation, sourceStamp: FileStamp | undefined): DerivedEntry {
  const file = (image: EncodedImage): DerivedFile => ({ data: image.data, width: image.width, height: image.height, mime: MIME_OF[image.format] })
  return {
    sourceStamp,
    main: derivation.main ? file(derivation.main) : undefined,
    variants: derivation.variants.map(file),
    placeholder: derivation.placeholder,
    flattened: derivation.flattened,
  }
}
