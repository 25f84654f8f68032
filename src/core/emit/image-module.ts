/**
 * Resolved image → module code: the emitter makes (or reads back) the files of every candidate, each
 * file goes through the bundler's `AssetSink`, which returns the JS expression of its URL, and the
 * module exports them (DESIGN.md, "Importing an image"). Bundler-agnostic; the same input gives the
 * same exports on a cache hit and on a miss, on the full path and on the warm one (`service/warm.ts`).
 */
import { assetFileName, variantFileName } from './asset-name.js'
import type { ValidatedSpec } from '../spec/validate.js'
import type { EmitOptions, EmittedCandidate, EmittedFile, ImageEmitter, LoadedImage } from './emitter.js'
import { renderModule } from './module-code.js'

export interface EmittedAsset {
  /** Cache key and candidate index of the source image. */
  key: string
  index: number
  /** File name before the bundler's content hash, e.g. `hero.png`, `hero-640w.webp`. */
  name: string
  data: Buffer
  mime: string
  /** Identity of derived bytes (converted, resized); undefined for the cached image's own bytes. */
  variant?: string
}

/** Emits one file; returns a JS expression evaluating to its public URL. */
export type AssetSink = (asset: EmittedAsset) => string

export interface ModuleDeps extends EmitOptions {
  emitter: ImageEmitter
}

/** An image to emit: its key, the spec that imports it, and each candidate's bytes (with its file's stamp, when committed). */
export interface ModuleSource {
  key: string
  spec: ValidatedSpec
  images: readonly LoadedImage[]
}

export async function imageModuleCode(image: ModuleSource, sink: AssetSink, deps: ModuleDeps): Promise<string> {
  return renderImageModule(image.spec, image.key, await deps.emitter.emit(image.spec, image.images, deps), sink)
}

/** Emitted files → module code; shared by the full path above and the warm path (`warm-module.ts`). */
export function renderImageModule(spec: ValidatedSpec, key: string, candidates: readonly EmittedCandidate[], sink: AssetSink): string {
  const count = candidates.length
  const emit = (file: EmittedFile, index: number, name: string) =>
    sink({ key, index, name, data: file.data, mime: file.mime, ...(file.variant ? { variant: file.variant } : {}) })

  const urls = candidates.map((candidate, index) => emit(candidate.main, index, assetFileName(spec, key, index, count, candidate.main.mime)))
  const picked = candidates[spec.pick]!
  const srcset: Array<[string, number]> = picked.variants.map((variant) => [
    emit(variant, spec.pick, variantFileName(spec, key, spec.pick, count, variant.width, variant.mime)),
    variant.width,
  ])
  // A width at or above the image's own is served by the full-size image (never upscaled), listed once.
  if (spec.emit.widths.some((width) => width >= picked.main.width)) srcset.push([urls[spec.pick]!, picked.main.width])

  return renderModule({
    images: candidates.map((candidate, i) => ({ url: urls[i]!, width: candidate.main.width, height: candidate.main.height })),
    pick: spec.pick,
    alt: spec.alt,
    key,
    srcset,
    placeholder: picked.placeholder,
  })
}
