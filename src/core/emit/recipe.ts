/**
 * What to make of one cached image: the output format and quality, the resized widths and the
 * placeholder, from the spec's `emit` options. Pure data, no sharp: the warm path computes a recipe and
 * its derived-cache key without loading sharp, let alone decoding a pixel.
 */
import { canonicalJson, sha256 } from '../hash.js'
import { formatOfMime as knownFormatOfMime, type ImageFormat } from '../image-format.js'
import type { PlaceholderKind } from '../../types.js'
import type { NormalizedEmit } from '../spec/validate.js'

/**
 * Bump when the pipeline's output changes for the same input (encoder settings, placeholder size, a sharp
 * upgrade worth re-encoding for, …): every derived file is then rebuilt once. The committed cache is not
 * affected. (sharp's own version is not in the key: reading it would load sharp on the warm path.)
 */
export const PIPELINE_VERSION = 1

export interface EmitRecipe {
  format: ImageFormat
  /** Encoder quality; undefined = the encoder's default (and, for PNG, strictly lossless). */
  quality: number | undefined
  /** Resized variants, sorted; only the picked image gets them. */
  widths: number[]
  placeholder: PlaceholderKind
  /** Colour a transparent image is flattened onto when the format has no alpha (JPEG). */
  background: string
  /**
   * `keep`: every file the pipeline encodes carries the XMP provenance mark, and a PNG with the provider's C2PA
   * manifest is not recompressed; `strip`: neither (`emit.metadata`).
   */
  metadata: 'keep' | 'strip'
}

/** The format of a cached image's MIME type; the sidecar's MIME type was checked when it was read. */
export function formatOfMime(mime: string): ImageFormat {
  const format = knownFormatOfMime(mime)
  if (!format) throw new TypeError(`not an image format the pipeline handles: ${mime}`)
  return format
}

/** The recipe of one candidate. Widths and placeholder belong to the picked image only. */
export function recipeFor(emit: NormalizedEmit, sourceMime: string, picked: boolean): EmitRecipe {
  return {
    format: emit.format ?? formatOfMime(sourceMime),
    quality: emit.quality,
    widths: picked ? [...emit.widths] : [],
    placeholder: picked ? emit.placeholder : 'none',
    background: emit.background,
    metadata: emit.metadata ?? 'keep',
  }
}

/**
 * True when the cached bytes are already the answer: the same format, no quality asked, nothing resized,
 * no placeholder. Re-encoding a JPEG or WebP would only lose quality. A PNG goes through the lossless
 * optimizer (which keeps the original when it cannot do better) unless `optimizePng` is off: the dev
 * server leaves that build-time saving out, since it changes no pixel and no export.
 */
export function isPassThrough(recipe: EmitRecipe, sourceMime: string, optimizePng = true): boolean {
  return (
    !(recipe.format === 'png' && optimizePng) &&
    recipe.format === formatOfMime(sourceMime) &&
    recipe.quality === undefined &&
    recipe.widths.length === 0 &&
    recipe.placeholder === 'none'
  )
}

/**
 * Key of the derived files: the SHA-256 of the canonical JSON of the whole recipe (every field, whatever
 * fields it gains), the source image's SHA-256 and the pipeline version. So a field that changes the output
 * cannot be forgotten: it changes the key as soon as it is in the recipe.
 */
export function derivedKey(sourceSha256: string, recipe: EmitRecipe): string {
  return sha256(canonicalJson({ v: PIPELINE_VERSION, source: sourceSha256, ...canonicalRecipe(recipe) }))
}

/**
 * The recipe as the key sees it: an unset field is `null` (not left out), and `background` is `null` unless
 * the format is JPEG, the only one the flatten step runs for (another format does not depend on the colour).
 * These give the keys the pipeline has always had, so existing derived files stay valid.
 */
export function canonicalRecipe(recipe: EmitRecipe): Record<string, unknown> {
  const fields: Record<string, unknown> = Object.fromEntries(Object.entries(recipe).map(([name, value]) => [name, value ?? null]))
  if (recipe.format !== 'jpeg') fields.background = null
  return fields
}
