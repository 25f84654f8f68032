/**
 * Derived files (converted, resized, placeholders), cheap to rebuild and never committed:
 *
 *   node_modules/.cache/unplugin-ai-image/ab/abcdef….json          manifest (written last)
 *   node_modules/.cache/unplugin-ai-image/ab/abcdef…-main.webp     the emitted full-size image
 *   node_modules/.cache/unplugin-ai-image/ab/abcdef…-640w.webp     one file per resized width
 *
 * The key (`emit/recipe.ts`) covers the source image's SHA-256, the emit recipe and the pipeline version.
 * Writes are atomic, the manifest last. A read verifies every file, and anything missing, unreadable or
 * altered is a miss (the caller rebuilds), never a broken asset. Like git's index, the manifest keeps a
 * stamp of each file as it was when its content last matched its SHA-256 (size, mtime, ctime, inode): a
 * file whose stamp still matches is not hashed again, which keeps a warm build's reads as cheap as plain
 * file imports. Any write to a file, or its replacement, changes its ctime or inode, and its content is
 * then hashed before use (and re-stamped when it still matches).
 *
 * The folder is not committed, but a restored CI cache or any process of the machine can write it, so a
 * manifest is checked like a sidecar (`cache/entry.ts`): every record's file name, SHA-256, size,
 * dimensions and MIME type, the placeholder a data URL of an image. Files are read without following a
 * link. (The emitter also checks each file's header against its record before use.)
 */
import { lstat, readdir, rm } from 'node:fs/promises'
import path from 'node:path'
import { sha256 } from '../hash.js'
import { IMAGE_LIMITS, MIME_OF, extensionOf, formatOfMime, withinPixelLimits, type ImageFormat } from '../image-format.js'
import type { FreshnessToken } from './backend.js'
import { ensureCacheFolder } from './cache-folder.js'
import { isByteCount, isDimension, isPlainObject, isSha256 } from './entry.js'
import { folderState, readRegularFile } from './safe-fs.js'
import { sameStamp, stampFile, stampOf, type FileStamp } from './stamp.js'
import { atomicWrite, type SidecarImage } from './store.js'

/** An image the emit pipeline made. */
export interface EncodedImage {
  data: Buffer
  width: number
  height: number
  format: ImageFormat
}

/** What the emit pipeline made of one source image and recipe (`emit/pipeline.ts`). */
export interface Derivation {
  /** The emitted full-size image; undefined when the source bytes are already the best answer. */
  main: EncodedImage | undefined
  /** One per width below the source's width, smallest first. */
  variants: EncodedImage[]
  placeholder: string | undefined
  /** Set when a transparent image was flattened onto the background (the caller warns). */
  flattened: boolean
}

export const DERIVED_MANIFEST_VERSION = 1

/** Files without a manifest younger than this may belong to a write in progress (the manifest comes last). */
const ORPHAN_AFTER_MS = 10 * 60_000

/** A manifest is a few hundred bytes plus its placeholder. */
const MANIFEST_MAX_BYTES = 1024 * 1024
/** Placeholders are a few hundred bytes to a few kilobytes (`placeholder.ts`). */
const PLACEHOLDER_MAX_CHARS = 64 * 1024
/** A freshness token is a few dozen characters (`cache/stamp.ts`). */
const TOKEN_MAX_CHARS = 256
const PLACEHOLDER = /^data:image\/(png|jpeg|webp|avif);base64,[A-Za-z0-9+/]+={0,2}$/

async function allOlderThan(files: string[], ms: number): Promise<boolean> {
  const times = await Promise.all(files.map((f) => lstat(f).then((info) => info.mtimeMs, () => 0)))
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
   * Freshness token of the committed image when its content was last verified (null: not in the committed
   * cache, or not known). While the cache gives the same token, the warm path uses these files without
   * reading that image. Opaque: only compared.
   */
  sourceToken: FreshnessToken | null
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
  /** See `DerivedManifest.sourceToken`. */
  sourceToken: FreshnessToken | undefined
  main: DerivedFile | undefined
  variants: DerivedFile[]
  placeholder: string | undefined
  flattened: boolean
}

export class DerivedCache {
  /** `dir` resolved, and the separator after it. */
  private readonly prefix: string

  constructor(readonly dir: string) {
    this.prefix = `${path.resolve(dir)}${path.sep}`
  }

  private folderOf(key: string): string {
    // By concatenation (keys are hex, file names checked records): joined for every import of a build.
    return `${this.prefix}${key.slice(0, 2)}`
  }

  manifestPath(key: string): string {
    return `${this.folderOf(key)}${path.sep}${key}.json`
  }

