/**
 * Resolved image → the files to emit for each candidate: the full-size image in the emitted format, the
 * picked image's resized variants, its placeholder. Derived files come from the derived cache when it
 * has them (a warm build: a few file reads, no sharp); otherwise the sharp pipeline makes them, within
 * the process's bound on parallel image jobs, and they are stored for the next build.
 *
 * A cache hit and a miss give the same result: the same recipe, key and bytes, whether the derived files
 * were just made or read back.
 */
import { checkImageHeader } from '../cache/entry.js'
import type { FreshnessToken } from '../cache/backend.js'
import type { Logger } from '../log.js'
import { DerivedCache, entryOf, type DerivedEntry, type DerivedFile } from '../cache/derived.js'
import { sharpLimit } from './limit.js'
import type { ValidatedSpec } from '../spec/validate.js'
import { derivedKey, isPassThrough, recipeFor, type EmitRecipe } from './recipe.js'

export interface EmittedFile extends DerivedFile {
  /**
   * Identity of derived bytes (`<derived key>-main`, `<derived key>-640w`); undefined for the cached
   * image's own bytes. Tells a bundler's sink apart the several files of one candidate.
   */
  variant: string | undefined
}

export interface EmittedCandidate {
  /** Full size, in the emitted format: the `src` of this candidate. */
  main: EmittedFile
  /** Resized variants below the full width, smallest first (the picked candidate only). */
  variants: EmittedFile[]
  placeholder: string | undefined
}

export interface EmitOptions {
  /** Recompress PNGs losslessly (default); the dev server turns it off (see `isPassThrough`). */
  optimizePng?: boolean
}

export interface EmitterDeps {
  /** `node_modules/.cache/unplugin-ai-image` of the project. */
  cacheDir: string
  log: Logger
}

/** A cached image as the emitter sees it. `data` is absent on the warm path, where it was not read. */
export interface SourceImage {
  sha256: string
  width: number
  height: number
  mime: string
  data?: Buffer
  /** Its freshness token in the committed cache now (opaque); undefined when it is not there (placeholder images). */
  token?: FreshnessToken
}

/** A source image whose bytes were read (and verified) or just made. */
export type LoadedImage = SourceImage & { data: Buffer }

export class ImageEmitter {
  /** `derived`: sharp runs; `reused`: verified derived-cache hits; `passedThrough`: cached bytes emitted as they are. */
  readonly stats = { derived: 0, reused: 0, passedThrough: 0 }
  readonly cache: DerivedCache
  private readonly inflight = new Map<string, Promise<DerivedEntry>>()

  constructor(private readonly deps: EmitterDeps) {
    this.cache = new DerivedCache(deps.cacheDir)
  }

  /**
   * The files of every candidate. With each image's bytes at hand this always succeeds (making what the
   * derived cache lacks). Without them it answers from the derived cache alone, and undefined means some
   * candidate needs its bytes (emitted as they are, or a derived file to make): read them and call again.
   */
  emit(spec: ValidatedSpec, sources: readonly LoadedImage[], options?: EmitOptions): Promise<EmittedCandidate[]>
  emit(spec: ValidatedSpec, sources: readonly SourceImage[], options?: EmitOptions): Promise<EmittedCandidate[] | undefined>
  async emit(spec: ValidatedSpec, sources: readonly SourceImage[], options: EmitOptions = {}): Promise<EmittedCandidate[] | undefined> {
    const candidates = await Promise.all(sources.map((source, index) => this.candidate(spec, source, index, options.optimizePng ?? true)))
    return candidates.every((c): c is EmittedCandidate => c !== undefined) ? candidates : undefined
  }

