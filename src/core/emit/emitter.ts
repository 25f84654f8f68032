/**
 * Resolved image → the files to emit for each candidate: the full-size image in the emitted format, the
 * picked image's resized variants, its placeholder. Derived files come from the derived cache when it
 * has them (a warm build: a few reads and hashes, no sharp); otherwise the sharp pipeline makes them,
 * within the process's bound on parallel image jobs, and they are stored for the next build.
 *
 * A cache hit and a miss give the same result: the same recipe, key and bytes, whether the derived files
 * were just made or read back.
 */
import type { ResolvedImage, ResolvedImageFile } from '../engine/generate.js'
import type { Logger } from '../log.js'
import { DerivedCache, entryOf, type DerivedEntry, type DerivedFile } from './derived-cache.js'
import { sharpLimit } from './limit.js'
import { deriveImage } from './optimize.js'
import { derivedKey, isPassThrough, recipeFor, type EmitRecipe } from './recipe.js'

export interface EmittedFile extends DerivedFile {
  /**
   * Identity of derived bytes (`<derived key>-main`, `<derived key>-640w`); undefined for the cached
   * image's own bytes. Lets a dev server name each file apart from the others of its candidate.
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

export interface EmitterDeps {
  /** `node_modules/.cache/unplugin-ai-image` of the project. */
  cacheDir: string
  log: Logger
}

export class ImageEmitter {
  /** `derived`: sharp runs; `reused`: verified derived-cache hits; `passedThrough`: cached bytes emitted as they are. */
  readonly stats = { derived: 0, reused: 0, passedThrough: 0 }
  readonly cache: DerivedCache
  private readonly inflight = new Map<string, Promise<DerivedEntry>>()

  constructor(private readonly deps: EmitterDeps) {
    this.cache = new DerivedCache(deps.cacheDir)
  }

  emit(image: ResolvedImage): Promise<EmittedCandidate[]> {
    return Promise.all(image.images.map((file, index) => this.candidate(image, file, index)))
  }

  private async candidate(image: ResolvedImage, file: ResolvedImageFile, index: number): Promise<EmittedCandidate> {
    const { spec } = image
    const source: EmittedFile = { data: file.data, width: file.width, height: file.height, mime: file.mime, variant: undefined }
    const recipe = recipeFor(spec.emit, file.mime, index === spec.pick)
    if (isPassThrough(recipe, file.mime)) {
      this.stats.passedThrough++
      return { main: source, variants: [], placeholder: undefined }
    }
    const key = derivedKey(file.sha256, recipe)
    const entry = await this.entry(key, file, recipe, spec.label)
    if (entry.flattened) {
      // On every build, not only the one that made the file: the warning stays until the spec changes.
      this.deps.log.warnOnce(
        `${spec.label}: the image has transparent pixels and emit.format is jpeg, which has no alpha channel: ` +
          `flattened onto ${recipe.background}. Set emit.background to choose the colour, or emit png, webp or avif to keep the transparency`,
      )
    }
    return {
      main: entry.main ? { ...entry.main, variant: `${key}-main` } : source,
      variants: entry.variants.map((variant) => ({ ...variant, variant: `${key}-${variant.width}w` })),
      placeholder: entry.placeholder,
    }
  }

  /** The derived files of one key; concurrent imports of the same image and recipe share one job. */
  private entry(key: string, file: ResolvedImageFile, recipe: EmitRecipe, label: string): Promise<DerivedEntry> {
    let pending = this.inflight.get(key)
    if (!pending) {
      pending = this.readOrDerive(key, file, recipe, label).finally(() => this.inflight.delete(key))
      this.inflight.set(key, pending)
    }
    return pending
  }

  private async readOrDerive(key: string, file: ResolvedImageFile, recipe: EmitRecipe, label: string): Promise<DerivedEntry> {
    const cached = await this.cache.read(key, file.sha256)
    if (cached) {
      this.stats.reused++
      return cached
    }
    const derivation = await sharpLimit()(() => deriveImage(file.data, recipe, label))
    this.stats.derived++
    try {
      await this.cache.write(key, file.sha256, derivation)
    } catch (error) {
      // The derived cache only saves time: a read-only node_modules must not fail the build.
      this.deps.log.warnOnce(
        `could not write the derived-image cache in ${this.cache.dir} (${(error as Error).message}); images are re-encoded on every build`,
      )
    }
    return entryOf(derivation)
  }
}