  /**
   * A verified entry, or undefined for a miss (absent, incomplete or corrupt: all rebuilt the same way).
   * `onProblem` hears why a manifest that exists was refused by its checks (not a plain miss).
   */
  async read(key: string, source: string, onProblem?: (reason: string) => void): Promise<DerivedEntry | undefined> {
    const manifest = await this.readManifest(key, onProblem)
    if (!manifest || manifest.source !== source) return undefined
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
      sourceToken: manifest.sourceToken ?? undefined,
      main,
      variants: variants as DerivedFile[],
      placeholder: manifest.placeholder ?? undefined,
      flattened: manifest.flattened,
    }
  }

  /** The checked manifest of `key`; undefined when absent or refused (then `onProblem` hears why). */
  private async readManifest(key: string, onProblem?: (reason: string) => void): Promise<DerivedManifest | undefined> {
    // The derived cache only saves time: a folder that cannot be looked at is a miss.
    if ((await folderState(this.folderOf(key)).catch(() => 'missing')) !== 'folder') return undefined
    const read = await readRegularFile(this.manifestPath(key), { maxBytes: MANIFEST_MAX_BYTES })
    if (!read.ok) {
      if (read.problem.kind !== 'missing') onProblem?.(`${key}.json is not a regular file of a sensible size`)
      return undefined
    }
    let value: unknown
    try {
      value = JSON.parse(read.data.toString('utf8'))
    } catch {
      onProblem?.(`${key}.json is not valid JSON`)
      return undefined
    }
    const checked = checkManifest(value, key)
    if (typeof checked === 'string') {
      onProblem?.(`${key}.json: ${checked}`)
      return undefined
    }
    return checked
  }

  private async readFile(key: string, record: DerivedFileRecord): Promise<VerifiedRead | undefined> {
    const read = await readRegularFile(`${this.folderOf(key)}${path.sep}${record.file}`, { maxBytes: IMAGE_LIMITS.maxBytes, expectedBytes: record.bytes })
    if (!read.ok) return undefined
    const stamp = stampOf(read.stats)
    const unchanged = sameStamp(record.stamp, stamp)
    if (!unchanged && sha256(read.data) !== record.sha256) return undefined
    return { file: { data: read.data, width: record.width, height: record.height, mime: record.mime }, stamp, hashed: !unchanged }
  }

  /** Store a derivation: files first, the manifest last, each atomically. */
  async write(key: string, source: string, sourceToken: FreshnessToken | undefined, derivation: Derivation): Promise<void> {
    // A real folder, not a link that would lead the writes elsewhere (an error the emitter reports as a warning).
    await ensureCacheFolder(this.dir, key.slice(0, 2))
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
      sourceToken: sourceToken ?? null,
      main: derivation.main ? await store('main', derivation.main) : null,
      variants: await Promise.all(derivation.variants.map((variant) => store(`${variant.width}w`, variant))),
      placeholder: derivation.placeholder ?? null,
      flattened: derivation.flattened,
    }
    await this.writeManifest(manifest)
  }

  /** Record that the committed image was verified again as it is now (best effort: only saves time). */
  async recordSource(key: string, sourceToken: FreshnessToken): Promise<void> {
    // A manifest that went away meanwhile (or fails its checks) is rebuilt by the next derivation.
    const manifest = await this.readManifest(key)
    if (manifest) await this.writeManifest({ ...manifest, sourceToken }).catch(() => {})
  }

  /**
   * Entries whose source image is not in `keep` (it left the committed cache, or was a placeholder), and
   * files no manifest names that are old enough not to be a write in progress. Returns what was (or, with
   * `dryRun`, would be) removed, by derived key.
   */
  async prune(keep: ReadonlySet<string>, dryRun: boolean): Promise<string[]> {
    const stale: string[] = []
    // Real folders only (`Dirent` does not follow a link): removals never leave this folder.
    const folders = (await readdir(this.dir, { withFileTypes: true }).catch(() => [])).filter((e) => e.isDirectory() && /^[0-9a-f]{2}$/.test(e.name))
    for (const folder of folders.map((e) => e.name)) {
      const byKey = new Map<string, string[]>()
      for (const entry of await readdir(path.join(this.dir, folder), { withFileTypes: true }).catch(() => [])) {
        const key = /^[0-9a-f]{64}/.exec(entry.name)?.[0]
        if (key && !entry.isDirectory()) byKey.set(key, [...(byKey.get(key) ?? []), path.join(this.dir, folder, entry.name)])
      }
      for (const [key, files] of byKey) {
        const read = await readRegularFile(this.manifestPath(key), { maxBytes: MANIFEST_MAX_BYTES })
        let source: unknown
        try {
          source = read.ok ? (JSON.parse(read.data.toString('utf8')) as { source?: unknown }).source : undefined
        } catch {
          source = undefined
        }
        const unused = read.ok ? !(typeof source === 'string' && keep.has(source)) : await allOlderThan(files, ORPHAN_AFTER_MS)
        if (!unused) continue
        stale.push(key)
        // The manifest first, so a reader never finds one naming files already gone.
        const ordered = [...files.filter((f) => f.endsWith('.json')), ...files.filter((f) => !f.endsWith('.json'))]
        if (!dryRun) for (const file of ordered) await rm(file, { force: true })
      }
    }
    return stale
  }

  private async writeManifest(manifest: DerivedManifest): Promise<void> {
    await ensureCacheFolder(this.dir, manifest.key.slice(0, 2))
    return atomicWrite(this.manifestPath(manifest.key), `${JSON.stringify(manifest, null, 2)}\n`)
  }
}