  private async candidate(spec: ValidatedSpec, source: SourceImage, index: number, optimizePng: boolean): Promise<EmittedCandidate | undefined> {
    const original: EmittedFile | undefined = source.data
      ? { data: source.data, width: source.width, height: source.height, mime: source.mime, variant: undefined }
      : undefined
    const recipe = recipeFor(spec.emit, source.mime, index === spec.pick)
    if (isPassThrough(recipe, source.mime, optimizePng)) {
      if (original) this.stats.passedThrough++
      return original && { main: original, variants: [], placeholder: undefined }
    }
    const key = derivedKey(source.sha256, recipe)
    let entry: DerivedEntry | undefined
    if (source.data) {
      // The full path: the bytes were read and verified, so the image's token now vouches for them.
      entry = await this.entry(key, { ...source, data: source.data }, recipe, spec.label)
      if (source.token && !sameToken(entry.sourceToken, source.token)) await this.cache.recordSource(key, source.token)
    } else {
      // The warm path: only while the committed image is exactly as it was when last verified.
      entry = await (this.inflight.get(key) ?? this.cached(key, source.sha256, spec.label))
      if (!sameToken(entry?.sourceToken, source.token)) return undefined
    }
    // The source bytes are the emitted image when the optimizer could not do better.
    const main = entry?.main ? { ...entry.main, variant: `${key}-main` } : original
    if (!entry || !main) return undefined
    if (entry.flattened) {
      // On every build, not only the one that made the file: the warning stays until the spec changes.
      this.deps.log.warnOnce(
        `${spec.label}: the image has transparent pixels and emit.format is jpeg, which has no alpha channel: ` +
          `flattened onto ${recipe.background}. Set emit.background to choose the colour, or emit png, webp or avif to keep the transparency`,
      )
    }
    return {
      main,
      variants: entry.variants.map((variant) => ({ ...variant, variant: `${key}-${variant.width}w` })),
      placeholder: entry.placeholder,
    }
  }

  /** The derived files of one key; concurrent imports of the same image and recipe share one job. */
  private entry(key: string, source: SourceImage & { data: Buffer }, recipe: EmitRecipe, label: string): Promise<DerivedEntry> {
    let pending = this.inflight.get(key)
    if (!pending) {
      pending = this.readOrDerive(key, source, recipe, label).finally(() => this.inflight.delete(key))
      this.inflight.set(key, pending)
    }
    return pending
  }

  /**
   * The derived files of `key` when they pass every check: the manifest's (`cache/derived.ts`), and each
   * file's header against its record, so no width, height or format the manifest claims reaches module
   * code unless the file itself says it. Anything refused is made again, with one warning.
   */
  private async cached(key: string, sourceSha256: string, label: string): Promise<DerivedEntry | undefined> {
    const refused = (reason: string) =>
      this.deps.log.warnOnce(`${label}: the derived files ${key.slice(0, 12)} in ${this.cache.dir} are not usable (${reason}); they are made again`)
    const cached = await this.cache.read(key, sourceSha256, refused)
    if (!cached) return undefined
    const files: Array<[string, DerivedFile | undefined]> = [['main', cached.main], ...cached.variants.map((v): [string, DerivedFile] => [`${v.width}w`, v])]
    for (const [role, file] of files) {
      const problem = file && checkImageHeader(file, file.data)
      if (problem) {
        refused(`${key}-${role} ${problem}`)
        return undefined
      }
    }
    this.stats.reused++
    return cached
  }

  private async readOrDerive(key: string, source: SourceImage & { data: Buffer }, recipe: EmitRecipe, label: string): Promise<DerivedEntry> {
    const cached = await this.cached(key, source.sha256, label)
    if (cached) return cached
    // The pipeline (and sharp with it) is loaded on the first derivation: a warm build never loads it.
    const [limit, { deriveImage }] = await Promise.all([sharpLimit(), import('./pipeline.js')])
    const derivation = await limit(() => deriveImage(source.data, recipe, label))
    this.stats.derived++
    try {
      await this.cache.write(key, source.sha256, source.token, derivation)
    } catch (error) {
      // The derived cache only saves time: a read-only node_modules must not fail the build.
      this.deps.log.warnOnce(
        `could not write the derived-image cache in ${this.cache.dir} (${(error as Error).message}); images are re-encoded on every build`,
      )
    }
    return entryOf(derivation, source.token)
  }
}

/** Two tokens of one image say it is unchanged; an unknown token vouches for nothing. */
function sameToken(recorded: FreshnessToken | undefined, current: FreshnessToken | undefined): boolean {
  return recorded !== undefined && recorded === current
}