/** A manifest with checked values only, or what is wrong with it. */
function checkManifest(value: unknown, key: string): DerivedManifest | string {
  if (!isPlainObject(value)) return 'not a JSON object'
  if (value.version !== DERIVED_MANIFEST_VERSION) return `version ${JSON.stringify(value.version)} is not ${DERIVED_MANIFEST_VERSION}`
  if (value.key !== key) return 'it does not describe this key'
  if (!isSha256(value.source)) return '"source" is not a SHA-256 digest'
  // Missing in a manifest of an older release: not known, so the full path records it again.
  const sourceToken = value.sourceToken ?? null
  if (sourceToken !== null && !(typeof sourceToken === 'string' && sourceToken.length <= TOKEN_MAX_CHARS)) return '"sourceToken" is not a freshness token'
  const main = value.main === null ? null : checkRecord(value.main, key, 'main')
  if (typeof main === 'string') return `main ${main}`
  if (!Array.isArray(value.variants)) return '"variants" is not an array'
  const variants: DerivedFileRecord[] = []
  for (const [i, variant] of value.variants.entries()) {
    const width = isPlainObject(variant) ? variant.width : undefined
    const checked = checkRecord(variant, key, isDimension(width) ? `${width}w` : 'variant')
    if (typeof checked === 'string') return `variants[${i}] ${checked}`
    variants.push(checked)
  }
  const placeholder = value.placeholder
  if (placeholder !== null && !(typeof placeholder === 'string' && placeholder.length <= PLACEHOLDER_MAX_CHARS && PLACEHOLDER.test(placeholder))) {
    return '"placeholder" is not a data URL of an image'
  }
  if (typeof value.flattened !== 'boolean') return '"flattened" is not true or false'
  return { version: DERIVED_MANIFEST_VERSION, key, source: value.source, sourceToken, main, variants, placeholder, flattened: value.flattened }
}

/** One derived file's record: `<key>-<role>.<ext>`, the extension that of its MIME type. */
function checkRecord(value: unknown, key: string, role: string): DerivedFileRecord | string {
  if (!isPlainObject(value)) return 'is not a file record'
  const mime = value.mime
  if (typeof mime !== 'string' || !formatOfMime(mime)) return '.mime is not an image format the plugin makes'
  if (value.file !== `${key}-${role}.${extensionOf(mime)}`) return `.file is not ${key}-${role}.${extensionOf(mime)}`
  if (!isSha256(value.sha256)) return '.sha256 is not a SHA-256 digest'
  if (!isByteCount(value.bytes)) return '.bytes is not a file size'
  if (!isDimension(value.width) || !isDimension(value.height) || !withinPixelLimits(value.width, value.height)) return '.width or .height is not a size in pixels'
  const stamp = value.stamp === undefined ? undefined : checkStamp(value.stamp)
  if (value.stamp !== undefined && !stamp) return '.stamp is not a file stamp'
  const record = { file: value.file, sha256: value.sha256, bytes: value.bytes, width: value.width, height: value.height, mime }
  return stamp ? { ...record, stamp } : record
}

function checkStamp(value: unknown): FileStamp | undefined {
  if (!isPlainObject(value)) return undefined
  const { size, mtimeMs, ctimeMs, ino } = value
  const finite = (n: unknown): n is number => typeof n === 'number' && Number.isFinite(n)
  return finite(size) && finite(mtimeMs) && finite(ctimeMs) && finite(ino) ? { size, mtimeMs, ctimeMs, ino } : undefined
}

interface VerifiedRead {
  file: DerivedFile
  stamp: FileStamp
  /** The stamp did not match, so the content was hashed (and matched). */
  hashed: boolean
}

/** The entry a fresh derivation stands for, so a miss hands the emitter exactly what a hit would. */
export function entryOf(derivation: Derivation, sourceToken: FreshnessToken | undefined): DerivedEntry {
  const file = (image: EncodedImage): DerivedFile => ({ data: image.data, width: image.width, height: image.height, mime: MIME_OF[image.format] })
  return {
    sourceToken,
    main: derivation.main ? file(derivation.main) : undefined,
    variants: derivation.variants.map(file),
    placeholder: derivation.placeholder,
    flattened: derivation.flattened,
  }
}
